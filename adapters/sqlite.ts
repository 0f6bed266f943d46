// The embedded backend: one SQLite file through node:sqlite, the zero-setup default.
//
// Durability: synchronous=FULL (set explicitly): a commit returns once the WAL is fsynced, and a
// write is acknowledged only after its commit, so `kill -9` (or a power cut) loses nothing that
// was answered. To keep that affordable, writes are group-committed (sqlite_group_commit.ts):
// every write issued in one turn of the event loop joins one BEGIN IMMEDIATE … COMMIT on
// setImmediate, one fsync for all of them; a read commits the queue first when a queued write
// touches what it reads, so reads see every write issued before them. The one exception is
// VOLATILE_SQL below (rate-limit counters, registration slots): a group of its own commits them
// without fsync, since losing them in a crash breaks no promise.
//
// Several stores (processes, or instances in one process) may open the same file: WAL lets
// readers run beside the single writer, and busy_timeout makes a writer wait its turn instead
// of failing. No transaction stays open between turns, so nothing waits on a lock whose owner
// cannot run. Statements that must be atomic together are one statement (triggers run inside
// it) or one write run inside the commit.
//
// The wait is short (BUSY_TIMEOUT_MS): DatabaseSync waits synchronously, so the whole process
// (every other request) stalls while one writer waits for the lock. Past it, as for a locked
// table or an I/O error, the store rejects with StoreUnavailableError (503, retry later), the
// same as the Redis backend during an outage; other SQLite errors stay bugs (500). A commit that
// fails rejects every write it carried.

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { CLIENT_BOUND_MODELS, GRANTABLE_MODELS, StoreUnavailableError } from './contract.ts';
import type { AdapterPayload, Json, ModelAdapter, Store } from './contract.ts';
import { createGroupCommit } from './sqlite_group_commit.ts';
import type { Footprint } from './sqlite_group_commit.ts';

export type SqliteStoreOptions = {
  /** Path of the database file, or ':memory:'. The parent directory is created if missing. */
  file: string;
  /** How often expired rows are deleted. Reads ignore them anyway, so this only bounds growth. */
  sweepIntervalMs?: number;
  /** Epoch milliseconds; injectable so tests can move time. */
  now?: () => number;
  /** Called after each commit with the number of writes it carried and whether it succeeded (tests, metrics). */
  onCommit?: (writes: number, ok: boolean) => void;
  /** Called after each chunk of the expiry sweep with the rows it deleted and its milliseconds (bench). */
  onSweep?: (deleted: number, ms: number) => void;
};

// The footprints of the project's own data in the group commit (models are oidc-provider's names).
const DOCUMENTS = '#documents';
const COUNTERS = '#counters';
const CLIENT_SLOTS = '#client_slots';
const GRANTABLE: Footprint[] = [...GRANTABLE_MODELS].map((model) => ({ model }));
const CLIENT_BOUND: Footprint[] = [...CLIENT_BOUND_MODELS].map((model) => ({ model }));

