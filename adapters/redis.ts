// The shared backend: Redis through an injected ioredis client (one server, Sentinel or Cluster).
//
// Cluster-safe by construction: on a Cluster every command and every script touches exactly one
// key, so no command ever spans hash slots. Commands that belong to one operation are issued
// together without awaiting each other, which costs one round trip; ioredis' explicit
// pipeline() is not used because on a Cluster it rejects keys that live on different nodes,
// while separately issued commands are routed one by one (and batched per node with
// `enableAutoPipelining`). On one server or Sentinel, where slots do not matter, an entity and
// its index entries (below) are written by one script instead: one command, where a Cluster
// needs one per key (npm run bench: a silent authorize costs 4 commands instead of 7).
//
// Key layout (P = prefix, default 'issuer:'):
//   P<Model>:<id>            hash {payload: JSON, consumed?: epoch seconds}, PX from expiresIn
//   PsessionUid:<uid>        string -> Session id, same TTL as the session
//   PuserCode:<code>         string -> DeviceCode id, same TTL as the code
//   Pgrant:<grantId>         sorted set of '<Model>:<id>' scored by the member's expiry (ms, +inf =
//                            never); dead members trimmed on every add; the key lives as long as
//                            its longest-lived member (see INDEX_ADD; plain sets before, upgraded there)
//   PclientMembers:<clientId> the same as Pgrant, for what one client was issued (CLIENT_BOUND_MODELS)
//   Pclients                 sorted set of client ids scored by expiry (ms, +inf = never), and
//                            the client slots reserved by registrations in flight, as members
//                            'slot:<uuid>' (or the id of the client being registered, whose
//                            upsert takes the reservation over) scored by minus their lapse time
//                            (ms; see RESERVE_SLOT)
//   Pdoc:<name>              string, JSON document, no TTL
//   Pcounter:<key>           string counter, PX set once when the window opens
// Pointers (uid, user code, grant members) may outlive what they point to after a destroy;
// every lookup through them re-checks the target, and they expire with it.
//
// Failing fast: every operation has a deadline (`timeoutMs`), and every failure that means
// "Redis cannot answer now" (timeouts, lost connections, a cluster or master failing over,
// LOADING, OOM...) rejects with StoreUnavailableError; the callers answer 503.
//
// Durable writes: Redis replicates asynchronously, so a write the master acknowledged can be
// lost in a failover. With `waitForReplicas`, the writes a caller is told succeeded and that
// cannot be redone (registered clients, project documents: tenant settings, keys) go through a
// second connection and are followed by WAIT: unless enough replicas have them within the
// timeout, the operation fails (503) instead of acknowledging a write that may vanish. A
// second connection, because WAIT blocks the connection it runs on, and everything else
// (sessions, codes, counters: lost ones cost a new login at worst) must not queue behind it.

import { createHash, randomUUID } from 'node:crypto';

import type { Cluster, Redis } from 'ioredis';

import { CLIENT_BOUND_MODELS, GRANTABLE_MODELS, StoreUnavailableError } from './contract.ts';
import { closeRedisClient } from './redis_client.ts';
import type { AdapterPayload, Json, ModelAdapter, Store } from './contract.ts';

export type RedisStoreOptions = {
  /**
   * A connected (or connecting) client. The store owns it from now on: `close()` quits it,
   * so do not share it with anything that outlives the store.
   */
  client: Redis | Cluster;
  /** Namespaces every key, so several issuers (or test files) can share one Redis. */
  prefix?: string;
  /** Deadline of one store operation, in ms (default 1000): past it, StoreUnavailableError. */
  timeoutMs?: number;
  /**
   * Wait for this many replicas to hold client registrations and documents before answering
   * (Redis WAIT). One server or Sentinel only: on a Cluster, WAIT would reach a random node.
   */
  waitForReplicas?: { replicas: number; timeoutMs: number };
};

export const DEFAULT_OPERATION_TIMEOUT_MS = 1000;

// Client states (ioredis Redis and Cluster alike) in which no command can be sent now.
const DISCONNECTED: ReadonlySet<string> = new Set(['close', 'reconnecting', 'end']);

