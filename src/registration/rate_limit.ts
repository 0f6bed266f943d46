// A per-key rate limit counted in the store, so that it holds across every instance sharing it.
//
// Fixed windows of `burst / per_second` seconds allowing `burst` requests each: the rate is
// per_second on average and never more than `burst` at once. The window's index is part of
// the counter's key, so Retry-After is known without asking the store for a TTL.
//
// rate-limiter-flexible was considered: it has a Redis backend but no node:sqlite one, and it
// would bypass the storage contract; one counter in the contract (`Store.increment`) serves
// both backends with one round trip.
import { isIPv4, isIPv6 } from 'node:net';

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

/** Eight 16-bit groups of an IPv6 address (no zone), or undefined if it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address;
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[2]!.split('.').map(Number) as [number, number, number, number];
    text = `${v4[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const groups = halves.length === 2 ? [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The rate limit's key for a client address. One IPv6 host usually holds a whole /64 (and can
 * pick any address in it), so IPv6 counts by its /64 prefix; IPv4, and IPv4 mapped into IPv6,
 * count by the whole address.
 */
export function rateLimitKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  const address = ip.replace(/%.*$/, '');
  if (!isIPv6(address)) return ip;
  const groups = ipv6Groups(address);
  if (!groups) return ip;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}
