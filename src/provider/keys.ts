// Signing and cookie keys: what one key set holds, and its lifecycle (Auth0's): a `current` key
// signs, a `next` key is already published so that verifiers hold it before anything is signed
// with it, and `previous` keys (once current) stay published until revoked. Pure functions over
// the stored document, plus the key generation; src/provider/key_ring.ts keeps an instance in
// step with the store.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import forge from 'node-forge';

import { ConfigError } from '../config.ts';

/** The published private keys, in signing order (the library signs with the first that fits). */
export type SigningKeys = { keys: JWK[] };

export type KeyStatus = 'current' | 'next' | 'previous';
export type KeyLife = { status: KeyStatus; created_at: string; current_since?: string; current_until?: string };
export type RevokedKey = { kid: string; x5c: string; current_since?: string; current_until?: string; revoked_at: string };

/**
 * The `signing_keys` document. `keys` stays what it always was (a JWKS of private keys, the
 * signing key first), so that a document written by an older version is read as is.
 */
export type SigningKeyDocument = SigningKeys & { life?: Record<string, KeyLife>; revoked?: RevokedKey[]; rotated_at?: string };

/** Where the keys come from: the store (rotatable) or ops' JWKS file (fixed). */
export type KeySource = 'store' | 'file';

export const SIGNING_KEYS_DOCUMENT = 'signing_keys';
export const COOKIE_KEYS_DOCUMENT = 'cookie_keys';
/** Generated cookie keys kept after a rotation: the newest signs, the others still verify. */
export const COOKIE_KEYS_KEPT = 3;

const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

/** The signing keys without their private members: what /.well-known/jwks.json publishes. */
export function publicSigningKeys(signingKeys: SigningKeys): { keys: JWK[] } {
  return { keys: signingKeys.keys.map((key) => Object.fromEntries(Object.entries(key).filter(([name]) => !PRIVATE_MEMBERS.has(name))) as JWK) };
}

// A self-signed certificate per key, as Auth0 publishes (`cert`, `pkcs7`, `x5c`). Deterministic
// for a given key and date, so that instances deriving one for a file key agree.
function selfSignedX5c(jwk: JWK, subject: string, notBefore: Date): string {
  const privateKey = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString());
  // A positive serial (leading 0 nibble) derived from the kid.
  cert.serialNumber = `0${createHash('sha256').update(String(jwk.kid)).digest('hex').slice(0, 31)}`;
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = new Date(notBefore.getTime() + 20 * 365 * 86_400_000);
  const attrs = [{ name: 'commonName', value: subject }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  // forge builds the certificate; Node signs it (forge's RSA in JavaScript took ~150 ms a key).
  // forge hands the TBSCertificate's DER to `md.update`, then asks the key to sign that md.
  const tbs: string[] = [];
  const md = { algorithm: 'sha256', update: (bytes: string) => (tbs.push(bytes), md) } as unknown as forge.md.MessageDigest;
  const signer = { sign: () => sign('sha256', Buffer.from(tbs.join(''), 'binary'), privateKey).toString('binary') } as unknown as forge.pki.rsa.PrivateKey;
  cert.sign(signer, md);
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary').toString('base64');
}

