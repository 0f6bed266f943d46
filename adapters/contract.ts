// The storage contract: every piece of state the issuer keeps goes through it.
//
// Two backends implement it: `adapters/sqlite.ts` (node:sqlite, the zero-setup default, one
// process) and `adapters/redis.ts` (ioredis, shared by many processes). One contract suite
// (`test/storage_contract.test.ts`) runs the same cases against both.
//
// The first half is oidc-provider's adapter interface (see the library's memory adapter): one
// `ModelAdapter` per model name (Session, AccessToken, Client, Grant, Interaction, ...). The
// second half is the project's own data: small JSON documents (tenant settings, signing keys,
// cookie keys) and counters (rate limits).

/** What oidc-provider stores for one entity. Opaque to the store, but for the index fields. */
export type AdapterPayload = {
  /** Set by `consume`: epoch seconds. */
  consumed?: number;
  /** Indexed for `revokeByGrantId` on grantable models. */
  grantId?: string;
  /** Indexed for `revokeByClientId` on CLIENT_BOUND_MODELS. */
  clientId?: string;
  /** Sessions are also found by uid. */
  uid?: string;
  /** Device flow codes are also found by user code. */
  userCode?: string;
  [key: string]: unknown;
};

/** oidc-provider's adapter interface for one model. */
export interface ModelAdapter {
  /**
   * Insert or replace. `expiresIn` (seconds) sets an expiry after which `find*` no longer
   * returns the entity; without it the entity does not expire (clients, for instance).
   */
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<AdapterPayload | undefined>;
  /** Sessions only: find by `payload.uid`. */
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  /** Device codes only: find by `payload.userCode`. */
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  /** Atomically mark as consumed (`payload.consumed = now`), keeping the expiry. */
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  /** Remove every entity of every grantable model that carries this grantId. */
  revokeByGrantId(grantId: string): Promise<void>;
}

/** Models whose entities carry a grantId and fall with `revokeByGrantId`. */
export const GRANTABLE_MODELS: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/** Models whose entities carry the `clientId` they were issued to and fall with `revokeByClientId`. */
export const CLIENT_BOUND_MODELS: ReadonlySet<string> = new Set([...GRANTABLE_MODELS, 'Grant', 'ClientCredentials']);

/**
 * The backend cannot answer now (unreachable, timed out, failing over, or could not make a
 * write durable). Every Store rejects with this for such failures, so that callers can answer
 * "retry later" (503) instead of "bug" (500); other errors stay what they are.
 *
 * Shaped as oidc-provider shapes its own errors (`message` is the OAuth error code, `expose`
 * lets its error handler show it, `statusCode` is the HTTP status), so a store outage inside
 * the library reaches the caller as 503 `temporarily_unavailable` through the library's own
 * error path; the project's routes recognise the class (src/store_unavailable.ts).
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly error = 'temporarily_unavailable';
  readonly error_description = 'The service is temporarily unavailable; retry in a moment.';
  readonly status = 503;
  readonly statusCode = 503;
  readonly expose = true;
  /** What went wrong underneath, for logs (never sent to callers). */
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super('temporarily_unavailable', options);
    this.reason = reason;
  }
}

export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}

/** A JSON value as stored in the project's own documents. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Store {
  /** Which backend this is, for logs and /readyz. */
  readonly kind: 'sqlite' | 'redis';

  /** The adapter for one oidc-provider model. Cheap; may be called per request. */
  adapterFor(model: string): ModelAdapter;

  /** How many clients are stored (reservations of client slots are not clients). */
  countClients(): Promise<number>;
  /**
   * Take one of `max` client slots for a registration about to store its client (the cap
   * `registration.max_clients`). Atomic across every instance sharing the backend: it succeeds
   * only while stored clients plus live reservations are fewer than `max`, so concurrent
   * registrations can never store more than `max` clients. Returns the reservation's id, or
   * undefined when every slot is taken. The reservation lapses by itself `ttlSeconds` after it
   * was taken, so a process that dies mid-registration holds a slot only that long.
   *
   * Slots are counted over the stored clients themselves (Redis: the clients' own index; SQLite:
   * a count kept by triggers in the transaction of each Client row, started from the rows that
   * exist), so the count cannot drift from the clients or be lost apart from them, and clients
   * stored before the cap existed count. Deleting a client (the Client adapter's `destroy`)
   * frees its slot by itself.
   *
   * With `clientId`, the reservation is for that client: storing the Client `clientId` (the
   * Client adapter's `upsert`) takes it over in the same write, so a registration that stores
   * its client needs no release (one store operation fewer per registration). Without it, the
   * reservation gets an id of its own.
   */
  reserveClientSlot(max: number, ttlSeconds: number, clientId?: string): Promise<string | undefined>;
  /**
   * Give a reservation back: the registration failed, or its client is stored now and counts
   * by itself. Unknown and lapsed ids are ignored, and so is a reservation a stored client took
   * over: releasing never uncounts a stored client.
   */
  releaseClientSlot(reservation: string): Promise<void>;
  /**
   * One page of the stored clients (those that have not expired), ordered by client id, and how
   * many there are in all. For the Management API's list; `limit` is at most 1000.
   */
  listClients(page: { offset: number; limit: number }): Promise<{ clients: AdapterPayload[]; total: number }>;
  /**
   * Withdraw everything a client holds: remove every entity of CLIENT_BOUND_MODELS whose
   * `payload.clientId` is this client (its grants, codes, access and refresh tokens, client
   * credentials tokens). A token written for the client while this runs must not survive it.
   */
  revokeByClientId(clientId: string): Promise<void>;

  /** A project document (tenant settings, keys), or undefined. */
  getDocument(name: string): Promise<Json | undefined>;
  /** Write a project document, replacing it. Documents never expire. */
  putDocument(name: string, value: Json): Promise<void>;
  /**
   * Write only if absent; return what is stored afterwards (the given value, or the one that
   * won a race with another instance). Used to generate signing keys exactly once.
   */
  putDocumentIfAbsent(name: string, value: Json): Promise<Json>;
  /**
   * Replace a document only if it still holds `expected` (compared as JSON text); true when
   * replaced. How instances change a shared document (the key set) without losing a write.
   */
  compareAndSetDocument(name: string, expected: Json, value: Json): Promise<boolean>;

  /**
   * Add `by` to a counter that expires `ttlSeconds` after it was created (a fixed window),
   * and return the new value. Atomic across instances sharing the backend. `by` may be
   * negative (giving back a reservation) or 0 (reading).
   */
  increment(key: string, ttlSeconds: number, by?: number): Promise<number>;

  /** Resolves when the backend answers; rejects otherwise. */
  ping(): Promise<void>;
  /** Release connections and timers. The store is unusable afterwards. */
  close(): Promise<void>;
}
