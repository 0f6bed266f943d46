// The shared backend: Redis through an injected ioredis client (one server, Sentinel or Cluster).
//
// Cluster-safe by construction: every command and every script touches exactly one key, so no
// command ever spans hash slots. Commands that belong to one operation are issued together
// without awaiting each other, which costs one round trip; ioredis' explicit pipeline() is not
// used because on a Cluster it rejects keys that live on different nodes, while separately
// issued commands are routed one by one (and batched per node with `enableAutoPipelining`).
//
// Key layout (P = prefix, default 'issuer:'):
//   P<Model>:<id>            hash {payload: JSON, consumed?: epoch seconds}, PX from expiresIn
//   PsessionUid:<uid>        string -> Session id, same TTL as the session
//   PuserCode:<code>         string -> DeviceCode id, same TTL as the code
//   Pgrant:<grantId>         set of '<Model>:<id>', TTL stretched to cover its longest member
//   Pclients                 sorted set of client ids scored by expiry (ms, +inf = never)
//   Pdoc:<name>              string, JSON document, no TTL
//   Pcounter:<key>           string counter, PX set once when the window opens
// Pointers (uid, user code, grant members) may outlive what they point to after a destroy;
// every lookup through them re-checks the target, and they expire with it.

import { createHash } from 'node:crypto';

import type { Cluster, Redis } from 'ioredis';

import { GRANTABLE_MODELS } from './contract.ts';
import type { AdapterPayload, Json, ModelAdapter, Store } from './contract.ts';

export type RedisStoreOptions = {
  /**
   * A connected (or connecting) client. The store owns it from now on: `close()` quits it,
   * so do not share it with anything that outlives the store.
   */
  client: Redis | Cluster;
  /** Namespaces every key, so several issuers (or test files) can share one Redis. */
  prefix?: string;
};

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

// HSET on a missing key would create it without TTL, so consume must check first.
const CONSUME = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'consumed', ARGV[1])
return 1`);

// The grant set must live as long as its longest-lived member (or forever if one never
// expires). Doing it in a script avoids EXPIRE NX/GT's ambiguity between "just created" and
// "deliberately persistent" (both have no TTL) and costs one command instead of three.
const GRANT_ADD = script(`
local existed = redis.call('EXISTS', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  redis.call('PERSIST', KEYS[1])
elseif existed == 0 or (ttl >= 0 and ttl < tonumber(ARGV[2])) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`);

// A fixed window: the expiry is set only when the key is created, and the key's expiry
// restarts the window. One script so that a crash cannot leave a counter without TTL.
const INCREMENT = script(`
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
return value`);

function ttlMs(expiresIn: number | undefined): string {
  return expiresIn === undefined ? '' : String(Math.max(1, Math.ceil(expiresIn * 1000)));
}

export function createRedisStore(options: RedisStoreOptions): Store {
  const { client } = options;
  const prefix = options.prefix ?? 'issuer:';
  const clientsKey = `${prefix}clients`;

  async function run(s: Script, key: string, ...args: string[]): Promise<unknown> {
    try {
      return await client.evalsha(s.sha, 1, key, ...args);
    } catch (error) {
      // Each node (and each restarted server) has its own script cache.
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return client.eval(s.lua, 1, key, ...args);
      }
      throw error;
    }
  }

  async function findAt(key: string): Promise<AdapterPayload | undefined> {
    const [payload, consumed] = await client.hmget(key, 'payload', 'consumed');
    if (payload === null || payload === undefined) return undefined;
    const parsed = JSON.parse(payload) as AdapterPayload;
    if (consumed !== null && consumed !== undefined) parsed.consumed = Number(consumed);
    return parsed;
  }

  function adapterFor(model: string): ModelAdapter {
    const grantable = GRANTABLE_MODELS.has(model);
    const keyOf = (id: string) => `${prefix}${model}:${id}`;

    async function findVia(pointer: string, field: 'uid' | 'userCode', value: string) {
      const id = await client.get(pointer);
      if (id === null) return undefined;
      const payload = await findAt(keyOf(id));
      // The pointer may be stale (entity destroyed or replaced with another value).
      return payload?.[field] === value ? payload : undefined;
    }

    return {
      async upsert(id, payload, expiresIn) {
        const px = ttlMs(expiresIn);
        const writes: Promise<unknown>[] = [run(UPSERT, keyOf(id), JSON.stringify(payload), px)];
        const pointer = (key: string) =>
          px === '' ? client.set(key, id) : client.set(key, id, 'PX', px);
        if (model === 'Session' && payload.uid) {
          writes.push(pointer(`${prefix}sessionUid:${payload.uid}`));
        }
        if (payload.userCode) writes.push(pointer(`${prefix}userCode:${payload.userCode}`));
        if (grantable && payload.grantId) {
          writes.push(run(GRANT_ADD, `${prefix}grant:${payload.grantId}`, `${model}:${id}`, px));
        }
        if (model === 'Client') {
          const score = px === '' ? '+inf' : String(Date.now() + Number(px));
          writes.push(client.zadd(clientsKey, score, id));
        }
        await Promise.all(writes);
      },
      find(id) {
        return findAt(keyOf(id));
      },
      findByUid(uid) {
        return findVia(`${prefix}sessionUid:${uid}`, 'uid', uid);
      },
      findByUserCode(userCode) {
        return findVia(`${prefix}userCode:${userCode}`, 'userCode', userCode);
      },
      async consume(id) {
        await run(CONSUME, keyOf(id), String(Math.floor(Date.now() / 1000)));
      },
      async destroy(id) {
        const deletes: Promise<unknown>[] = [client.del(keyOf(id))];
        if (model === 'Client') deletes.push(client.zrem(clientsKey, id));
        await Promise.all(deletes);
      },
      async revokeByGrantId(grantId) {
        const grantKey = `${prefix}grant:${grantId}`;
        const members = await client.smembers(grantKey);
        // One DEL per member: members hash to different slots.
        await Promise.all([
          ...members.map((member) => client.del(`${prefix}${member}`)),
          client.del(grantKey),
        ]);
      },
    };
  }

  let closed = false;

  return {
    kind: 'redis',
    adapterFor,
    async countClients() {
      const now = Date.now();
      // Trimming expired clients rides along in the same round trip; it only bounds growth.
      const [count] = await Promise.all([
        client.zcount(clientsKey, `(${now}`, '+inf'),
        client.zremrangebyscore(clientsKey, '-inf', now),
      ]);
      return count;
    },
    async getDocument(name) {
      const value = await client.get(`${prefix}doc:${name}`);
      return value === null ? undefined : (JSON.parse(value) as Json);
    },
    async putDocument(name, value) {
      await client.set(`${prefix}doc:${name}`, JSON.stringify(value));
    },
    async putDocumentIfAbsent(name, value) {
      // SET NX GET (Redis >= 7.0): one atomic command that returns the winner if we lost.
      const previous = await client.set(`${prefix}doc:${name}`, JSON.stringify(value), 'NX', 'GET');
      return previous === null ? value : (JSON.parse(previous) as Json);
    },
    async increment(key, ttlSeconds, by = 1) {
      const value = await run(INCREMENT, `${prefix}counter:${key}`, String(by), ttlMs(ttlSeconds));
      return Number(value);
    },
    async ping() {
      await client.ping();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (client.status !== 'end') await client.quit();
    },
  };
}