// Replies that mean "not now" rather than "wrong": loading after a restart, a demoted master,
// a cluster or a master failing over, min-replicas-to-write not met, a busy script, maxmemory,
// a failed background save that stops writes (MISCONF, stop-writes-on-bgsave-error).
const TRANSIENT_REPLY = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|BUSY|OOM|MISCONF)\b/;

/**
 * The same error without what ioredis hangs on it: `command.args` (and `previousErrors` of a
 * transaction) carry the payload being written, client secrets and tokens, which a logger
 * serialises with the error. Only the message (Redis's own reply text), the stack, the code
 * and the command's name are kept. A fresh Error, so that no property, enumerable or not, survives.
 */
function withoutPayload(error: Error): Error {
  const { command, code } = error as { command?: { name?: unknown }; code?: unknown };
  const clean = new Error(error.message);
  clean.name = error.name;
  clean.stack = error.stack;
  if (typeof code === 'string') Object.assign(clean, { code });
  if (command && typeof command.name === 'string') Object.assign(clean, { command: command.name });
  return clean;
}

/** StoreUnavailableError for failures of the connection or of availability; others unchanged. */
function asStoreError(error: unknown, what: string): unknown {
  if (error instanceof StoreUnavailableError || !(error instanceof Error)) return error;
  // Bugs and corrupt data stay loud (500), they are not outages.
  if (error instanceof SyntaxError || error instanceof TypeError || error instanceof RangeError) return error;
  const clean = withoutPayload(error);
  if (error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message)) return clean;
  return new StoreUnavailableError(`redis ${what}: ${error.message}`, { cause: clean });
}

type Script = { lua: string; sha: string };

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

