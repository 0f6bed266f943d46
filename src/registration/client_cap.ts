// The cap `registration.max_clients`, exact on one instance or many: before the library stores a
// client, the registration takes a slot in the store for the client id it is about to store
// (Store.reserveClientSlot: atomic across every instance sharing it, counted over the stored
// clients plus the slots taken). Storing that client takes the slot over in the same write, so a
// registration that succeeds costs one store command for the cap and nothing after; one that
// fails gives its slot back. A slot that is never given back (the process died mid-registration,
// or the store was away at that moment) lapses after SLOT_TTL_SECONDS: the cap errs on the side
// of refusing, never of exceeding.
//
// This replaces a per-instance cache of the count, which concurrent registrations overshot
// without bound (issue 10, finding 3).
import type { Logger } from 'pino';

import type { Store } from '../../adapters/contract.ts';

/** Far longer than a registration takes (every store operation has a deadline of about a second). */
export const SLOT_TTL_SECONDS = 60;

export type ClientSlot = {
  /** For a registration that did not store its client; the stored client keeps its slot. */
  release(): Promise<void>;
};
export type ClientCap = {
  /** A slot for the client `clientId`, or undefined when max_clients clients (or slots) exist. */
  reserve(clientId: string): Promise<ClientSlot | undefined>;
};

export function createClientCap(deps: { store: Pick<Store, 'reserveClientSlot' | 'releaseClientSlot'>; maxClients: number; logger: Logger }): ClientCap {
  const { store, maxClients, logger } = deps;
  return {
    async reserve(clientId) {
      const reservation = await store.reserveClientSlot(maxClients, SLOT_TTL_SECONDS, clientId);
      if (reservation === undefined) return undefined;
      return {
        async release() {
          // The caller's answer stands (a client registered is registered): a slot that could
          // not be given back lapses by itself.
          await store.releaseClientSlot(reservation).catch((error: unknown) => {
            logger.warn({ event: 'client_slot_not_released', err: error }, `a client slot could not be given back; it lapses within ${SLOT_TTL_SECONDS} s`);
          });
        },
      };
    },
  };
}
