// How many clients are registered, for the cap `registration.max_clients`, read through a short
// cache. Counting costs a Redis command, or a scan of every client row in SQLite, and it ran on
// every registration (npm run bench: a fifth of the Redis commands of a registration, and the
// SQLite scan grew with every client). The cap bounds abuse; it is not an exact quota: each
// instance counts at most once per COUNT_CACHE_MS and adds the registrations it accepts in
// between, so instances together may overshoot by what the others accept within that window.
import type { Store } from '../../adapters/contract.ts';

export const COUNT_CACHE_MS = 1000;

export type ClientCount = {
  /** The number of registered clients, at most `cacheMs` old plus this instance's own since. */
  current(): Promise<number>;
  /** This instance registered one more client. */
  added(): void;
};

export function createClientCount(deps: { store: Pick<Store, 'countClients'>; cacheMs?: number; now?: () => number }): ClientCount {
  const { store, cacheMs = COUNT_CACHE_MS, now = Date.now } = deps;
  let cached: { count: number; at: number } | undefined;
  let inflight: Promise<number> | undefined;
  return {
    current() {
      if (cached && now() - cached.at < cacheMs) return Promise.resolve(cached.count);
      // One count at a time per instance, however many registrations wait for it.
      inflight ??= store.countClients().then(
        (count) => {
          cached = { count, at: now() };
          inflight = undefined;
          return count;
        },
        (error: unknown) => {
          inflight = undefined;
          throw error;
        },
      );
      return inflight;
    },
    added() {
      if (cached) cached.count += 1;
    },
  };
}