export function certificatePem(x5c: string): string {
  return `-----BEGIN CERTIFICATE-----\n${x5c.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** Auth0's certificate views of one key: PEM, PKCS#7, SHA-1 fingerprint and thumbprint. */
export function certificateViews(x5c: string): { cert: string; pkcs7: string; fingerprint: string; thumbprint: string } {
  const cert = certificatePem(x5c);
  const p7 = forge.pkcs7.createSignedData();
  p7.addCertificate(forge.pki.certificateFromPem(cert));
  const fingerprint = new X509Certificate(cert).fingerprint;
  return { cert, pkcs7: forge.pkcs7.messageToPem(p7).replace(/\r\n/g, '\n'), fingerprint, thumbprint: fingerprint.replace(/:/g, '') };
}

async function generateSigningKey(subject: string, at: Date): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  const key: JWK = { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' };
  return { ...key, x5c: [selfSignedX5c(key, subject, at)] };
}

function subjectOf(issuer: string): string {
  return new URL(issuer).host;
}

function order(document: SigningKeyDocument): SigningKeyDocument {
  const rank: Record<KeyStatus, number> = { current: 0, next: 1, previous: 2 };
  const life = document.life ?? {};
  const keys = [...document.keys].sort((a, b) => rank[life[a.kid!]?.status ?? 'previous'] - rank[life[b.kid!]?.status ?? 'previous']);
  return { ...document, keys };
}

/** A fresh key set: a current key and the next one. */
export async function newSigningKeyDocument(issuer: string, now = new Date()): Promise<SigningKeyDocument> {
  const at = now.toISOString();
  const [current, next] = await Promise.all([generateSigningKey(subjectOf(issuer), now), generateSigningKey(subjectOf(issuer), now)]);
  return {
    keys: [current, next],
    life: { [current.kid!]: { status: 'current', created_at: at, current_since: at }, [next.kid!]: { status: 'next', created_at: at } },
    revoked: [],
  };
}

/**
 * A document in today's shape, or undefined when it already is. An older version stored only
 * `keys` (one key, signing): it becomes the current key, and a next key is made.
 */
export async function upgradeSigningKeyDocument(document: SigningKeyDocument, issuer: string, now = new Date()): Promise<SigningKeyDocument | undefined> {
  const life = document.life ?? {};
  const statuses = document.keys.map((key) => life[key.kid!]?.status);
  if (statuses.filter((s) => s === 'current').length === 1 && statuses.filter((s) => s === 'next').length === 1 && !statuses.includes(undefined)) return undefined;
  const at = now.toISOString();
  const subject = subjectOf(issuer);
  const keys = await Promise.all(document.keys.map(async (key) => (key.x5c?.length ? key : { ...key, x5c: [selfSignedX5c(key, subject, now)] })));
  const upgraded: Record<string, KeyLife> = {};
  keys.forEach((key, i) => {
    upgraded[key.kid!] = life[key.kid!] ?? (i === 0 ? { status: 'current', created_at: at, current_since: at } : { status: 'previous', created_at: at });
  });
  if (!Object.values(upgraded).some((l) => l.status === 'next')) {
    const next = await generateSigningKey(subject, now);
    keys.push(next);
    upgraded[next.kid!] = { status: 'next', created_at: at };
  }
  return order({ ...document, keys, life: upgraded, revoked: document.revoked ?? [] });
}

/** A key to become the next one at a rotation (made beforehand: generating it takes a while). */
export function newSigningKey(issuer: string, now = new Date()): Promise<JWK> {
  return generateSigningKey(subjectOf(issuer), now);
}

/** Next becomes current, current becomes previous (still published), `next` is the new next. */
export function rotateSigningKeys(document: SigningKeyDocument, next: JWK, now = new Date()): SigningKeyDocument {
  const at = now.toISOString();
  const life: Record<string, KeyLife> = structuredClone(document.life ?? {});
  for (const [kid, entry] of Object.entries(life)) {
    if (entry.status === 'current') life[kid] = { ...entry, status: 'previous', current_until: at };
    else if (entry.status === 'next') life[kid] = { ...entry, status: 'current', current_since: at };
  }
  life[next.kid!] = { status: 'next', created_at: at };
  return { ...order({ keys: [...document.keys, next], life, revoked: document.revoked ?? [] }), rotated_at: at };
}

export type RevokeResult = { document: SigningKeyDocument } | { refusal: 'not_found' | 'not_previous' | 'already_revoked' };

/** Take a previous key out of the published set; current and next keys cannot be revoked. */
export function revokeSigningKey(document: SigningKeyDocument, kid: string, now = new Date()): RevokeResult {
  const key = document.keys.find((k) => k.kid === kid);
  if (!key) return { refusal: document.revoked?.some((k) => k.kid === kid) ? 'already_revoked' : 'not_found' };
  const entry = document.life?.[kid];
  if (entry?.status !== 'previous') return { refusal: 'not_previous' };
  const life = { ...document.life };
  delete life[kid];
  const revoked: RevokedKey = { kid, x5c: key.x5c![0]!, current_since: entry.current_since, current_until: entry.current_until, revoked_at: now.toISOString() };
  return { document: { ...document, keys: document.keys.filter((k) => k.kid !== kid), life, revoked: [...(document.revoked ?? []), revoked] } };
}

/** Keys from ops' JWKS file: the first signs; the others are published as previous keys. */
export function fileKeyDocument(keys: JWK[], issuer: string): SigningKeyDocument {
  // A fixed date: every instance derives the same certificate for the same key.
  const epoch = new Date('2020-01-01T00:00:00Z');
  const withX5c = keys.map((key) => (key.x5c?.length ? key : { ...key, x5c: [selfSignedX5c(key, subjectOf(issuer), epoch)] }));
  const life: Record<string, KeyLife> = {};
  withX5c.forEach((key, i) => {
    life[key.kid!] = { status: i === 0 ? 'current' : 'previous', created_at: epoch.toISOString() };
  });
  return { keys: withX5c, life, revoked: [] };
}

export async function readJwksFile(path: string): Promise<JWK[]> {
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
  return Promise.all(
    (keys as JWK[]).map(async (key) => ({ ...key, kid: key.kid ?? (await calculateJwkThumbprint(key)), alg: key.alg ?? 'RS256', use: key.use ?? 'sig' })),
  );
}

export function newCookieKey(): string {
  return randomBytes(32).toString('base64url');
}
