// One truth for keys across instances: the key set lives in the store, and every instance reads
// it again every `refresh_ms`, then signs with, publishes and verifies with exactly what it read
// (the provider through src/provider/live_keystore.ts, the project's own verifiers through
// `verificationKeys`). Changes (rotate, revoke) are compare-and-set writes, so two instances
// changing the set at once cannot lose a key. When the store has lost the set (FLUSHALL, a
// restart without persistence), the instance writes back what it holds instead of letting a
// newcomer generate another set; if a newcomer got there first, the keys this instance signed
// with are added to the newcomer's set as previous keys, so that no token it issued breaks.
import { createLocalJWKSet } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

import type { Config } from '../config.ts';
import type { Json, Store } from '../../adapters/contract.ts';
import {
  COOKIE_KEYS_DOCUMENT,
  COOKIE_KEYS_KEPT,
  fileKeyDocument,
  newCookieKey,
  newSigningKey,
  newSigningKeyDocument,
  publicSigningKeys,
  readJwksFile,
  revokeSigningKey,
  rotateSigningKeys,
  SIGNING_KEYS_DOCUMENT,
  upgradeSigningKeyDocument,
} from './keys.ts';
import type { KeySource, RevokeResult, SigningKeyDocument, SigningKeys } from './keys.ts';
import { replaceProviderKeys } from './live_keystore.ts';

export type KeyRing = {
  readonly source: KeySource;
  /** Whether the cookie keys are generated (and rotated with the signing keys) or ops'. */
  readonly cookieSource: 'store' | 'config';
  /** The key set this instance uses now. */
  document(): SigningKeyDocument;
  /** The private keys in signing order, for the provider's construction. */
  signingKeys(): SigningKeys;
  /** The cookie keys: one array, changed in place, shared by the Koa app and the provider. */
  readonly cookieKeys: string[];
  /** jose's key lookup over the published keys as they are now. */
  readonly verificationKeys: JWTVerifyGetKey;
  /** From now on, key changes also go to this provider. */
  attach(provider: Provider): void;
  /** Read the store now: adopt a changed set, write ours back if the store lost it. */
  refresh(): Promise<void>;
  /** Rotate (store keys only): returns the set after rotation. */
  rotate(): Promise<SigningKeyDocument>;
  revoke(kid: string): Promise<RevokeResult>;
  /** Stop the periodic refresh. */
  stop(): void;
  /** How often the set is read again from the store: how stale this instance's keys may be. */
  readonly refreshMs: number;
};

export const DEFAULT_KEY_REFRESH_MS = 2500;
const CAS_ATTEMPTS = 5;

/**
 * Thrown by rotate() when the last rotation is too recent: its new next key may not be in every
 * instance's JWKS yet (they read the set every refresh_ms), and the next rotation would sign with it.
 */
export class RotationTooSoonError extends Error {
  readonly retryAfterSeconds: number;
  constructor(retryAfterMs: number) {
    super(`the last rotation was less than two key refresh periods ago; its next key may not be published by every instance yet: retry in ${Math.ceil(retryAfterMs / 1000)} s`);
    this.name = 'RotationTooSoonError';
    this.retryAfterSeconds = Math.ceil(retryAfterMs / 1000);
  }
}

/** Thrown by rotate() and revoke() when the keys come from ops' JWKS file. */
export class FileKeysError extends Error {
  constructor() {
    super('the signing keys come from the JWKS file set in keys.jwks_file; rotate them by changing that file and restarting the instances');
    this.name = 'FileKeysError';
  }
}

