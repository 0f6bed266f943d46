// Dashboard sessions, kept in the store so that every instance knows them: 12 hours at most,
// 30 minutes without a request ends one. The cookie holds a random id; the store keys the
// session by its SHA-256, so a copy of the store holds no usable cookie. Sign-ins under way
// (state, PKCE verifier, nonce) are kept the same way for 10 minutes and taken once.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import type { AdapterPayload, Store } from '../../adapters/contract.ts';

export const SESSION_ABSOLUTE_MS = 12 * 3600_000;
export const SESSION_IDLE_MS = 30 * 60_000;
const PENDING_SIGN_IN_SECONDS = 600;
/** A session's last-seen time is written at most this often (idle precision). */
const TOUCH_EVERY_MS = 60_000;

export type DashboardSession = {
  accountId: string;
  email: string;
  /** The per-session token every form carries. */
  csrf: string;
  createdAt: number;
  seenAt: number;
};

export type PendingSignIn = { verifier: string; nonce: string; returnTo: string };

export type DashboardSessions = {
  start(account: { sub: string; email: string }): Promise<{ id: string; session: DashboardSession }>;
  /** The live session behind a cookie value, touched; undefined when unknown, idle or too old. */
  load(id: string | undefined): Promise<DashboardSession | undefined>;
  destroy(id: string | undefined): Promise<void>;
  beginSignIn(returnTo: string): Promise<{ state: string; verifier: string; nonce: string }>;
  /** The sign-in started with this state, once; a second call finds nothing. */
  takeSignIn(state: string): Promise<PendingSignIn | undefined>;
};

function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

function storageKey(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** Constant-time comparison of two tokens (the CSRF field, the state cookie). */
export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function createDashboardSessions(deps: { store: Store; now?: () => number; absoluteMs?: number; idleMs?: number }): DashboardSessions {
  const { store, now = Date.now, absoluteMs = SESSION_ABSOLUTE_MS, idleMs = SESSION_IDLE_MS } = deps;
  const sessions = store.adapterFor('DashboardSession');
  const pending = store.adapterFor('DashboardSignIn');

  function ttlSeconds(session: DashboardSession): number {
    const left = Math.min(session.createdAt + absoluteMs, session.seenAt + idleMs) - now();
    return Math.max(1, Math.ceil(left / 1000));
  }

  async function save(key: string, session: DashboardSession): Promise<void> {
    await sessions.upsert(key, session as unknown as AdapterPayload, ttlSeconds(session));
  }

  return {
    async start(account) {
      const id = randomToken();
      const at = now();
      const session: DashboardSession = { accountId: account.sub, email: account.email, csrf: randomToken(), createdAt: at, seenAt: at };
      await save(storageKey(id), session);
      return { id, session };
    },
    async load(id) {
      if (!id || id.length > 100) return undefined;
      const key = storageKey(id);
      const session = (await sessions.find(key)) as unknown as DashboardSession | undefined;
      if (!session) return undefined;
      const at = now();
      if (at - session.createdAt >= absoluteMs || at - session.seenAt >= idleMs) {
        await sessions.destroy(key);
        return undefined;
      }
      if (at - session.seenAt >= TOUCH_EVERY_MS) {
        session.seenAt = at;
        await save(key, session);
      }
      return session;
    },
    async destroy(id) {
      if (id && id.length <= 100) await sessions.destroy(storageKey(id));
    },
    async beginSignIn(returnTo) {
      const state = randomToken();
      const signIn: PendingSignIn = { verifier: randomToken(), nonce: randomToken(), returnTo };
      await pending.upsert(storageKey(state), signIn as unknown as AdapterPayload, PENDING_SIGN_IN_SECONDS);
      return { state, verifier: signIn.verifier, nonce: signIn.nonce };
    },
    async takeSignIn(state) {
      if (!state || state.length > 100) return undefined;
      const key = storageKey(state);
      const signIn = (await pending.find(key)) as unknown as PendingSignIn | undefined;
      if (signIn) await pending.destroy(key);
      return signIn;
    },
  };
}
