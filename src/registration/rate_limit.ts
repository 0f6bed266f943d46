// A per-key rate limit counted in the store, so that it holds across every instance sharing it.
//
// Fixed windows of `burst / per_second` seconds allowing `burst` requests each: the rate is
// per_second on average and never more than `burst` at once. The window's index is part of
// the counter's key, so Retry-After is known without asking the store for a TTL.
//
// rate-limiter-flexible was considered: it has a Redis backend but no node:sqlite one, and it
// would bypass the storage contract; one counter in the contract (`Store.increment`) serves
// both backends with one round trip.
import type { Store } from '../../adapters/contract.ts';

export type RateLimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export type RateLimiter = { consume(key: string): Promise<RateLimitDecision> };

export function createRateLimiter(deps: { store: Store; name: string; perSecond: number; burst: number; now?: () => number }): RateLimiter {
  const { store, name, perSecond, burst, now = Date.now } = deps;
  const windowMs = Math.max(1, Math.round((burst / perSecond) * 1000));
  const ttlSeconds = Math.ceil(windowMs / 1000) + 1;
  return {
    async consume(key) {
      const at = now();
      const window = Math.floor(at / windowMs);
      const count = await store.increment(`ratelimit:${name}:${key}:${window}`, ttlSeconds);
      if (count <= burst) return { allowed: true };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(((window + 1) * windowMs - at) / 1000)) };
    },
  };
}