// A hash rather than a JSON string so that consume can add one field atomically, keeping the
// TTL, without a Lua JSON round trip (cjson turns [] into {} and rounds long numbers).
// DEL first: a replaced entity must lose an earlier `consumed` and an earlier TTL.
const UPSERT = script(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'payload', ARGV[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`);

// Slack added to an index member's expiry before it counts as dead: on a Cluster the member's
// key lives on another node, whose clock may run a little ahead of the index's. Trimming a
// member early would let revocation miss a live token; trimming it late costs nothing.
export const INDEX_SLACK_MS = 1000;

// The grant and client indexes (Pgrant:<grantId>, PclientMembers:<clientId>) are sorted sets
// scored by each member's expiry (ms on the index's own server clock, plus INDEX_SLACK_MS; +inf
// for a member that never expires). Every add first trims the members that are dead by now, so
// an index holds only what is live (plus what was added since the last add), however long the
// grant or client lives and however many tokens it was issued: a client that never expires and
// a grant with refresh tokens for weeks no longer collect one dead member per token.
// The key lives as long as its longest-lived member: its expiry moves later when a member
// outlives it, and it persists once a member never expires. It never moves back (when that
// member is replaced with a shorter life, or destroyed): that would read the top score on every
// add (measured: ~2 µs of Redis CPU per index and token, on top of ~4), and an index that
// outlives its members costs one key, trimmed on its next add and bounded by what was live.
//
// Upgrade: before this layout the indexes were plain sets (their TTL stretched to the longest
// member). One still in that shape is converted in place by its next add, keeping every member:
// with the prefix (one server or Sentinel, where the member keys are reachable) each member gets
// its own key's expiry and the dead are dropped; without it (Cluster: members hash to other
// slots) each gets the set's own expiry, or +inf if the set had none, and they fall with it.
// index_add(key, member, px, prefix): px is the member's TTL in ms, '' for none. The clock is
// read once per script: a script that writes two indexes scores both alike.
const INDEX_ADD = `
local index_now
local function index_add(key, member, px, prefix)
  if not index_now then
    local clock = redis.call('TIME')
    index_now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  end
  local now, slack = index_now, ${INDEX_SLACK_MS}
  -- Strictly below now: a key expires only once the clock has passed its expiry.
  local dead = '(' .. string.format('%d', now)
  -- pcall rather than a TYPE on every add: only an index in the old layout fails here.
  local trimmed = redis.pcall('ZREMRANGEBYSCORE', key, '-inf', dead)
  if type(trimmed) == 'table' and trimmed.err then
    -- Anything but an old set (a wrong type) fails loudly, with Redis's own error.
    if redis.call('TYPE', key).ok ~= 'set' then redis.call('ZREMRANGEBYSCORE', key, '-inf', dead) end
    local ttl = redis.call('PTTL', key)
    local old = redis.call('SMEMBERS', key)
    redis.call('DEL', key)
    local batch = {}
    for _, name in ipairs(old) do
      local score = ttl >= 0 and string.format('%d', now + ttl + slack) or '+inf'
      if prefix ~= '' then
        local left = redis.call('PTTL', prefix .. name)
        if left == -2 then score = nil
        elseif left == -1 then score = '+inf'
        else score = string.format('%d', now + left + slack) end
      end
      if score then
        batch[#batch + 1] = score
        batch[#batch + 1] = name
      end
      if #batch >= 1000 then
        redis.call('ZADD', key, unpack(batch))
        batch = {}
      end
    end
    if #batch > 0 then redis.call('ZADD', key, unpack(batch)) end
    -- The set's lifetime covered its longest member: the converted index keeps it.
    if ttl >= 0 then redis.call('PEXPIRE', key, ttl) end
  end
  -- -2: a new index (or one trimmed empty, which Redis deletes); -1: it holds a member that
  -- never expires; otherwise the expiry of its longest-lived member, which only a longer one moves.
  local at = redis.call('PEXPIRETIME', key)
  if px == '' then
    redis.call('ZADD', key, '+inf', member)
    if at ~= -1 then redis.call('PERSIST', key) end
  else
    local score = now + tonumber(px) + slack
    redis.call('ZADD', key, string.format('%d', score), member)
    if at == -2 or (at >= 0 and at < score) then redis.call('PEXPIREAT', key, string.format('%d', score)) end
  end
end`;

// UPSERT plus the entity's index entries, for one server or Sentinel (never a Cluster: the keys
// hash to different slots). KEYS[2..n] are the entries, ARGV[i*2] says what KEYS[i] is and
// ARGV[i*2+1] what to put there: 'pointer' (a string holding the id, the entity's TTL),
// 'grant' (INDEX_ADD above, the member's name) or 'clients' (ZADD with that score, member the id
// in ARGV[3]). The last ARGV is the prefix, for INDEX_ADD's upgrade of an old set.
const UPSERT_INDEXED = script(`
${INDEX_ADD}
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'payload', ARGV[1])
local px = ARGV[2]
if px ~= '' then redis.call('PEXPIRE', KEYS[1], px) end
for i = 2, #KEYS do
  local kind, value = ARGV[i * 2], ARGV[i * 2 + 1]
  if kind == 'pointer' then
    if px == '' then redis.call('SET', KEYS[i], value) else redis.call('SET', KEYS[i], value, 'PX', px) end
  elseif kind == 'grant' then
    index_add(KEYS[i], value, px, ARGV[#KEYS * 2 + 2])
  elseif kind == 'clients' then
    redis.call('ZADD', KEYS[i], value, ARGV[3])
  end
end
return 1`);

// HSET on a missing key would create it without TTL, so consume must check first.
const CONSUME = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'consumed', ARGV[1])
return 1`);

// On a Cluster, the entity and its index are written by separate commands: INDEX_ADD alone.
// ARGV: the member, its TTL in ms ('' = never). No prefix: the member's key is on another slot.
const GRANT_ADD = script(`
${INDEX_ADD}
index_add(KEYS[1], ARGV[1], ARGV[2], '')
return 1`);

// A fixed window: the expiry is set only when the key is created, and the key's expiry
// restarts the window. One script so that a crash cannot leave a counter without TTL.
const INCREMENT = script(`
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
return value`);

// Revocation in one step on one server or Sentinel: a token written into the grant while its
// members were being deleted would otherwise escape. (KEYS[1] is the index; ARGV[1] the prefix.)
// Every member is read, live or not (the dead ones are few: each add trims them); an index
// still in the old layout (a set) is read as one.
const REVOKE_GRANT = script(`
local members
if redis.call('TYPE', KEYS[1]).ok == 'set' then
  members = redis.call('SMEMBERS', KEYS[1])
else
  members = redis.call('ZRANGE', KEYS[1], 0, -1)
end
for _, member in ipairs(members) do redis.call('DEL', ARGV[1] .. member) end
redis.call('DEL', KEYS[1])
return #members`);

// Replace a document only if it still holds the expected text.
const COMPARE_AND_SET = script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`);

// Client slots (Store.reserveClientSlot) live in the clients' own sorted set, so that the check
// "clients + reservations < max" and the reservation are one script on one key: atomic on one
// server, and on a Cluster too (one key, one slot). A reservation's score is minus the time it
// lapses, so with now = ARGV[1] every score falls in one of three ranges:
//   ( -inf, -now )  live reservations       [ -now, now ]  lapsed ones and expired clients
//   ( now, +inf ]   live clients
// and one ZREMRANGEBYSCORE trims everything dead. No separate counter exists that could drift
// from the clients, be lost apart from them, or need initialising from the clients already there.
const TRIM_DEAD = `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-' .. ARGV[1], ARGV[1])`;

// The registered clients that have not expired, trimming the dead on the way.
const COUNT_LIVE = script(`
${TRIM_DEAD}
return redis.call('ZCOUNT', KEYS[1], '(0', '+inf')`);

// ARGV: now, max, the reservation's member, its lapse time (ms).
const RESERVE_SLOT = script(`
${TRIM_DEAD}
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], '-' .. ARGV[4], ARGV[3])
return 1`);

// A reservation is given back only while it is one (a negative score): once its client is stored
// (ZADD of the same member with the client's expiry, in UPSERT_INDEXED), it counts as that client.
const RELEASE_SLOT = script(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) < 0 then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0`);

// oidc-provider reads the client on every request. Clients change through the Management API
// (a new callback URL must be honoured at once on every instance), so nothing is cached across
// requests; only the reads of one client that are in flight together share one HMGET.
type Stored = [payload: string | null | undefined, consumed: string | null | undefined];

function ttlMs(expiresIn: number | undefined): string {
  return expiresIn === undefined ? '' : String(Math.max(1, Math.ceil(expiresIn * 1000)));
}

export function createRedisStore(options: RedisStoreOptions): Store {
  const { client, waitForReplicas } = options;
  const prefix = options.prefix ?? 'issuer:';
  const clientsKey = `${prefix}clients`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;

  if (waitForReplicas && client.isCluster) {
    throw new Error('waitForReplicas is not supported on a Redis Cluster: WAIT must reach the node that took the write');
  }
  // The connection durable writes take, then WAIT on (see the header).
  const durable = waitForReplicas && !client.isCluster ? (client as Redis).duplicate() : undefined;
  const writer: Redis | Cluster = durable ?? client;
  // Its connection errors reach the writes that fail on it; without a listener ioredis would
  // also print each one to stderr as an unhandled error event.
  durable?.on('error', () => undefined);

  async function replicated(): Promise<void> {
    if (!durable || !waitForReplicas) return;
    const acknowledged = await durable.wait(waitForReplicas.replicas, waitForReplicas.timeoutMs);
    if (acknowledged < waitForReplicas.replicas) {
      throw new StoreUnavailableError(`redis WAIT: ${acknowledged} of ${waitForReplicas.replicas} replicas acknowledged within ${waitForReplicas.timeoutMs} ms`);
    }
  }

  // After an operation timed out, the next ones fail at once for one deadline's length
  // instead of each waiting out its own: a request that reads twice (oidc-provider's error
  // handler looks the client up again) still answers within one deadline, and a frozen Redis
  // does not hold every request for a second. Fast failures (refused connections) need no such
  // help, and a success closes the window early.
  let failFastUntil = 0;

  // While (re)connecting, operations wait within their deadline rather than in ioredis' offline
  // queue (which a Cluster client does not have): one listener for them all. They go on at
  // `ready` and fail at the next connection error. A reconnect after a failed attempt (refused,
  // unreachable) fails at once; one after a planned disconnect (Sentinel's failover detector
  // drops the connection on each sentinel's +switch-master, up to one per sentinel) is waited
  // for, so a failover that is already over does not answer 503 three more times.
  let lastAttemptFailed = false;
  let connected: Promise<boolean> | undefined;
  let settleConnected: ((ok: boolean) => void) | undefined;
  const settle = (ok: boolean) => {
    lastAttemptFailed = !ok;
    const resolve = settleConnected;
    connected = settleConnected = undefined;
    resolve?.(ok);
  };
  client.on('ready', () => settle(true));
  client.on('error', () => settle(false));
  function untilConnected(): Promise<boolean> | undefined {
    if (client.status === 'ready' || client.status === 'wait') return undefined;
    connected ??= new Promise((resolve) => {
      settleConnected = resolve;
    });
    return connected;
  }

  /** Run one operation within the deadline, mapping outages to StoreUnavailableError. */
  async function guarded<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (Date.now() < failFastUntil) {
      throw new StoreUnavailableError(`redis ${what}: not tried, Redis timed out less than ${timeoutMs} ms ago`);
    }
    // Closed, or known to be down (between reconnect attempts that fail): waiting would not help.
    if (client.status === 'end' || (lastAttemptFailed && DISCONNECTED.has(client.status))) {
      throw new StoreUnavailableError(`redis ${what}: not connected (${client.status})`);
    }
    const connecting = untilConnected();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new StoreUnavailableError(`redis ${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      // An operation that gave up waiting for the connection must not run once it is back:
      // its caller was already told 503.
      const attempt = connecting
        ? connecting.then((ok) => {
            if (timedOut) return deadline;
            if (!ok) throw new StoreUnavailableError(`redis ${what}: the connection attempt failed`);
            return call();
          })
        : call();
      const result = await Promise.race([attempt, deadline]);
      failFastUntil = 0;
      return result;
    } catch (error) {
      if (timedOut || (error instanceof Error && /timed? ?out/i.test(error.message))) failFastUntil = Date.now() + timeoutMs;
      throw asStoreError(error, what);
    } finally {
      clearTimeout(timer);
    }
  }

  function guardAll<T extends object>(label: string, methods: T): T {
    const out: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(methods) as [string, (...args: unknown[]) => Promise<unknown>][]) {
      out[name] = (...args: unknown[]) => guarded(`${label}${name}`, () => method(...args));
    }
    return out as T;
  }

  async function run(s: Script, key: string, args: string[], conn: Redis | Cluster = client): Promise<unknown> {
    try {
      return await conn.evalsha(s.sha, 1, key, ...args);
    } catch (error) {
      // Each node (and each restarted server) has its own script cache.
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return conn.eval(s.lua, 1, key, ...args);
      }
      throw error;
    }
  }

  async function runKeys(s: Script, keys: string[], args: string[], conn: Redis | Cluster): Promise<unknown> {
    try {
      return await conn.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return conn.eval(s.lua, keys.length, ...keys, ...args);
      throw error;
    }
  }

  /** Delete every member of a grant or client index, then the index (see INDEX_ADD). */
  async function revokeIndex(key: string): Promise<void> {
    if (!client.isCluster) {
      await run(REVOKE_GRANT, key, [prefix]);
      return;
    }
    // On a Cluster members hash to different slots: one DEL each, after reading the index.
    let members: string[];
    try {
      members = await client.zrange(key, '0', '-1');
    } catch (error) {
      // An index still in the layout before sorted sets (see INDEX_ADD's upgrade).
      if (!(error instanceof Error && error.message.startsWith('WRONGTYPE'))) throw error;
      members = await client.smembers(key);
    }
    await Promise.all([...members.map((member) => client.del(`${prefix}${member}`)), client.del(key)]);
  }

  async function findAt(key: string): Promise<AdapterPayload | undefined> {
    return parseStored((await client.hmget(key, 'payload', 'consumed')) as Stored);
  }

  function parseStored([payload, consumed]: Stored): AdapterPayload | undefined {
    if (payload === null || payload === undefined) return undefined;
    const parsed = JSON.parse(payload) as AdapterPayload;
    if (consumed !== null && consumed !== undefined) parsed.consumed = Number(consumed);
    return parsed;
  }

  const adapters = new Map<string, ModelAdapter>();
  function adapterFor(model: string): ModelAdapter {
    let adapter = adapters.get(model);
    if (!adapter) {
      adapter = createAdapter(model);
      adapters.set(model, adapter);
    }
    return adapter;
  }

  function createAdapter(model: string): ModelAdapter {
    const grantable = GRANTABLE_MODELS.has(model);
    const keyOf = (id: string) => `${prefix}${model}:${id}`;

    async function findVia(pointer: string, field: 'uid' | 'userCode', value: string) {
      const id = await client.get(pointer);
      if (id === null) return undefined;
      const payload = await findAt(keyOf(id));
      // The pointer may be stale (entity destroyed or replaced with another value).
      return payload?.[field] === value ? payload : undefined;
    }

    // Registered clients cannot be redone by a new login: they take the durable path.
    const conn = model === 'Client' ? writer : client;
    const clientBound = CLIENT_BOUND_MODELS.has(model);
    const reading = new Map<string, Promise<Stored>>();

    return guardAll(`${model}.`, {
      async upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
        const px = ttlMs(expiresIn);
        const owner = clientBound && typeof payload.clientId === 'string' ? payload.clientId : undefined;
        if (!client.isCluster) {
          const indexes: [key: string, kind: 'pointer' | 'grant' | 'clients', value: string][] = [];
          if (model === 'Session' && payload.uid) indexes.push([`${prefix}sessionUid:${payload.uid}`, 'pointer', id]);
          if (payload.userCode) indexes.push([`${prefix}userCode:${payload.userCode}`, 'pointer', id]);
          if (grantable && payload.grantId) indexes.push([`${prefix}grant:${payload.grantId}`, 'grant', `${model}:${id}`]);
          if (owner) indexes.push([`${prefix}clientMembers:${owner}`, 'grant', `${model}:${id}`]);
          if (model === 'Client') indexes.push([clientsKey, 'clients', px === '' ? '+inf' : String(Date.now() + Number(px))]);
          const keys = [keyOf(id), ...indexes.map(([key]) => key)];
          await runKeys(UPSERT_INDEXED, keys, [JSON.stringify(payload), px, id, ...indexes.flatMap(([, kind, value]) => [kind, value]), prefix], conn);
          if (model === 'Client') await replicated();
          return;
        }
        const writes: Promise<unknown>[] = [run(UPSERT, keyOf(id), [JSON.stringify(payload), px], conn)];
        const pointer = (key: string) =>
          px === '' ? client.set(key, id) : client.set(key, id, 'PX', px);
        if (model === 'Session' && payload.uid) {
          writes.push(pointer(`${prefix}sessionUid:${payload.uid}`));
        }
        if (payload.userCode) writes.push(pointer(`${prefix}userCode:${payload.userCode}`));
        if (grantable && payload.grantId) {
          writes.push(run(GRANT_ADD, `${prefix}grant:${payload.grantId}`, [`${model}:${id}`, px]));
        }
        if (owner) writes.push(run(GRANT_ADD, `${prefix}clientMembers:${owner}`, [`${model}:${id}`, px]));
        if (model === 'Client') {
          const score = px === '' ? '+inf' : String(Date.now() + Number(px));
          writes.push(conn.zadd(clientsKey, score, id));
        }
        await Promise.all(writes);
        if (model === 'Client') await replicated();
      },
      async find(id: string) {
        if (model !== 'Client') return findAt(keyOf(id));
        // One read per client at a time: the requests that miss together share it.
        let read = reading.get(id);
        if (!read) {
          read = (client.hmget(keyOf(id), 'payload', 'consumed') as Promise<Stored>).finally(() => reading.delete(id));
          reading.set(id, read);
        }
        return parseStored(await read);
      },
      findByUid(uid: string) {
        return findVia(`${prefix}sessionUid:${uid}`, 'uid', uid);
      },
      findByUserCode(userCode: string) {
        return findVia(`${prefix}userCode:${userCode}`, 'userCode', userCode);
      },
      async consume(id: string) {
        await run(CONSUME, keyOf(id), [String(Math.floor(Date.now() / 1000))]);
      },
      async destroy(id: string) {
        const deletes: Promise<unknown>[] = [client.del(keyOf(id))];
        if (model === 'Client') deletes.push(client.zrem(clientsKey, id));
        await Promise.all(deletes);
      },
      async revokeByGrantId(grantId: string) {
        await revokeIndex(`${prefix}grant:${grantId}`);
      },
    });
  }

  let closed = false;

  const operations = guardAll('', {
    async countClients() {
      // Trimming expired clients rides along in the same command; it only bounds growth.
      return Number(await run(COUNT_LIVE, clientsKey, [String(Date.now())]));
    },
    async listClients({ offset, limit }: { offset: number; limit: number }) {
      // Registered clients number in the thousands at most (registration.max_clients): their
      // ids are read whole, ordered here, and only the page's payloads are fetched.
      const ids = (await client.zrangebyscore(clientsKey, `(${Date.now()}`, '+inf')).sort();
      const page = ids.slice(offset, offset + Math.min(limit, 1000));
      const stored = await Promise.all(page.map((id) => findAt(`${prefix}Client:${id}`)));
      return { clients: stored.filter((payload): payload is AdapterPayload => payload !== undefined), total: ids.length };
    },
    async revokeByClientId(clientId: string) {
      await revokeIndex(`${prefix}clientMembers:${clientId}`);
    },
    async compareAndSetDocument(name: string, expected: Json, value: Json) {
      const replaced = await run(COMPARE_AND_SET, `${prefix}doc:${name}`, [JSON.stringify(expected), JSON.stringify(value)], writer);
      await replicated();
      return Number(replaced) === 1;
    },
    async reserveClientSlot(max: number, ttlSeconds: number, clientId?: string) {
      const at = Date.now();
      // For a client about to be stored, the client's own member: storing it takes the slot over.
      const member = clientId ?? `slot:${randomUUID()}`;
      const taken = await run(RESERVE_SLOT, clientsKey, [String(at), String(max), member, String(at + Math.max(1, Math.ceil(ttlSeconds * 1000)))]);
      return Number(taken) === 1 ? member : undefined;
    },
    async releaseClientSlot(reservation: string) {
      await run(RELEASE_SLOT, clientsKey, [reservation]);
    },
    async getDocument(name: string) {
      const value = await client.get(`${prefix}doc:${name}`);
      return value === null ? undefined : (JSON.parse(value) as Json);
    },
    async putDocument(name: string, value: Json) {
      await writer.set(`${prefix}doc:${name}`, JSON.stringify(value));
      await replicated();
    },
    async putDocumentIfAbsent(name: string, value: Json) {
      // SET NX GET (Redis >= 7.0): one atomic command that returns the winner if we lost.
      const previous = await writer.set(`${prefix}doc:${name}`, JSON.stringify(value), 'NX', 'GET');
      await replicated();
      return previous === null ? value : (JSON.parse(previous) as Json);
    },
    async increment(key: string, ttlSeconds: number, by = 1) {
      const value = await run(INCREMENT, `${prefix}counter:${key}`, [String(by), ttlMs(ttlSeconds)]);
      return Number(value);
    },
    async ping() {
      await client.ping();
    },
  });

  return {
    kind: 'redis',
    adapterFor,
    ...operations,
    async close() {
      if (closed) return;
      closed = true;
      // Nothing of either connection (Sentinel subscriptions included) outlives this: see closeRedisClient.
      await Promise.all([client, durable].map((conn) => (conn ? closeRedisClient(conn) : undefined)));
    },
  };
}