function same(a: Json | undefined, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export async function createKeyRing(deps: { store: Store; config: Config; logger: Logger; refreshMs?: number }): Promise<KeyRing> {
  const { store, config, logger } = deps;
  const refreshMs = deps.refreshMs ?? config.keys.refresh_ms;
  const source: KeySource = config.keys.jwks_file ? 'file' : 'store';
  const cookieSource = config.cookies.keys?.length ? 'config' : 'store';
  const providers: Provider[] = [];

  let current: SigningKeyDocument;
  let lookup: JWTVerifyGetKey;
  const cookieKeys: string[] = [];

  function apply(next: SigningKeyDocument): void {
    current = next;
    lookup = createLocalJWKSet(publicSigningKeys(next));
    for (const provider of providers) replaceProviderKeys(provider, { keys: next.keys });
  }

  function applyCookies(next: string[]): void {
    cookieKeys.splice(0, cookieKeys.length, ...next);
  }

  /** Upgrade an older document in the store (compare-and-set: one instance wins, all adopt it). */
  async function adopt(stored: SigningKeyDocument): Promise<SigningKeyDocument> {
    const upgraded = await upgradeSigningKeyDocument(stored, config.issuer);
    if (!upgraded) return stored;
    if (await store.compareAndSetDocument(SIGNING_KEYS_DOCUMENT, stored as unknown as Json, upgraded as unknown as Json)) return upgraded;
    return (await store.getDocument(SIGNING_KEYS_DOCUMENT)) as SigningKeyDocument;
  }

  async function initialSigningKeys(): Promise<SigningKeyDocument> {
    if (source === 'file') return fileKeyDocument(await readJwksFile(config.keys.jwks_file!), config.issuer);
    const existing = (await store.getDocument(SIGNING_KEYS_DOCUMENT)) as SigningKeyDocument | undefined;
    if (existing) return adopt(existing);
    const made = await newSigningKeyDocument(config.issuer);
    return adopt((await store.putDocumentIfAbsent(SIGNING_KEYS_DOCUMENT, made as unknown as Json)) as unknown as SigningKeyDocument);
  }

  async function initialCookieKeys(): Promise<string[]> {
    if (cookieSource === 'config') return config.cookies.keys!;
    const existing = await store.getDocument(COOKIE_KEYS_DOCUMENT);
    if (existing) return existing as string[];
    return (await store.putDocumentIfAbsent(COOKIE_KEYS_DOCUMENT, [newCookieKey()])) as string[];
  }

  const [signing, cookies] = await Promise.all([initialSigningKeys(), initialCookieKeys()]);
  apply(signing);
  applyCookies(cookies);

  /** Keys this instance signed with that `theirs` lacks (neither published nor revoked there). */
  function missingFrom(theirs: SigningKeyDocument): SigningKeyDocument['keys'] {
    const known = new Set([...theirs.keys.map((k) => k.kid), ...(theirs.revoked ?? []).map((k) => k.kid)]);
    return current.keys.filter((key) => !known.has(key.kid));
  }

  async function refreshSigning(): Promise<void> {
    if (source === 'file') return;
    let stored = (await store.getDocument(SIGNING_KEYS_DOCUMENT)) as SigningKeyDocument | undefined;
    if (stored === undefined) {
      stored = (await store.putDocumentIfAbsent(SIGNING_KEYS_DOCUMENT, current as unknown as Json)) as unknown as SigningKeyDocument;
      if (same(current as unknown as Json, stored)) {
        logger.warn({ audit: 'signing_keys', event: 'store_healed' }, 'the signing keys were missing from the store; wrote back the key set this instance holds');
        return;
      }
    }
    if (same(current as unknown as Json, stored)) return;
    stored = await adopt(stored);
    const missing = missingFrom(stored);
    if (missing.length) {
      // Another instance wrote a different set after a loss: keep ours verifiable as previous keys.
      const at = new Date().toISOString();
      const merged: SigningKeyDocument = {
        keys: [...stored.keys, ...missing],
        life: { ...stored.life, ...Object.fromEntries(missing.map((k) => [k.kid!, { status: 'previous' as const, created_at: current.life?.[k.kid!]?.created_at ?? at, current_until: at }])) },
        revoked: stored.revoked ?? [],
      };
      if (await store.compareAndSetDocument(SIGNING_KEYS_DOCUMENT, stored as unknown as Json, merged as unknown as Json)) {
        logger.warn({ audit: 'signing_keys', event: 'store_merged', kids: missing.map((k) => k.kid) }, 'the store held another key set; kept this instance\'s keys in it as previous keys');
        stored = merged;
      } else {
        return; // changed meanwhile: the next refresh looks again
      }
    }
    apply(stored);
  }

  async function refreshCookies(): Promise<void> {
    if (cookieSource === 'config') return;
    let stored = (await store.getDocument(COOKIE_KEYS_DOCUMENT)) as string[] | undefined;
    if (stored === undefined) stored = (await store.putDocumentIfAbsent(COOKIE_KEYS_DOCUMENT, [...cookieKeys])) as string[];
    if (!same(stored, cookieKeys)) applyCookies(stored);
  }

  async function refresh(): Promise<void> {
    await Promise.all([refreshSigning(), refreshCookies()]);
  }

  let refreshing: Promise<void> | undefined;
  const timer = setInterval(() => {
    refreshing ??= refresh()
      .catch((error: unknown) => logger.warn({ err: error }, 'could not read the keys from the store; keeping the ones held'))
      .finally(() => {
        refreshing = undefined;
      });
  }, refreshMs);
  timer.unref();

  /** Compare-and-set a change of the store's set, retried when another instance changed it first. */
  async function change<T>(name: string, make: (stored: Json) => Promise<{ value: Json; result: T } | { result: T }>): Promise<T> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt += 1) {
      const stored = await store.getDocument(name);
      if (stored === undefined) throw new Error(`the ${name} document is missing from the store`);
      const made = await make(stored);
      if (!('value' in made)) return made.result;
      if (await store.compareAndSetDocument(name, stored, made.value)) return made.result;
    }
    throw new Error(`the ${name} document kept changing; try again`);
  }

  async function rotateCookies(): Promise<void> {
    if (cookieSource === 'config') return;
    const next = await change(COOKIE_KEYS_DOCUMENT, async (stored) => {
      const value = [newCookieKey(), ...(stored as string[])].slice(0, COOKIE_KEYS_KEPT);
      return { value, result: value };
    });
    applyCookies(next);
  }

  return {
    source,
    cookieSource,
    refreshMs,
    document: () => current,
    signingKeys: () => ({ keys: current.keys }),
    cookieKeys,
    verificationKeys: (header, token) => lookup(header, token),
    attach(provider) {
      providers.push(provider);
      replaceProviderKeys(provider, { keys: current.keys });
    },
    refresh,
    async rotate() {
      if (source === 'file') throw new FileKeysError();
      await refreshSigning();
      // Made before the compare-and-set: the time between reading the set and writing it stays
      // short, and the rotation's timestamp is when it is written.
      const next = await newSigningKey(config.issuer);
      const rotated = await change(SIGNING_KEYS_DOCUMENT, async (stored) => {
        const last = Date.parse(String((stored as { rotated_at?: string }).rotated_at ?? ''));
        const wait = last + 2 * refreshMs - Date.now();
        if (wait > 0) throw new RotationTooSoonError(wait);
        const upgraded = (await upgradeSigningKeyDocument(stored as unknown as SigningKeyDocument, config.issuer)) ?? (stored as unknown as SigningKeyDocument);
        const value = rotateSigningKeys(upgraded, next);
        return { value: value as unknown as Json, result: value };
      });
      apply(rotated);
      await rotateCookies();
      return rotated;
    },
    async revoke(kid) {
      if (source === 'file') throw new FileKeysError();
      const result = await change<RevokeResult>(SIGNING_KEYS_DOCUMENT, async (stored) => {
        const outcome = revokeSigningKey(stored as unknown as SigningKeyDocument, kid);
        return 'document' in outcome ? { value: outcome.document as unknown as Json, result: outcome } : { result: outcome };
      });
      if ('document' in result) apply(result.document);
      return result;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
