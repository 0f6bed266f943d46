// One contract, every backend: the same cases run against SQLite (a temp file) and Redis (a
// throwaway redis-server with a random prefix). Backend-specific checks follow the suite.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

import type { AdapterPayload, Json, Store } from '../adapters/contract.ts';
import { createRedisStore } from '../adapters/redis.ts';
import { createSqliteStore } from '../adapters/sqlite.ts';
import { createRedisClient } from '../adapters/redis_client.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import { startRedisCluster, startRedisSentinel } from './support/redis_topologies.ts';

type Backend = {
  /** A new store instance over the same data (what another process or a restart would see). */
  open(): Store;
  /** Environment for a child process that opens the same backend (see closeProbe). */
  probeEnv: Record<string, string>;
  teardown(): Promise<void>;
};

const EXPIRY_WAIT_MS = 1500;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const id = () => randomUUID();

// Numbers and empty containers a naive (Lua cjson) rewrite of the payload would corrupt.
const samplePayload = (extra: AdapterPayload = {}): AdapterPayload => ({
  accountId: 'user-1',
  scope: 'openid profile',
  claims: { id_token: { email: { essential: true } }, list: [1, 'two', { three: [] }] },
  empty: [],
  emptyObject: {},
  pi: 3.141592653589793,
  unicode: 'héllo ✓',
  nothing: null,
  ...extra,
});

// Runs in a child process: it must exit on its own once the store is closed.
const PROBE = `
const kind = process.env.PROBE_KIND;
let store;
if (kind === 'sqlite') {
  const { createSqliteStore } = await import(process.env.PROBE_SQLITE);
  store = createSqliteStore({ file: process.env.PROBE_FILE, sweepIntervalMs: 10 });
} else if (process.env.PROBE_TARGET) {
  const { createRedisClient } = await import(process.env.PROBE_REDIS_CLIENT);
  const { createRedisStore } = await import(process.env.PROBE_REDIS);
  const waitForReplicas = process.env.PROBE_WAIT ? { replicas: Number(process.env.PROBE_WAIT), timeoutMs: 250 } : undefined;
  store = createRedisStore({ client: createRedisClient(JSON.parse(process.env.PROBE_TARGET)), prefix: process.env.PROBE_PREFIX, waitForReplicas });
} else {
  const { Redis } = await import('ioredis');
  const { createRedisStore } = await import(process.env.PROBE_REDIS);
  store = createRedisStore({ client: new Redis(process.env.PROBE_URL), prefix: process.env.PROBE_PREFIX });
}
await store.adapterFor('Session').upsert('probe', { uid: 'probe-uid' }, 60);
await store.adapterFor('Session').findByUid('probe-uid');
await store.increment('probe', 60);
await store.ping();
await store.close();
`;

async function closeProbe(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE], {
    cwd: join(import.meta.dirname, '..'),
    env: {
      ...process.env,
      ...env,
      PROBE_SQLITE: new URL('../adapters/sqlite.ts', import.meta.url).href,
      PROBE_REDIS: new URL('../adapters/redis.ts', import.meta.url).href,
      PROBE_REDIS_CLIENT: new URL('../adapters/redis_client.ts', import.meta.url).href,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stderr };
}

