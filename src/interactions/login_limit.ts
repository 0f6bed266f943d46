// A limit on password guessing at POST /u/<uid>/login, counted in the store (Store.increment)
// so that it holds across every instance sharing it.
//
// Failed attempts count, successful ones do not: many people behind one office NAT, or one
// person signing in on several devices at once, must not lock themselves out by logging in.
// Before the password is checked the counters are read (an increment by 0); over the limit the
// password is not checked at all. A wrong password then adds one. Guesses sent concurrently
// can pass the read together, so the limit can be overshot by as many as are in flight at
// once, each of which still costs a password hash.
//
// Not src/registration/rate_limit.ts's limiter: it counts every request in the same step as it
// decides, so it cannot leave successful logins out. The windows are the same (fixed, their
// index in the key, so Retry-After needs no TTL lookup).
import { createHash } from 'node:crypto';

import type { Store } from '../../adapters/contract.ts';
import { rateLimitKey } from '../registration/rate_limit.ts';

/** The window, and the failed attempts allowed in it per client address and per email. */
export const LOGIN_WINDOW_SECONDS = 5 * 60;
export const LOGIN_FAILURES_PER_IP = 30;
export const LOGIN_FAILURES_PER_EMAIL = 10;

export type LoginAttempt =
  | { allowed: true; /** The password was wrong: count this attempt. */ failed(): Promise<void> }
  | { allowed: false; retryAfterSeconds: number };

export type LoginLimit = { attempt(ip: string, email: string): Promise<LoginAttempt> };

export function createLoginLimit(deps: { store: Store; now?: () => number }): LoginLimit {
  const { store, now = Date.now } = deps;
  const windowMs = LOGIN_WINDOW_SECONDS * 1000;
  const ttlSeconds = LOGIN_WINDOW_SECONDS + 1;
  return {
    async attempt(ip, email) {
      const at = now();
      const window = Math.floor(at / windowMs);
      // The email is hashed so that no address lands in a store key; case and spaces do not
      // make a new counter.
      const counters: [key: string, limit: number][] = [[`login:ip:${rateLimitKey(ip)}:${window}`, LOGIN_FAILURES_PER_IP]];
      const normalized = email.trim().toLowerCase();
      if (normalized) counters.push([`login:email:${createHash('sha256').update(normalized).digest('base64url')}:${window}`, LOGIN_FAILURES_PER_EMAIL]);
      const failures = await Promise.all(counters.map(([key]) => store.increment(key, ttlSeconds, 0)));
      if (failures.some((count, i) => count >= counters[i]![1])) {
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(((window + 1) * windowMs - at) / 1000)) };
      }
      return {
        allowed: true,
        async failed() {
          await Promise.all(counters.map(([key]) => store.increment(key, ttlSeconds)));
        },
      };
    },
  };
}
