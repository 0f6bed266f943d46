// Signing and cookie keys. Generated once and kept in the store, so that every instance and
// every restart signs with the same keys; or loaded from the configuration.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';

import { ConfigError } from '../config.ts';
import type { Config } from '../config.ts';
import type { Json, Store } from '../../adapters/contract.ts';

export type SigningKeys = { keys: JWK[] };

const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

/** The signing keys without their private members: what /.well-known/jwks.json publishes. */
export function publicSigningKeys(signingKeys: SigningKeys): { keys: JWK[] } {
  return { keys: signingKeys.keys.map((key) => Object.fromEntries(Object.entries(key).filter(([name]) => !PRIVATE_MEMBERS.has(name))) as JWK) };
}

async function generateSigningKeys(): Promise<SigningKeys> {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  return { keys: [{ ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' }] };
}

async function readJwksFile(path: string): Promise<SigningKeys> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new ConfigError([`keys.jwks_file: cannot read a JSON Web Key Set from ${path}: ${(error as Error).message}`]);
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError(['keys.jwks_file: must hold {"keys": [...]} with at least one key']);
  const problems: string[] = [];
  keys.forEach((key: JWK, i) => {
    if (key?.kty !== 'RSA' || typeof key.d !== 'string') problems.push(`keys.jwks_file: keys[${i}] must be a private RSA key (RS256)`);
  });
  if (problems.length) throw new ConfigError(problems);
  return { keys: keys as JWK[] };
}

/** The private signing keys: from the JWKS file when configured, else the store's (made once). */
export async function loadSigningKeys(store: Store, config: Config): Promise<SigningKeys> {
  if (config.keys.jwks_file) return readJwksFile(config.keys.jwks_file);
  const existing = await store.getDocument('signing_keys');
  if (existing) return existing as SigningKeys;
  return (await store.putDocumentIfAbsent('signing_keys', (await generateSigningKeys()) as Json)) as SigningKeys;
}

/** Cookie signing keys: from the configuration when set, else the store's (made once). */
export async function loadCookieKeys(store: Store, config: Config): Promise<string[]> {
  if (config.cookies.keys?.length) return config.cookies.keys;
  const existing = await store.getDocument('cookie_keys');
  if (existing) return existing as string[];
  return (await store.putDocumentIfAbsent('cookie_keys', [randomBytes(32).toString('base64url')])) as string[];
}