function contractSuite(name: string, makeBackend: () => Promise<Backend>): void {
  describe(`storage contract: ${name}`, () => {
    let backend: Backend;
    let store: Store;

    before(async () => {
      backend = await makeBackend();
      store = backend.open();
    });
    after(async () => {
      await store?.close();
      await backend?.teardown();
    });

    it('round-trips a payload through upsert and find', async () => {
      const session = store.adapterFor('Session');
      const sid = id();
      const payload = samplePayload({ uid: id() });
      await session.upsert(sid, payload, 60);
      assert.deepEqual(await session.find(sid), payload);
    });

    it('finds nothing for an unknown id', async () => {
      assert.equal(await store.adapterFor('AccessToken').find(id()), undefined);
      assert.equal(await store.adapterFor('Session').findByUid(id()), undefined);
      assert.equal(await store.adapterFor('DeviceCode').findByUserCode(id()), undefined);
    });

    it('keeps models apart: the same id in two models is two entities', async () => {
      const shared = id();
      await store.adapterFor('AccessToken').upsert(shared, { kind: 'at' }, 60);
      await store.adapterFor('RefreshToken').upsert(shared, { kind: 'rt' }, 60);
      assert.deepEqual(await store.adapterFor('AccessToken').find(shared), { kind: 'at' });
      assert.deepEqual(await store.adapterFor('RefreshToken').find(shared), { kind: 'rt' });
    });

    it('replaces on upsert, dropping an earlier consumed mark', async () => {
      const codes = store.adapterFor('AuthorizationCode');
      const code = id();
      await codes.upsert(code, { version: 1, stale: true }, 60);
      await codes.consume(code);
      await codes.upsert(code, { version: 2 }, 60);
      assert.deepEqual(await codes.find(code), { version: 2 });
    });

    it('consume sets consumed (epoch seconds) and keeps the rest of the payload', async () => {
      const codes = store.adapterFor('AuthorizationCode');
      const code = id();
      const payload = samplePayload({ grantId: id() });
      await codes.upsert(code, payload, 60);
      const before = nowSeconds();
      await codes.consume(code);
      const found = await codes.find(code);
      assert.ok(found);
      const { consumed, ...rest } = found;
      assert.ok(typeof consumed === 'number', `consumed is ${typeof consumed}`);
      assert.ok(Number.isInteger(consumed) && consumed >= before && consumed <= nowSeconds());
      assert.deepEqual(rest, payload);
    });

    it('consume of an unknown id creates nothing', async () => {
      const codes = store.adapterFor('AuthorizationCode');
      const code = id();
      await codes.consume(code);
      assert.equal(await codes.find(code), undefined);
    });

    it('destroy removes the entity and its lookups', async () => {
      const sessions = store.adapterFor('Session');
      const sid = id();
      const uid = id();
      await sessions.upsert(sid, { uid }, 60);
      await sessions.destroy(sid);
      assert.equal(await sessions.find(sid), undefined);
      assert.equal(await sessions.findByUid(uid), undefined);
      await sessions.destroy(id()); // unknown ids are fine
    });

    it('finds a session by uid, following a uid change', async () => {
      const sessions = store.adapterFor('Session');
      const sid = id();
      const [uid1, uid2] = [id(), id()];
      await sessions.upsert(sid, { uid: uid1, accountId: 'a' }, 60);
      assert.deepEqual(await sessions.findByUid(uid1), { uid: uid1, accountId: 'a' });
      await sessions.upsert(sid, { uid: uid2, accountId: 'a' }, 60);
      assert.deepEqual(await sessions.findByUid(uid2), { uid: uid2, accountId: 'a' });
      assert.equal(await sessions.findByUid(uid1), undefined);
    });

    it('finds a device code by user code', async () => {
      const devices = store.adapterFor('DeviceCode');
      const code = id();
      const userCode = `UC-${id()}`;
      await devices.upsert(code, { userCode, grantId: id() }, 60);
      assert.equal((await devices.findByUserCode(userCode))?.userCode, userCode);
    });

    it('revokeByGrantId removes every grantable entity of that grant, and nothing else', async () => {
      const [g1, g2] = [id(), id()];
      const ids = { at1: id(), ac1: id(), rt1: id(), at2: id(), interaction: id(), grant: g1 };
      await store.adapterFor('AccessToken').upsert(ids.at1, { grantId: g1 }, 60);
      await store.adapterFor('AuthorizationCode').upsert(ids.ac1, { grantId: g1 }, 60);
      await store.adapterFor('RefreshToken').upsert(ids.rt1, { grantId: g1 }, 600);
      await store.adapterFor('AccessToken').upsert(ids.at2, { grantId: g2 }, 60);
      await store.adapterFor('Interaction').upsert(ids.interaction, { grantId: g1 }, 60);
      await store.adapterFor('Grant').upsert(ids.grant, { grantId: g1, accountId: 'a' }, 600);

      await store.adapterFor('AccessToken').revokeByGrantId(g1);

      assert.equal(await store.adapterFor('AccessToken').find(ids.at1), undefined);
      assert.equal(await store.adapterFor('AuthorizationCode').find(ids.ac1), undefined);
      assert.equal(await store.adapterFor('RefreshToken').find(ids.rt1), undefined);
      assert.deepEqual(await store.adapterFor('AccessToken').find(ids.at2), { grantId: g2 });
      assert.ok(await store.adapterFor('Interaction').find(ids.interaction));
      assert.ok(await store.adapterFor('Grant').find(ids.grant));
      await store.adapterFor('RefreshToken').revokeByGrantId(id()); // unknown grants are fine
    });

    it('counts clients across upserts and destroy', async () => {
      const clients = store.adapterFor('Client');
      const start = await store.countClients();
      const [c1, c2] = [id(), id()];
      await clients.upsert(c1, { client_id: c1 });
      await clients.upsert(c2, { client_id: c2 });
      await clients.upsert(c1, { client_id: c1, client_name: 'renamed' });
      await store.adapterFor('Session').upsert(id(), { uid: id() }, 60);
      assert.equal(await store.countClients(), start + 2);
      await clients.destroy(c1);
      assert.equal(await store.countClients(), start + 1);
    });

    it('client slots: a reservation for a client id is taken over by that client, and releasing it afterwards uncounts nothing', async () => {
      const clients = store.adapterFor('Client');
      const start = await store.countClients();
      const max = start + 2;
      const [first, second] = [id(), id()];
      assert.equal(await store.reserveClientSlot(max, 60, first), first);
      assert.equal(await store.reserveClientSlot(max, 60, second), second);
      assert.equal(await store.reserveClientSlot(max, 60), undefined, 'two reservations fill the two free slots');
      // The registration of `first` stores its client: the slot is now that client's, held once.
      await clients.upsert(first, { client_id: first });
      assert.equal(await store.countClients(), start + 1);
      assert.equal(await store.reserveClientSlot(max, 60), undefined, 'the stored client took its reservation over: still full');
      // The registration of `second` failed: its slot comes back, and with `first` holding only
      // the one slot of its client, exactly one more registration fits.
      await store.releaseClientSlot(second);
      const third = id();
      assert.equal(await store.reserveClientSlot(max, 60, third), third, 'the stored client must not also keep its reservation');
      assert.equal(await store.reserveClientSlot(max, 60), undefined);
      // A release after the client was stored (a registration that stored and then failed) frees nothing.
      await store.releaseClientSlot(first);
      assert.equal(await store.reserveClientSlot(max, 60), undefined, 'releasing a stored client must not free its slot');
      assert.equal(await store.countClients(), start + 1);
      await store.releaseClientSlot(third);
      await clients.destroy(first);
      assert.equal(await store.countClients(), start);
    });

    it('client slots: stored clients plus reservations never exceed max, however many instances race', async () => {
      const clients = store.adapterFor('Client');
      const existing = [id(), id()];
      for (const c of existing) await clients.upsert(c, { client_id: c });
      const start = await store.countClients();
      // The clients already stored take their slots: a cap at their number leaves none.
      assert.equal(await store.reserveClientSlot(start, 60), undefined);
      const max = start + 5;
      // Three instances over the same data, 60 reservations at once: exactly 5 win.
      const others = [backend.open(), backend.open()];
      try {
        const instances = [store, ...others];
        const results = await Promise.all(Array.from({ length: 60 }, (_, i) => instances[i % 3]!.reserveClientSlot(max, 60)));
        const won = results.filter((r): r is string => r !== undefined);
        assert.equal(won.length, 5, `reservations won: ${won.length}`);
        assert.equal(new Set(won).size, 5, 'each reservation has its own id');
        assert.equal(await store.countClients(), start, 'reservations are not clients');
        assert.equal(await others[0]!.reserveClientSlot(max, 60), undefined);

        // A registration that stores its client and then gives its reservation back: still full.
        const registered = id();
        await clients.upsert(registered, { client_id: registered });
        await others[1]!.releaseClientSlot(won[0]!);
        assert.equal(await store.countClients(), start + 1);
        assert.equal(await store.reserveClientSlot(max, 60), undefined);
        // A registration that failed gives its slot back: one more may reserve.
        await store.releaseClientSlot(won[1]!);
        const again = await others[0]!.reserveClientSlot(max, 60);
        assert.ok(again);
        assert.equal(await store.reserveClientSlot(max, 60), undefined);
        // Releasing twice, or releasing an unknown id or a client's id, frees nothing more.
        await store.releaseClientSlot(won[1]!);
        await store.releaseClientSlot(id());
        await store.releaseClientSlot(registered);
        assert.equal(await store.reserveClientSlot(max, 60), undefined);
        assert.equal(await store.countClients(), start + 1);
        // Deleting a client frees its slot by itself.
        await clients.destroy(registered);
        const afterDelete = await store.reserveClientSlot(max, 60);
        assert.ok(afterDelete);
        for (const reservation of [...won.slice(2), again, afterDelete]) await store.releaseClientSlot(reservation!);
        for (const c of existing) await clients.destroy(c);
        assert.equal(await store.countClients(), start - existing.length);
      } finally {
        await Promise.all(others.map((other) => other.close()));
      }
    });

    it('gets, puts and replaces documents as JSON round trips', async () => {
      const name = `doc-${id()}`;
      assert.equal(await store.getDocument(name), undefined);
      const value: Json = {
        keys: [{ kid: 'k1', use: 'sig', n: 'abc' }, { kid: 'k2' }],
        nested: { deeper: { list: [1, 2.5, -3, true, false, null, [], {}] } },
        text: 'ünïcode ✓',
      };
      await store.putDocument(name, value);
      assert.deepEqual(await store.getDocument(name), value);
      await store.putDocument(name, ['replaced']);
      assert.deepEqual(await store.getDocument(name), ['replaced']);
      const nullDoc = `doc-${id()}`;
      await store.putDocument(nullDoc, null);
      assert.equal(await store.getDocument(nullDoc), null);
    });

    it('putDocumentIfAbsent keeps the first value', async () => {
      const name = `doc-${id()}`;
      assert.deepEqual(await store.putDocumentIfAbsent(name, { first: true }), { first: true });
      assert.deepEqual(await store.putDocumentIfAbsent(name, { second: true }), { first: true });
      assert.deepEqual(await store.getDocument(name), { first: true });
    });

    it('increments atomically under concurrency, with a step', async () => {
      const key = `rate-${id()}`;
      const values = await Promise.all(Array.from({ length: 50 }, () => store.increment(key, 60)));
      assert.deepEqual(
        [...values].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.equal(await store.increment(key, 60, 5), 55);
      // A negative step gives back what was taken (the login limiter's reservations).
      assert.equal(await store.increment(key, 60, -1), 54);
      assert.equal(await store.increment(key, 60, 0), 54);
    });

    it('two stores over the same backend see each other (what restarts rely on)', async () => {
      const other = backend.open();
      try {
        const sid = id();
        const uid = id();
        await store.adapterFor('Session').upsert(sid, { uid }, 60);
        assert.deepEqual(await other.adapterFor('Session').findByUid(uid), { uid });

        const code = id();
        await other.adapterFor('AuthorizationCode').upsert(code, { grantId: id() }, 60);
        await store.adapterFor('AuthorizationCode').consume(code);
        assert.equal(typeof (await other.adapterFor('AuthorizationCode').find(code))?.consumed, 'number');

        const grantId = id();
        const token = id();
        await store.adapterFor('RefreshToken').upsert(token, { grantId }, 60);
        await other.adapterFor('RefreshToken').revokeByGrantId(grantId);
        assert.equal(await store.adapterFor('RefreshToken').find(token), undefined);

        const client = id();
        const count = await store.countClients();
        await other.adapterFor('Client').upsert(client, { client_id: client });
        assert.equal(await store.countClients(), count + 1);

        const doc = `doc-${id()}`;
        await store.putDocument(doc, { from: 'store' });
        assert.deepEqual(await other.getDocument(doc), { from: 'store' });
        const raced = `doc-${id()}`;
        const [a, b] = await Promise.all([
          store.putDocumentIfAbsent(raced, { from: 'store' }),
          other.putDocumentIfAbsent(raced, { from: 'other' }),
        ]);
        assert.deepEqual(a, b);

        const key = `rate-${id()}`;
        const values = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 ? store : other).increment(key, 60)),
        );
        assert.equal(Math.max(...values), 40);
        assert.equal(new Set(values).size, 40);
      } finally {
        await other.close();
      }
    });

    it('listClients pages the stored clients in client id order, with the total', async () => {
      const run = `list-${id()}`;
      const ids = Array.from({ length: 7 }, (_, i) => `${run}-${String.fromCharCode(103 - i)}`);
      for (const clientId of ids) await store.adapterFor('Client').upsert(clientId, { client_id: clientId, client_name: clientId });
      // A client that has expired is not listed.
      await store.adapterFor('Client').upsert(`${run}-expired`, { client_id: `${run}-expired` }, 0.001);
      await sleep(20);
      const all: AdapterPayload[] = [];
      let total = -1;
      for (let offset = 0; ; offset += 3) {
        const page = await store.listClients({ offset, limit: 3 });
        assert.ok(page.clients.length <= 3);
        if (total === -1) total = page.total;
        assert.equal(page.total, total, 'the total does not depend on the page');
        all.push(...page.clients);
        if (page.clients.length < 3) break;
      }
      assert.equal(all.length, total);
      const listed = all.map((c) => String(c.client_id));
      assert.deepEqual(listed, [...listed].sort(), 'ordered by client id');
      assert.deepEqual(listed.filter((c) => c.startsWith(run)), [...ids].sort());
      assert.deepEqual(all.find((c) => c.client_id === ids[0]), { client_id: ids[0], client_name: ids[0] });
      // Another instance over the same backend sees the same list.
      const other = backend.open();
      try {
        assert.deepEqual((await other.listClients({ offset: 0, limit: 1000 })).clients.map((c) => c.client_id), listed);
      } finally {
        await other.close();
      }
    });

    it('revokeByClientId removes everything issued to one client, and nothing else', async () => {
      const [doomed, kept] = [`client-${id()}`, `client-${id()}`];
      const models = ['Grant', 'AccessToken', 'RefreshToken', 'AuthorizationCode', 'ClientCredentials', 'DeviceCode'];
      const issued = (clientId: string) => models.map((model) => ({ model, id: id(), payload: { clientId, grantId: `grant-${clientId}`, kind: model } }));
      const doomedEntities = issued(doomed);
      const keptEntities = issued(kept);
      for (const { model, id: entityId, payload } of [...doomedEntities, ...keptEntities]) await store.adapterFor(model).upsert(entityId, payload, 60);
      // Sessions and interactions are not client-bound: a clientId field in them is not an index.
      const session = id();
      await store.adapterFor('Session').upsert(session, { clientId: doomed, uid: id() }, 60);
      const forever = id();
      await store.adapterFor('Grant').upsert(forever, { clientId: doomed });

      const other = backend.open();
      try {
        await other.revokeByClientId(doomed);
      } finally {
        await other.close();
      }
      for (const { model, id: entityId } of doomedEntities) assert.equal(await store.adapterFor(model).find(entityId), undefined, `${model} of the deleted client survived`);
      assert.equal(await store.adapterFor('Grant').find(forever), undefined, 'a grant without expiry survived');
      for (const { model, id: entityId, payload } of keptEntities) assert.deepEqual(await store.adapterFor(model).find(entityId), payload, `${model} of another client was removed`);
      assert.equal((await store.adapterFor('Session').find(session))?.clientId, doomed);
      await store.revokeByClientId(`client-${id()}`); // nothing issued: no error
    });

    it('compareAndSetDocument replaces only the value it expects; of racing writers exactly one wins', async () => {
      const doc = `cas-${id()}`;
      assert.equal(await store.compareAndSetDocument(doc, { v: 0 }, { v: 1 }), false, 'a missing document is not replaced');
      assert.equal(await store.getDocument(doc), undefined);
      await store.putDocument(doc, { v: 1, list: [1, 'two'] });
      assert.equal(await store.compareAndSetDocument(doc, { v: 9 }, { v: 2 }), false);
      assert.deepEqual(await store.getDocument(doc), { v: 1, list: [1, 'two'] });
      assert.equal(await store.compareAndSetDocument(doc, { v: 1, list: [1, 'two'] }, { v: 2 }), true);
      assert.deepEqual(await store.getDocument(doc), { v: 2 });
      const other = backend.open();
      try {
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? store : other).compareAndSetDocument(doc, { v: 2 }, { v: 3, by: i })));
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        assert.deepEqual(await other.getDocument(doc), { v: 3, by: winner });
      } finally {
        await other.close();
      }
    });

    it('ping resolves; a closed store refuses work', async () => {
      await store.ping();
      const other = backend.open();
      await other.ping();
      await other.close();
      await other.close(); // idempotent
      await assert.rejects(other.ping());
    });

    it('close leaves nothing running: a process using the store exits on its own', async () => {
      const { code, stderr } = await closeProbe(backend.probeEnv);
      assert.equal(code, 0, `probe did not exit cleanly (killed after 5 s?): ${stderr}`);
    });

    describe('expiry (real clock)', () => {
      const ids = {
        short: id(),
        forever: id(),
        consumed: id(),
        session: id(),
        uid: id(),
        device: id(),
        userCode: `UC-${id()}`,
        client: id(),
        counter: `rate-${id()}`,
        // Grants whose short-lived member was added before, after, or beside an immortal one.
        grantShortFirst: id(),
        grantLongFirst: id(),
        grantForever: id(),
      };
      const refresh = { shortFirst: id(), longFirst: id(), forever: id() };
      let clientsBefore = 0;

      before(async () => {
        const at = store.adapterFor('AccessToken');
        const rt = store.adapterFor('RefreshToken');
        await at.upsert(ids.short, { v: 1 }, 1);
        await at.upsert(ids.forever, { v: 2 });
        await store.adapterFor('AuthorizationCode').upsert(ids.consumed, { v: 3 }, 1);
        await store.adapterFor('AuthorizationCode').consume(ids.consumed);
        await store.adapterFor('Session').upsert(ids.session, { uid: ids.uid }, 1);
        await store.adapterFor('DeviceCode').upsert(ids.device, { userCode: ids.userCode }, 1);

        await at.upsert(id(), { grantId: ids.grantShortFirst }, 1);
        await rt.upsert(refresh.shortFirst, { grantId: ids.grantShortFirst }, 60);
        await rt.upsert(refresh.longFirst, { grantId: ids.grantLongFirst }, 60);
        await at.upsert(id(), { grantId: ids.grantLongFirst }, 1);
        await rt.upsert(refresh.forever, { grantId: ids.grantForever });
        await at.upsert(id(), { grantId: ids.grantForever }, 1);

        clientsBefore = await store.countClients();
        await store.adapterFor('Client').upsert(ids.client, { client_id: ids.client }, 1);
        assert.equal(await store.countClients(), clientsBefore + 1);
        // One slot taken by the short-lived client, one by a short-lived reservation: full.
        assert.ok(await store.reserveClientSlot(clientsBefore + 2, 1));
        assert.equal(await store.reserveClientSlot(clientsBefore + 2, 60), undefined);

        assert.equal(await store.increment(ids.counter, 1), 1);
        assert.equal(await store.increment(ids.counter, 1), 2);
        assert.ok(await at.find(ids.short));
        assert.ok(await store.adapterFor('AuthorizationCode').find(ids.consumed));
        await sleep(EXPIRY_WAIT_MS);
      });

      it('an entity with expiresIn is gone after it expires', async () => {
        assert.equal(await store.adapterFor('AccessToken').find(ids.short), undefined);
      });

      it('an entity without expiresIn stays', async () => {
        assert.deepEqual(await store.adapterFor('AccessToken').find(ids.forever), { v: 2 });
      });

      it('consume keeps the expiry', async () => {
        assert.equal(await store.adapterFor('AuthorizationCode').find(ids.consumed), undefined);
      });

      it('lookups by uid and user code expire with their entity', async () => {
        assert.equal(await store.adapterFor('Session').findByUid(ids.uid), undefined);
        assert.equal(await store.adapterFor('DeviceCode').findByUserCode(ids.userCode), undefined);
      });

      it('expired clients are not counted', async () => {
        assert.equal(await store.countClients(), clientsBefore);
      });

      it('lapsed reservations and expired clients free their slots', async () => {
        const freed = [await store.reserveClientSlot(clientsBefore + 2, 60), await store.reserveClientSlot(clientsBefore + 2, 60)];
        assert.ok(freed.every(Boolean), 'both slots are free again');
        assert.equal(await store.reserveClientSlot(clientsBefore + 2, 60), undefined);
        for (const reservation of freed) await store.releaseClientSlot(reservation!);
      });

      it('a counter window restarts after it expires', async () => {
        assert.equal(await store.increment(ids.counter, 1), 1);
      });

      it('a grant outlives its short-lived members, so revocation still reaches the rest', async () => {
        const rt = store.adapterFor('RefreshToken');
        for (const [grantId, token] of [
          [ids.grantShortFirst, refresh.shortFirst],
          [ids.grantLongFirst, refresh.longFirst],
          [ids.grantForever, refresh.forever],
        ] as const) {
          assert.ok(await rt.find(token));
          await rt.revokeByGrantId(grantId);
          assert.equal(await rt.find(token), undefined, `grant ${grantId}`);
        }
      });
    });
  });
}

contractSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'issuer-sqlite-'));
  const file = join(dir, 'nested', 'issuer.sqlite');
  return {
    open: () => createSqliteStore({ file }),
    probeEnv: { PROBE_KIND: 'sqlite', PROBE_FILE: file },
    teardown: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

contractSuite('redis', async () => {
  const redis = await startRedis();
  const prefix = uniquePrefix('storage-contract');
  return {
    open: () => createRedisStore({ client: new Redis(redis.url, { maxRetriesPerRequest: 1 }), prefix }),
    probeEnv: { PROBE_KIND: 'redis', PROBE_URL: redis.url, PROBE_PREFIX: prefix },
    teardown: () => redis.stop(),
  };
});

// The same contract on a Redis Cluster (keys of one operation on different masters) and through
// Sentinel with WAIT (durable writes on their second connection), with the issuer's own clients.
contractSuite('redis cluster', async () => {
  const cluster = await startRedisCluster();
  const prefix = uniquePrefix('storage-contract-cluster');
  return {
    open: () => createRedisStore({ client: createRedisClient(cluster.target), prefix }),
    probeEnv: { PROBE_KIND: 'redis', PROBE_TARGET: JSON.stringify(cluster.target), PROBE_PREFIX: prefix },
    teardown: () => cluster.stop(),
  };
});

contractSuite('redis sentinel, waiting for 1 replica', async () => {
  const sentinel = await startRedisSentinel();
  const prefix = uniquePrefix('storage-contract-sentinel');
  const waitForReplicas = { replicas: 1, timeoutMs: 250 };
  return {
    open: () => createRedisStore({ client: createRedisClient(sentinel.target), prefix, waitForReplicas }),
    probeEnv: { PROBE_KIND: 'redis', PROBE_TARGET: JSON.stringify(sentinel.target), PROBE_PREFIX: prefix, PROBE_WAIT: '1' },
    teardown: () => sentinel.stop(),
  };
});

describe('sqlite store specifics', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'issuer-sqlite-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('uses WAL, hides expired rows at once and sweeps them on its timer', async () => {
    let clock = 1_000_000;
    const file = join(dir, 'sweep.sqlite');
    const store = createSqliteStore({ file, sweepIntervalMs: 20, now: () => clock });
    const raw = new DatabaseSync(file);
    try {
      assert.equal(raw.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
      await store.adapterFor('AccessToken').upsert('t', { v: 1 }, 10);
      assert.equal(await store.increment('c', 10), 1);
      clock += 5_000;
      assert.equal(await store.increment('c', 10), 2);
      clock += 6_000;
      assert.equal(await store.adapterFor('AccessToken').find('t'), undefined);
      await sleep(100);
      assert.equal(raw.prepare('SELECT count(*) AS n FROM models').get()?.n, 0);
      assert.equal(raw.prepare('SELECT count(*) AS n FROM counters').get()?.n, 0);
      assert.equal(await store.increment('c', 10), 1);
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('client slots count the clients of a file written before the slots existed, and keep counting with another writer', async () => {
    const file = join(dir, 'slots.sqlite');
    const first = createSqliteStore({ file });
    for (const c of ['a', 'b', 'c']) await first.adapterFor('Client').upsert(c, { client_id: c });
    await first.close();
    // As a version without the cap's counter left the file: no counter, no triggers, more clients.
    const raw = new DatabaseSync(file);
    raw.exec('DROP TRIGGER client_added; DROP TRIGGER client_removed; DROP TABLE client_count; DROP TABLE client_slots; DROP INDEX models_client_expiry');
    raw.prepare("INSERT INTO models (model, id, payload) VALUES ('Client', $id, '{}')").run({ id: 'd' });
    const store = createSqliteStore({ file });
    const other = createSqliteStore({ file });
    try {
      assert.equal(await store.reserveClientSlot(4, 60), undefined, 'the 4 clients already stored fill a cap of 4');
      // Rows written by any connection (here a raw one) are counted by the triggers.
      raw.prepare("INSERT INTO models (model, id, payload) VALUES ('Client', $id, '{}')").run({ id: 'e' });
      assert.equal(await other.reserveClientSlot(5, 60), undefined);
      raw.prepare("DELETE FROM models WHERE model = 'Client' AND id IN ('d', 'e')").run();
      const reservation = await other.reserveClientSlot(4, 60);
      assert.ok(reservation);
      assert.equal(await store.reserveClientSlot(4, 60), undefined);
      assert.equal(raw.prepare('SELECT n FROM client_count').get()?.n, 3);
      await store.releaseClientSlot(reservation);
    } finally {
      raw.close();
      await store.close();
      await other.close();
    }
  });

  it('a file made before revokeByClientId gets the client_id column, filled from what it holds', async () => {
    const file = join(dir, 'before-client-index.sqlite');
    const old = new DatabaseSync(file);
    // The models table as it was before the Management API (no client_id column).
    old.exec(`CREATE TABLE models (model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, grant_id TEXT, uid TEXT, user_code TEXT, expires_at INTEGER, PRIMARY KEY (model, id)) WITHOUT ROWID`);
    old.prepare('INSERT INTO models (model, id, payload, grant_id) VALUES (?, ?, ?, ?)').run('AccessToken', 'old-token', JSON.stringify({ clientId: 'old-client', grantId: 'g' }), 'g');
    old.prepare('INSERT INTO models (model, id, payload) VALUES (?, ?, ?)').run('Session', 'old-session', JSON.stringify({ clientId: 'old-client' }));
    old.close();
    const store = createSqliteStore({ file });
    try {
      await store.revokeByClientId('old-client');
      assert.equal(await store.adapterFor('AccessToken').find('old-token'), undefined);
      assert.deepEqual(await store.adapterFor('Session').find('old-session'), { clientId: 'old-client' });
    } finally {
      await store.close();
    }
    // Opening it again does not migrate twice.
    await createSqliteStore({ file }).close();
  });

  it('works in memory', async () => {
    const store = createSqliteStore({ file: ':memory:' });
    await store.adapterFor('Client').upsert('c', { client_id: 'c' });
    assert.equal(await store.countClients(), 1);
    await store.close();
  });
});

describe('redis store specifics', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  it('a store with another prefix sees none of the first one’s data', async () => {
    const open = (prefix: string) =>
      createRedisStore({ client: new Redis(redis.url, { maxRetriesPerRequest: 1 }), prefix });
    const first = open(uniquePrefix('first'));
    const second = open(uniquePrefix('second'));
    try {
      const grantId = id();
      await first.adapterFor('Session').upsert('s', { uid: 'u' }, 60);
      await first.adapterFor('Client').upsert('c', { client_id: 'c' });
      await first.adapterFor('AccessToken').upsert('t', { grantId }, 60);
      await first.putDocument('d', { v: 1 });
      await first.increment('k', 60);

      assert.equal(await second.adapterFor('Session').find('s'), undefined);
      assert.equal(await second.adapterFor('Session').findByUid('u'), undefined);
      assert.equal(await second.countClients(), 0);
      assert.equal(await second.getDocument('d'), undefined);
      assert.equal(await second.increment('k', 60), 1);
      await second.adapterFor('AccessToken').revokeByGrantId(grantId);
      assert.ok(await first.adapterFor('AccessToken').find('t'));
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('writes only keys under its prefix', async () => {
    const prefix = uniquePrefix('keys');
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const store = createRedisStore({ client, prefix });
    const inspector = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await inspector.flushdb();
      await store.adapterFor('Session').upsert('s', { uid: 'u' }, 60);
      await store.adapterFor('DeviceCode').upsert('d', { userCode: 'UC', grantId: 'g' }, 60);
      await store.adapterFor('Client').upsert('c', { client_id: 'c' });
      await store.putDocument('doc', 1);
      await store.increment('k', 60);
      const keys = await inspector.keys('*');
      assert.ok(keys.length >= 7);
      assert.deepEqual(keys.filter((key) => !key.startsWith(prefix)), []);
    } finally {
      await store.close();
      await inspector.quit();
    }
  });
});
