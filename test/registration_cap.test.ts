// The cap registration.max_clients holds under concurrency (issue 10, finding 3): many
// registrations at once, spread over several instances sharing one store, store exactly
// max_clients clients. Counted in the store itself (Redis keys, SQLite rows), not from the 201s.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';

import { Redis } from 'ioredis';

import { startIssuer } from './support/issuer.ts';
import type { Backend, RunningIssuer } from './support/issuer.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import { waitFor } from './support/wait.ts';
import type { TestRedis } from './support/redis.ts';

const MAX_CLIENTS = 10;
const REGISTRATIONS = 100;
const OVERRIDES = {
  tenant: { flags: { enable_dynamic_client_registration: true } },
  registration: { max_clients: MAX_CLIENTS, rate_limit: { per_second: 10_000, burst: 10_000 } },
};

type Outcome = { status: number; error?: string };

async function register(issuer: RunningIssuer, i: number): Promise<Outcome> {
  const response = await fetch(new URL('oidc/register', issuer.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: `Racer ${i}`, redirect_uris: [`https://app${i}.example.com/callback`] }),
    signal: AbortSignal.timeout(20_000),
  });
  const body = (await response.json()) as { error?: string };
  return { status: response.status, error: body.error };
}

/** Fire every registration at once, round-robin over the instances. */
async function race(instances: RunningIssuer[]): Promise<Map<string, number>> {
  const outcomes = await Promise.all(Array.from({ length: REGISTRATIONS }, (_, i) => register(instances[i % instances.length]!, i)));
  const tally = new Map<string, number>();
  for (const { status, error } of outcomes) tally.set(`${status} ${error ?? ''}`.trim(), (tally.get(`${status} ${error ?? ''}`.trim()) ?? 0) + 1);
  return tally;
}

function assertTally(tally: Map<string, number>): void {
  assert.deepEqual(Object.fromEntries(tally), { 201: MAX_CLIENTS, '403 access_denied': REGISTRATIONS - MAX_CLIENTS }, JSON.stringify(Object.fromEntries(tally)));
}

describe('the client cap under concurrent registrations', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test(`Redis: ${REGISTRATIONS} at once over 3 instances store exactly ${MAX_CLIENTS} clients`, async () => {
    const prefix = uniquePrefix('cap');
    const backend: Backend = { kind: 'redis', url: redis.url, prefix };
    const instances = await Promise.all([1, 2, 3].map(() => startIssuer({ backend, overrides: OVERRIDES })));
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      assertTally(await race(instances));
      const stored = await raw.keys(`${prefix}Client:*`);
      assert.equal(stored.length, MAX_CLIENTS, `client entities in Redis: ${stored.length}`);
      assert.equal(await instances[0]!.store.countClients(), MAX_CLIENTS);
      // Every reservation was given back: the clients' index holds the clients and nothing else.
      assert.equal(await raw.zcard(`${prefix}clients`), MAX_CLIENTS);
      // Full means full for every instance, and stays so.
      for (const instance of instances) assert.equal((await register(instance, 1000)).status, 403);
      assert.equal((await raw.keys(`${prefix}Client:*`)).length, MAX_CLIENTS);
    } finally {
      raw.disconnect();
      await Promise.all(instances.map((instance) => instance.close()));
    }
  });

  test('Redis: clients that exist before the first reservation take their slots', async () => {
    const prefix = uniquePrefix('cap-existing');
    const backend: Backend = { kind: 'redis', url: redis.url, prefix };
    const first = await startIssuer({ backend, overrides: { ...OVERRIDES, registration: { ...OVERRIDES.registration, max_clients: 1000 } } });
    try {
      for (let i = 0; i < 8; i++) assert.equal((await register(first, i)).status, 201);
    } finally {
      await first.close();
    }
    // An instance with a cap of 10 over those 8 clients (as after an upgrade, or a lowered cap).
    const instances = await Promise.all([1, 2, 3].map(() => startIssuer({ backend, overrides: OVERRIDES })));
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => register(instances[i % 3]!, 100 + i)));
      assert.equal(outcomes.filter((o) => o.status === 201).length, 2);
      assert.equal((await raw.keys(`${prefix}Client:*`)).length, MAX_CLIENTS);
    } finally {
      raw.disconnect();
      await Promise.all(instances.map((instance) => instance.close()));
    }
  });
});

describe('a registration that fails gives its slot back', () => {
  test('Redis with WAIT: the replica does not answer, registration is 503, and no reservation is left behind', async () => {
    const master = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    const raw = new Redis(master.url, { maxRetriesPerRequest: 1 });
    const prefix = uniquePrefix('cap-wait');
    let issuer: RunningIssuer | undefined;
    try {
      // In sync and acknowledging writes, as the issuer's start needs (it writes its keys with WAIT).
      // (WAIT counts acknowledgements of this connection's own writes, hence the write first.)
      await waitFor(async () => (await raw.set(`${prefix}sync-probe`, '1')) === 'OK' && (await raw.wait(1, 100)) === 1, 10_000, 'the replica in sync');
      issuer = await startIssuer({ backend: { kind: 'redis', url: master.url, prefix, waitForReplicas: { replicas: 1, timeoutMs: 500 } }, overrides: { ...OVERRIDES, registration: { ...OVERRIDES.registration, max_clients: 2 } } });
      assert.equal((await register(issuer, 1)).status, 201);
      replica.pause();
      // The master stores the client but cannot make it durable: the caller is told 503.
      assert.equal((await register(issuer, 2)).status, 503);
      replica.resume();
      const members = await raw.zrange(`${prefix}clients`, '0', '-1');
      assert.equal(members.filter((member) => member.startsWith('slot:')).length, 0, `reservations left: ${members.join(', ')}`);
      // The cap counts what is stored, durable or not: both slots are taken.
      assert.equal(await issuer.store.countClients(), 2);
      assert.equal((await register(issuer, 3)).status, 403);
    } finally {
      replica.resume();
      raw.disconnect();
      await issuer?.close();
      await Promise.all([replica.stop(), master.stop()]);
    }
  });
});

describe('the client cap on SQLite', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'issuer-cap-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test(`SQLite: ${REGISTRATIONS} at once over 3 instances on one file store exactly ${MAX_CLIENTS} clients`, async () => {
    const file = join(dir, 'issuer.sqlite');
    // Several stores may open one file (processes on one host): each instance its own store.
    const instances = await Promise.all([1, 2, 3].map(() => startIssuer({ backend: { kind: 'sqlite', file }, overrides: OVERRIDES })));
    const raw = new DatabaseSync(file, { readOnly: true });
    try {
      assertTally(await race(instances));
      assert.equal(raw.prepare("SELECT count(*) AS n FROM models WHERE model = 'Client'").get()?.n, MAX_CLIENTS);
      assert.equal(raw.prepare('SELECT count(*) AS n FROM client_slots').get()?.n, 0, 'every reservation was given back');
      for (const instance of instances) assert.equal((await register(instance, 1000)).status, 403);
    } finally {
      raw.close();
      await Promise.all(instances.map((instance) => instance.close()));
    }
  });
});
