// The Redis store's grant and client indexes (Pgrant:<grantId>, PclientMembers:<clientId>) stay
// as small as what is live, however long the grant or client lives and however many tokens it
// was issued, and an index left by an older version (a plain set) keeps working. Driven through
// the store; the raw keys are read with a separate client. On one server (the scripts that write
// an entity and its indexes together) and on a Cluster (one command per key).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';
import type { Cluster } from 'ioredis';

import type { Store } from '../adapters/contract.ts';
import { createRedisStore, INDEX_SLACK_MS } from '../adapters/redis.ts';
import { createRedisClient } from '../adapters/redis_client.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import { startRedisCluster } from './support/redis_topologies.ts';

const id = () => randomUUID();
const MANY = 500;
// The shortest lives the test can wait out: members live 100 ms, the index counts them live for
// INDEX_SLACK_MS more.
const SHORT_S = 0.1;
const EXPIRED_AFTER_MS = SHORT_S * 1000 + INDEX_SLACK_MS + 400;

type Topology = {
  target: () => Redis | Cluster;
  /** One server: the conversion of an old set can see its members' keys (a Cluster cannot). */
  membersReachable: boolean;
  stop(): Promise<void>;
};

function indexSuite(name: string, start: () => Promise<Topology>): void {
  describe(`redis indexes: ${name}`, () => {
    let topology: Topology;
    let store: Store;
    let raw: Redis | Cluster;
    let prefix: string;

    // Many short-lived members for a grant and for a client, beside a few that live on.
    const grant = { id: id(), forever: id(), hour: id(), short: [] as string[] };
    const owner = { id: `client-${id()}`, grant: id(), hour: id(), short: [] as string[] };

    /** Members of an index, whatever its layout (so that the tests also fail on their own against the old one). */
    const size = async (key: string) => ((await raw.type(key)) === 'set' ? raw.scard(key) : raw.zcard(key));

    before(async () => {
      topology = await start();
      prefix = uniquePrefix(`indexes-${name.replace(/\W+/g, '-')}`);
      store = createRedisStore({ client: topology.target(), prefix });
      raw = topology.target();

      const rt = store.adapterFor('RefreshToken');
      await rt.upsert(grant.forever, { grantId: grant.id });
      await rt.upsert(grant.hour, { grantId: grant.id }, 3600);
      await store.adapterFor('Grant').upsert(owner.grant, { clientId: owner.id });
      await rt.upsert(owner.hour, { clientId: owner.id, grantId: owner.grant }, 3600);
      for (let i = 0; i < MANY; i++) {
        grant.short.push(id());
        owner.short.push(id());
      }
      // In batches: as many silent authorizes at once as a busy tenant sees.
      for (let i = 0; i < MANY; i += 100) {
        await Promise.all([
          ...grant.short.slice(i, i + 100).map((at) => store.adapterFor('AccessToken').upsert(at, { grantId: grant.id }, SHORT_S)),
          ...owner.short.slice(i, i + 100).map((cc) => store.adapterFor('ClientCredentials').upsert(cc, { clientId: owner.id }, SHORT_S)),
        ]);
      }
      assert.equal(await size(`${prefix}grant:${grant.id}`), MANY + 2);
      assert.equal(await size(`${prefix}clientMembers:${owner.id}`), MANY + 2);
      await sleep(EXPIRED_AFTER_MS);
    });
    after(async () => {
      await store?.close();
      raw?.disconnect();
      await topology?.stop();
    });

    it('a grant that never expires keeps only its live members after many expired, and revocation reaches each', async () => {
      const key = `${prefix}grant:${grant.id}`;
      const latest = id();
      await store.adapterFor('AccessToken').upsert(latest, { grantId: grant.id }, 60);
      assert.equal(await size(key), 3, `${MANY} expired access tokens are still indexed`);
      assert.equal(await raw.type(key), 'zset');
      assert.deepEqual((await raw.zrange(key, '0', '-1')).sort(), [`AccessToken:${latest}`, `RefreshToken:${grant.forever}`, `RefreshToken:${grant.hour}`].sort());
      assert.equal(await raw.pttl(key), -1, 'a member that never expires keeps the index forever');

      await store.adapterFor('AccessToken').revokeByGrantId(grant.id);
      for (const [model, entity] of [['AccessToken', latest], ['RefreshToken', grant.forever], ['RefreshToken', grant.hour]] as const) {
        assert.equal(await store.adapterFor(model).find(entity), undefined, `${model} survived its grant's revocation`);
      }
      assert.equal(await raw.exists(key), 0);
    });

    it('a client that never expires keeps only its live members after many expired, and revokeByClientId reaches each', async () => {
      const key = `${prefix}clientMembers:${owner.id}`;
      const latest = id();
      await store.adapterFor('ClientCredentials').upsert(latest, { clientId: owner.id }, 60);
      assert.equal(await size(key), 3, `${MANY} expired client_credentials tokens are still indexed`);

      await store.revokeByClientId(owner.id);
      for (const [model, entity] of [['ClientCredentials', latest], ['Grant', owner.grant], ['RefreshToken', owner.hour]] as const) {
        assert.equal(await store.adapterFor(model).find(entity), undefined, `${model} survived its client's revocation`);
      }
      assert.equal(await raw.exists(key), 0);
    });

    it('an index key lives as long as its longest-lived member, and persists with one that never expires', async () => {
      const grantId = id();
      const key = `${prefix}grant:${grantId}`;
      const at = store.adapterFor('AccessToken');
      const near = async (expectedMs: number) => {
        const left = await raw.pttl(key);
        assert.ok(left > expectedMs - 5000 && left <= expectedMs + INDEX_SLACK_MS, `PTTL ${left}, expected about ${expectedMs}`);
      };
      await at.upsert(id(), { grantId }, 600);
      await near(600_000);
      await at.upsert(id(), { grantId }, 60);
      await near(600_000);
      await store.adapterFor('RefreshToken').upsert(id(), { grantId }, 3600);
      await near(3_600_000);
      // Replacing the longest-lived member with a shorter life never cuts the index short.
      const replaced = id();
      await at.upsert(replaced, { grantId }, 7200);
      await near(7_200_000);
      await at.upsert(replaced, { grantId }, 60);
      await near(7_200_000);
      await store.adapterFor('RefreshToken').upsert(id(), { grantId });
      assert.equal(await raw.pttl(key), -1);
      await at.upsert(id(), { grantId }, 60);
      assert.equal(await raw.pttl(key), -1, 'a short member must not give a forever index a TTL');
      await at.revokeByGrantId(grantId);
    });

    describe('upgrade from the set layout of earlier versions', () => {
      /** Entities written through the store, then their index replaced by a set as earlier versions wrote it. */
      async function legacyIndex(key: string, members: string[], ttlMs?: number): Promise<void> {
        await raw.del(key);
        await raw.sadd(key, ...members);
        if (ttlMs !== undefined) await raw.pexpire(key, ttlMs);
        assert.equal(await raw.type(key), 'set');
      }

      it('revokeByGrantId reads an old set index', async () => {
        const grantId = id();
        const [a, r] = [id(), id()];
        await store.adapterFor('AccessToken').upsert(a, { grantId }, 60);
        await store.adapterFor('RefreshToken').upsert(r, { grantId });
        await legacyIndex(`${prefix}grant:${grantId}`, [`AccessToken:${a}`, `RefreshToken:${r}`, `AccessToken:${id()}`], 600_000);

        await store.adapterFor('AccessToken').revokeByGrantId(grantId);
        assert.equal(await store.adapterFor('AccessToken').find(a), undefined);
        assert.equal(await store.adapterFor('RefreshToken').find(r), undefined);
        assert.equal(await raw.exists(`${prefix}grant:${grantId}`), 0);
      });

      it('the next token of a grant converts its old set in place, keeping every member and the set’s lifetime', async () => {
        const grantId = id();
        const key = `${prefix}grant:${grantId}`;
        const [a, r, b] = [id(), id(), id()];
        await store.adapterFor('AccessToken').upsert(a, { grantId }, 60);
        await store.adapterFor('RefreshToken').upsert(r, { grantId }, 3600);
        const gone = `AccessToken:${id()}`;
        await legacyIndex(key, [`AccessToken:${a}`, `RefreshToken:${r}`, gone], 3_600_000);

        await store.adapterFor('AccessToken').upsert(b, { grantId }, 60);
        assert.equal(await raw.type(key), 'zset');
        for (const member of [`AccessToken:${a}`, `RefreshToken:${r}`, `AccessToken:${b}`]) {
          assert.notEqual(await raw.zscore(key, member), null, `${member} lost in the conversion`);
        }
        if (topology.membersReachable) {
          assert.equal(await raw.zscore(key, gone), null, 'a member whose key is gone was carried over');
        } else {
          // Out of reach on a Cluster: it counts as live as long as the old set would have lived.
          assert.ok(Number(await raw.zscore(key, gone)) > Date.now() + 3_590_000);
        }
        const left = await raw.pttl(key);
        assert.ok(left > 3_590_000, `the converted index expires before its hour-long member (PTTL ${left})`);

        await store.adapterFor('AccessToken').revokeByGrantId(grantId);
        for (const [model, entity] of [['AccessToken', a], ['RefreshToken', r], ['AccessToken', b]] as const) {
          assert.equal(await store.adapterFor(model).find(entity), undefined, `${model} survived`);
        }
        assert.equal(await raw.exists(key), 0);
      });

      it('a persistent old client index: revoked as is, or converted by the next token and kept forever', async () => {
        const [kept, converted] = [`client-${id()}`, `client-${id()}`];
        for (const clientId of [kept, converted]) {
          const [g, y] = [id(), id()];
          await store.adapterFor('Grant').upsert(g, { clientId });
          await store.adapterFor('AccessToken').upsert(y, { clientId, grantId: g }, 60);
          await legacyIndex(`${prefix}clientMembers:${clientId}`, [`Grant:${g}`, `AccessToken:${y}`]);
          let z: string | undefined;
          if (clientId === converted) {
            z = id();
            await store.adapterFor('ClientCredentials').upsert(z, { clientId }, 60);
            assert.equal(await raw.type(`${prefix}clientMembers:${clientId}`), 'zset');
            assert.equal(await raw.zcard(`${prefix}clientMembers:${clientId}`), 3);
            assert.equal(await raw.pttl(`${prefix}clientMembers:${clientId}`), -1, 'a grant that never expires keeps the index forever');
          }
          await store.revokeByClientId(clientId);
          assert.equal(await store.adapterFor('Grant').find(g), undefined, 'the grant survived');
          assert.equal(await store.adapterFor('AccessToken').find(y), undefined, 'the access token survived');
          if (z) assert.equal(await store.adapterFor('ClientCredentials').find(z), undefined, 'the new token survived');
          assert.equal(await raw.exists(`${prefix}clientMembers:${clientId}`), 0);
        }
      });
    });
  });
}

indexSuite('one server', async () => {
  const redis = await startRedis();
  return { target: () => new Redis(redis.url, { maxRetriesPerRequest: 1 }), membersReachable: true, stop: () => redis.stop() };
});

indexSuite('cluster', async () => {
  const cluster = await startRedisCluster();
  return { target: () => createRedisClient(cluster.target), membersReachable: false, stop: () => cluster.stop() };
});