/** Rows the sweep deletes per transaction: a bounded stall of the event loop, however many expired at once. */
const SWEEP_CHUNK = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS models (
  model      TEXT NOT NULL,
  id         TEXT NOT NULL,
  payload    TEXT NOT NULL,
  grant_id   TEXT,
  uid        TEXT,
  user_code  TEXT,
  expires_at INTEGER,
  PRIMARY KEY (model, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS models_grant_id ON models (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS models_uid ON models (model, uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS models_user_code ON models (model, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS models_expires_at ON models (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS documents (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
  key        TEXT PRIMARY KEY,
  value      INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counters_expires_at ON counters (expires_at);
`;

// The client cap (Store.reserveClientSlot): the slots taken by registrations in flight, and the
// number of Client rows, kept by triggers in the same transaction as every insert and delete, so
// that a reservation does not count every client (a scan that grew with each registration). The
// counter starts from the real count in the transaction that creates its triggers: a file
// written before it existed (or by another process at the same moment) is counted exactly, and
// the counter can never be lost apart from the rows it counts. Expired clients stay counted
// until the sweep deletes them, so a reservation subtracts them, found through an index that
// holds only clients with an expiry (no other model pays for it).
const CLIENT_SLOTS_SCHEMA = `
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS client_slots (
  id         TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS client_count (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n  INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS client_added AFTER INSERT ON models WHEN NEW.model = 'Client'
BEGIN UPDATE client_count SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS client_removed AFTER DELETE ON models WHEN OLD.model = 'Client'
BEGIN UPDATE client_count SET n = n - 1 WHERE id = 1; END;
INSERT OR IGNORE INTO client_count (id, n) SELECT 1, count(*) FROM models WHERE model = 'Client';
CREATE INDEX IF NOT EXISTS models_client_expiry ON models (expires_at) WHERE model = 'Client' AND expires_at IS NOT NULL;
COMMIT;
`;
// client_id came with the Management API (revokeByClientId). A file made before gets the column,
// and its rows of client-bound models get the value from their payload, once.
function migrate(db: DatabaseSync): void {
  const columns = db.prepare('PRAGMA table_info(models)').all().map((row) => String(row.name));
  if (!columns.includes('client_id')) {
    db.exec('ALTER TABLE models ADD COLUMN client_id TEXT');
    const models = [...CLIENT_BOUND_MODELS].map((m) => `'${m}'`).join(',');
    db.exec(`UPDATE models SET client_id = json_extract(payload, '$.clientId') WHERE model IN (${models})`);
  }
  db.exec('CREATE INDEX IF NOT EXISTS models_client_id ON models (client_id) WHERE client_id IS NOT NULL');
}

/** How long a write waits for another connection's lock before giving up (blocking the loop). */
const BUSY_TIMEOUT_MS = 1000;

// Primary result codes (the low byte of an extended code) that mean "not now" rather than
// "wrong": SQLITE_BUSY (another connection holds the lock), SQLITE_LOCKED, SQLITE_IOERR.
const TRANSIENT_CODES: ReadonlySet<number> = new Set([5, 6, 10]);

function asStoreError(error: unknown, what: string): unknown {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  if (!(error instanceof Error) || typeof errcode !== 'number' || !TRANSIENT_CODES.has(errcode & 0xff)) return error;
  return new StoreUnavailableError(`sqlite ${what}: ${error.message}`, { cause: error });
}

/** The same methods, each rejecting with StoreUnavailableError for transient SQLite errors. */
function guardAll<T extends object>(label: string, methods: T): T {
  const guarded: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(methods)) {
    guarded[name] = typeof method !== 'function' ? method : async (...args: unknown[]) => {
      try {
        return await (method as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (error) {
        throw asStoreError(error, `${label}${name}`);
      }
    };
  }
  return guarded as T;
}

// Expiry is a predicate on every read rather than trusting the sweep, so an entity is gone
// the moment it expires, whatever the sweep interval.
const LIVE = '(expires_at IS NULL OR expires_at > $now)';

/**
 * Lookups by a secondary key, each named to its index: without statistics (no ANALYZE) SQLite
 * prefers the primary key's `model = ?` prefix, which reads every session of the file for one
 * uid (bench --preload=1000000: 1 s of CPU per /userinfo, which looks the session up by uid).
 * Exported for the test that checks the plans.
 */
export const LOOKUP_SQL = {
  findByUid: `SELECT payload FROM models INDEXED BY models_uid WHERE model = $model AND uid = $uid AND ${LIVE} LIMIT 1`,
  findByUserCode: `SELECT payload FROM models INDEXED BY models_user_code WHERE model = $model AND user_code = $userCode AND ${LIVE} LIMIT 1`,
} as const;

// Counters (rate limits) and client slots: state whose loss in a crash costs nothing that was
// promised to anyone (a rate-limit window restarts; a slot belonged to a registration that died
// with the process, and never answered). They go through a group commit of their own that
// commits without fsync (synchronous=NORMAL for its transactions: in WAL mode a commit is ordered
// in the log and made durable by the next fsync of any commit), so their callers wait for a turn
// of the event loop, not for an fsync. Each in its own transaction instead (autocommit) wrote the
// same pages to the WAL once per statement: more CPU per registration than before (npm run bench). A registration waits for one fsync (its
// client's) rather than three (npm run bench: issue 15, item 3). Everything an answer relies on
// (clients, grants, tokens, sessions, documents) still commits with synchronous=FULL first.
const VOLATILE_SQL = {
  // SQLite evaluates every SET expression against the old row, so both CASEs see the same
  // window: an expired window restarts at `by` with a fresh expiry.
  increment: `
    INSERT INTO counters (key, value, expires_at) VALUES ($key, $by, $expiresAt)
    ON CONFLICT (key) DO UPDATE SET
      value = CASE WHEN counters.expires_at <= $now THEN excluded.value
                   ELSE counters.value + excluded.value END,
      expires_at = CASE WHEN counters.expires_at <= $now THEN excluded.expires_at
                        ELSE counters.expires_at END
    RETURNING value`,
  // One statement, so one write transaction: in WAL mode a writer always starts from the newest
  // snapshot, so two stores sharing the file (or two processes) cannot both count the same free
  // slot. A registration's client still waiting in the group commit keeps its reservation until
  // the transaction that stores it (which takes the slot over), so it is counted either way.
  reserveClientSlot: `
    INSERT INTO client_slots (id, expires_at)
    SELECT $id, $expiresAt
    WHERE (SELECT n FROM client_count WHERE id = 1)
        - (SELECT count(*) FROM models INDEXED BY models_client_expiry WHERE model = 'Client' AND expires_at IS NOT NULL AND expires_at <= $now)
        + (SELECT count(*) FROM client_slots WHERE expires_at > $now) < $max`,
  releaseClientSlot: 'DELETE FROM client_slots WHERE id = $id',
} as const;


export function createSqliteStore(options: SqliteStoreOptions): Store {
  const now = options.now ?? Date.now;
  if (options.file !== ':memory:') {
    mkdirSync(dirname(options.file), { recursive: true });
  }
  const db = new DatabaseSync(options.file, { timeout: BUSY_TIMEOUT_MS });
  db.exec('PRAGMA journal_mode = WAL');
  // The default in most builds, stated so that no build's default can weaken it: every COMMIT
  // fsyncs the WAL before it returns (each group commit states its level before its BEGIN).
  db.exec('PRAGMA synchronous = FULL');
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.exec(SCHEMA);
  // Once all of it is there, opening takes no write lock (another process may be holding it).
  const slotObjects = db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name IN ('client_slots', 'client_count', 'client_added', 'client_removed', 'models_client_expiry')`).get();
  if (Number(slotObjects?.n) !== 5) db.exec(CLIENT_SLOTS_SCHEMA);
  migrate(db);

  const statements = {
    upsert: db.prepare(`
      INSERT INTO models (model, id, payload, grant_id, uid, user_code, expires_at, client_id)
      VALUES ($model, $id, $payload, $grantId, $uid, $userCode, $expiresAt, $clientId)
      ON CONFLICT (model, id) DO UPDATE SET
        payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
        user_code = excluded.user_code, expires_at = excluded.expires_at, client_id = excluded.client_id`),
    find: db.prepare(`SELECT payload FROM models WHERE model = $model AND id = $id AND ${LIVE}`),
    findByUid: db.prepare(LOOKUP_SQL.findByUid),
    findByUserCode: db.prepare(LOOKUP_SQL.findByUserCode),
    consume: db.prepare(`
      UPDATE models SET payload = json_set(payload, '$.consumed', $consumed)
      WHERE model = $model AND id = $id AND ${LIVE}`),
    destroy: db.prepare('DELETE FROM models WHERE model = $model AND id = $id'),
    // grant_id is only filled for grantable models, so this cannot touch anything else.
    revokeByGrantId: db.prepare('DELETE FROM models WHERE grant_id = $grantId'),
    // The triggers' count less the expired clients not swept yet (through their own index), so
    // that counting does not read every client.
    countClients: db.prepare(`SELECT (SELECT n FROM client_count WHERE id = 1)
      - (SELECT count(*) FROM models INDEXED BY models_client_expiry WHERE model = 'Client' AND expires_at IS NOT NULL AND expires_at <= $now) AS n`),
    listClients: db.prepare(`SELECT payload FROM models WHERE model = 'Client' AND ${LIVE} ORDER BY id LIMIT $limit OFFSET $offset`),
    // client_id is only filled for client-bound models, so this cannot touch anything else.
    revokeByClientId: db.prepare('DELETE FROM models WHERE client_id = $clientId'),
    compareAndSetDocument: db.prepare('UPDATE documents SET value = $value WHERE name = $name AND value = $expected'),
    getDocument: db.prepare('SELECT value FROM documents WHERE name = $name'),
    putDocument: db.prepare(`
      INSERT INTO documents (name, value) VALUES ($name, $value)
      ON CONFLICT (name) DO UPDATE SET value = excluded.value`),
    insertDocumentIfAbsent: db.prepare(
      'INSERT OR IGNORE INTO documents (name, value) VALUES ($name, $value)',
    ),
    ping: db.prepare('SELECT 1'),
    // In chunks through the expiry index: each run touches only expired rows, and one chunk
    // per transaction bounds how long the process stalls when very many expire together.
    sweepModels: db.prepare(`DELETE FROM models WHERE (model, id) IN (
      SELECT model, id FROM models INDEXED BY models_expires_at WHERE expires_at <= $now LIMIT ${SWEEP_CHUNK})`),
    sweepCounters: db.prepare(`DELETE FROM counters WHERE key IN (
      SELECT key FROM counters INDEXED BY counters_expires_at WHERE expires_at <= $now LIMIT ${SWEEP_CHUNK})`),
    sweepClientSlots: db.prepare('DELETE FROM client_slots WHERE expires_at <= $now'),
  };

  const commits = createGroupCommit(db, { onCommit: options.onCommit });
  const volatile = {
    increment: db.prepare(VOLATILE_SQL.increment),
    reserveClientSlot: db.prepare(VOLATILE_SQL.reserveClientSlot),
    releaseClientSlot: db.prepare(VOLATILE_SQL.releaseClientSlot),
  };
  const volatileCommits = createGroupCommit(db, { withoutFsync: true });
  let closed = false;
  let sweeping = false;

  /** One sweep run: chunk after chunk (one commit each) until nothing expired is left. */
  async function sweep(): Promise<void> {
    if (sweeping) return;
    sweeping = true;
    try {
      const at = now();
      for (;;) {
        if (closed) return;
        const started = performance.now();
        const [models, counters] = await commits.write('all', () => [
          Number(statements.sweepModels.run({ now: at }).changes),
          Number(statements.sweepCounters.run({ now: at }).changes),
          statements.sweepClientSlots.run({ now: at }),
        ]);
        options.onSweep?.(models + counters, performance.now() - started);
        if (models < SWEEP_CHUNK && counters < SWEEP_CHUNK) return;
      }
    } finally {
      sweeping = false;
    }
  }

  const sweepTimer = setInterval(() => {
    // A busy or closing database is retried on the next run; reads never depend on it.
    sweep().catch(() => {});
  }, options.sweepIntervalMs ?? 60_000);
  sweepTimer.unref();

  function payloadOf(row: Record<string, unknown> | undefined): AdapterPayload | undefined {
    return row === undefined ? undefined : (JSON.parse(String(row.payload)) as AdapterPayload);
  }

  function adapterFor(model: string): ModelAdapter {
    const grantable = GRANTABLE_MODELS.has(model);
    const anyOfModel: Footprint = { model };
    const clientBound = CLIENT_BOUND_MODELS.has(model);
    return guardAll<ModelAdapter>(`${model}.`, {
      async upsert(id, payload, expiresIn) {
        const row = {
          model,
          id,
          payload: JSON.stringify(payload),
          grantId: grantable ? (payload.grantId ?? null) : null,
          uid: payload.uid ?? null,
          userCode: payload.userCode ?? null,
          expiresAt: expiresIn === undefined ? null : now() + expiresIn * 1000,
          clientId: clientBound && typeof payload.clientId === 'string' ? payload.clientId : null,
        };
        if (model !== 'Client') {
          await write([{ model, id }], () => statements.upsert.run(row));
          return;
        }
        // A client takes over the slot reserved for it (reserveClientSlot with its id), in the
        // same transaction: the count never sees both, nor neither.
        await write([{ model, id }, { model: CLIENT_SLOTS, id }], () => {
          statements.upsert.run(row);
          // The same statement as a release, run in the transaction that stores the client.
          volatile.releaseClientSlot.run({ id });
        });
      },
      async find(id) {
        return read({ model, id }, () => payloadOf(statements.find.get({ model, id, now: now() })));
      },
      async findByUid(uid) {
        return read(anyOfModel, () => payloadOf(statements.findByUid.get({ model, uid, now: now() })));
      },
      async findByUserCode(userCode) {
        return read(anyOfModel, () => payloadOf(statements.findByUserCode.get({ model, userCode, now: now() })));
      },
      async consume(id) {
        const at = now();
        await write([{ model, id }], () => statements.consume.run({ model, id, now: at, consumed: Math.floor(at / 1000) }));
      },
      async destroy(id) {
        await write([{ model, id }], () => statements.destroy.run({ model, id }));
      },
      async revokeByGrantId(grantId) {
        await write(GRANTABLE, () => statements.revokeByGrantId.run({ grantId }));
      },
    });
  }

  function write<T>(touches: Footprint[], run: () => T): Promise<T> {
    if (closed) return Promise.reject(new Error('sqlite store is closed'));
    return commits.write(touches, run);
  }
  /** A write of VOLATILE_SQL: committed with the others of its turn, without fsync. */
  function writeVolatile<T>(touches: Footprint[], run: (on: typeof volatile) => T): Promise<T> {
    if (closed) return Promise.reject(new Error('sqlite store is closed'));
    return volatileCommits.write(touches, () => run(volatile));
  }
  function read<T>(reads: Footprint, run: () => T): T {
    return commits.read(reads, run);
  }

  const guarded = guardAll<Omit<Store, 'kind' | 'adapterFor' | 'close'>>('', {
    async countClients() {
      const row = read({ model: 'Client' }, () => statements.countClients.get({ now: now() }));
      return Number(row?.n ?? 0);
    },
    async reserveClientSlot(max, ttlSeconds, clientId) {
      const at = now();
      const id = clientId ?? randomUUID();
      // One write transaction of its own, so it counts from the newest snapshot (VOLATILE_SQL).
      const { changes } = await writeVolatile([{ model: CLIENT_SLOTS, id }], (on) => on.reserveClientSlot.run({ id, max, now: at, expiresAt: at + ttlSeconds * 1000 }));
      return Number(changes) === 1 ? id : undefined;
    },
    async releaseClientSlot(reservation) {
      await writeVolatile([{ model: CLIENT_SLOTS, id: reservation }], (on) => on.releaseClientSlot.run({ id: reservation }));
    },
    async listClients({ offset, limit }) {
      const at = now();
      return read({ model: 'Client' }, () => {
        const rows = statements.listClients.all({ now: at, offset, limit: Math.min(limit, 1000) });
        const total = Number(statements.countClients.get({ now: at })?.n ?? 0);
        return { clients: rows.map((row) => JSON.parse(String(row.payload)) as AdapterPayload), total };
      });
    },
    async revokeByClientId(clientId) {
      await write(CLIENT_BOUND, () => statements.revokeByClientId.run({ clientId }));
    },
    async compareAndSetDocument(name, expected, value) {
      const [was, next] = [JSON.stringify(expected), JSON.stringify(value)];
      const result = await write([{ model: DOCUMENTS, id: name }], () => statements.compareAndSetDocument.run({ name, expected: was, value: next }));
      return Number(result.changes) === 1;
    },
    async getDocument(name) {
      const row = read({ model: DOCUMENTS, id: name }, () => statements.getDocument.get({ name }));
      return row === undefined ? undefined : (JSON.parse(String(row.value)) as Json);
    },
    async putDocument(name, value) {
      const json = JSON.stringify(value);
      await write([{ model: DOCUMENTS, id: name }], () => statements.putDocument.run({ name, value: json }));
    },
    async putDocumentIfAbsent(name, value) {
      const json = JSON.stringify(value);
      const row = await write([{ model: DOCUMENTS, id: name }], () => {
        statements.insertDocumentIfAbsent.run({ name, value: json });
        return statements.getDocument.get({ name });
      });
      return JSON.parse(String(row?.value)) as Json;
    },
    async increment(key, ttlSeconds, by = 1) {
      const at = now();
      const row = await writeVolatile([{ model: COUNTERS, id: key }], (on) => on.increment.get({ key, by, now: at, expiresAt: at + ttlSeconds * 1000 }));
      return Number(row?.value);
    },
    async ping() {
      statements.ping.get();
    },
  });

  return {
    kind: 'sqlite',
    adapterFor,
    ...guarded,
    async close() {
      if (closed) return;
      clearInterval(sweepTimer);
      // What is queued is committed (or rejected) before the connection goes.
      volatileCommits.flush();
      commits.flush();
      closed = true;
      db.close();
    },
  };
}
