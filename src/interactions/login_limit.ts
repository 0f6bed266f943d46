// A limit on password guessing at POST /u/<uid>/login, counted in the store (Store.increment)
// so that it holds across every instance sharing it.
//
// Each attempt reserves its place in the counters before the password is checked: one atomic
// increment per counter, whose result says whether this attempt is within the limit. However
// many guesses arrive at once, at most the limit of them reach the password check in a window
// (a read-then-count design let 200 concurrent guesses through together: issue 10, finding 4).
// An attempt over the limit gives its places back at once, so only attempts that were checked
// count, and one email's exhausted limit does not eat the address's.
//
// Failed attempts count, successful ones do not: many people behind one office NAT, or one
// person signing in on several devices at once, must not lock themselves out by logging in. A
// successful login gives its reservation back. While a login is in flight its place is taken,
// so concurrent logins near the limit may be refused (429) rather than risk one guess too many.
//
// Not src/registration/rate_limit.ts's limiter: it counts every request, so it cannot leave
// successful logins out. The windows are the same (fixed, their index in the key, so
// Retry-After needs no TTL lookup).
import { createHash } from 'node:crypto';

import type { Store } from '../../adapters/contract.ts';
import { rateLimitKey } from '../registration/rate_limit.ts';

/** The window, and the failed attempts allowed in it per client address and per email. */
export const LOGIN_WINDOW_SECONDS = 5 * 60;
export const LOGIN_FAILURES_PER_IP = 30;
export const LOGIN_FAILURES_PER_EMAIL = 10;

export type LoginAttempt =
  | { allowed: true; /** The password was right: this attempt does not count. */ succeeded(): Promise<void> }
  | { allowed: false; retryAfterSeconds: number };

export type LoginLimit = {
  /** Reserve one attempt before the password is checked; it counts as failed unless `succeeded()`. */
  attempt(ip: string, email: string): Promise<LoginAttempt>;
};

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
      const giveBack = async () => {
        await Promise.all(counters.map(([key]) => store.increment(key, ttlSeconds, -1)));
      };
      const reserved = await Promise.all(counters.map(([key]) => store.increment(key, ttlSeconds)));
      if (reserved.some((count, i) => count > counters[i]![1])) {
        await giveBack();
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(((window + 1) * windowMs - at) / 1000)) };
      }
      return { allowed: true, succeeded: giveBack };
    },
  };
}
