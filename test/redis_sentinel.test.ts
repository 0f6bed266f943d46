// Redis Sentinel on loopback: a master, a replica and three sentinels. The registration and
// implicit flow suites pass through Sentinel unchanged; the issuer as users run it takes
// `storage.redis_sentinel`; a failover in the middle of a stream of registrations keeps every
// request under 2 s and every 201 readable; and WAIT is what keeps acknowledged clients
// through a failover that loses the master's last writes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { ALICE } from './support/issuer.ts';
import { startIssuerProcess } from './support/process.ts';
import type { IssuerProcess } from './support/process.ts';
import { uniquePrefix } from './support/redis.ts';
import { redisCli, startRedisSentinel } from './support/redis_topologies.ts';
import type { TestRedisSentinel } from './support/redis_topologies.ts';
import { runSuites, TOPOLOGY_SUITES } from './support/suites.ts';
import { loginAndConsent, redirectParams, UserAgent } from './support/user_agent.ts';

const SLOWEST_MS = 2000;
const FAILOVER_WITHIN_MS = 15_000;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'issuer-sentinel-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A config file naming the sentinels with the documented keys. */
function sentinelConfig(sentinel: TestRedisSentinel, name: string, waitReplicas: number): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, [
    'tenant: { flags: { enable_dynamic_client_registration: true } }',
    'registration: { rate_limit: { per_second: 10000, burst: 10000 } }',
    'storage:',
    '  redis_sentinel:',
    `    name: ${sentinel.name}`,
    `    sentinels: [${sentinel.sentinels.map((s) => `127.0.0.1:${s.port}`).join(', ')}]`,
    `  redis_wait_replicas: ${waitReplicas}`,
    '',
  ].join('\n'));
  return file;
}

type Registration = { status: number; ms: number; at: number; clientId?: string };

async function register(issuer: IssuerProcess, name: string): Promise<Registration> {
  const at = performance.now();
  try {
    const response = await fetch(new URL('oidc/register', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: name, redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'none' }),
      signal: AbortSignal.timeout(10_000),
    });
    const json = (await response.json()) as { client_id?: string };
    return { status: response.status, ms: performance.now() - at, at, clientId: response.status === 201 ? json.client_id : undefined };
  } catch {
    return { status: 0, ms: performance.now() - at, at };
  }
}

/** Is the client stored? /authorize for it reaches the login page (303 to /u/...). */
async function known(issuer: IssuerProcess, clientId: string): Promise<boolean> {
  const url = new URL('authorize', issuer.url);
  url.search = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://app.example.com/cb', response_type: 'id_token token', scope: 'openid', nonce: 'n' }).toString();
  const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5000) });
  await response.arrayBuffer();
  return response.status === 303 && (response.headers.get('location') ?? '').includes('/u/');
}

async function readyAgain(issuer: IssuerProcess): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const response = await fetch(new URL('readyz', issuer.url), { signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    if (response.status === 200) return;
    await sleep(100);
  }
  assert.fail('not ready again after the failover');
}

describe('Sentinel: suites, npm start, and a failover during registrations', () => {
  let sentinel: TestRedisSentinel;
  before(async () => {
    // Two replicas: after the failover one is left, so WAIT 1 can still be met.
    sentinel = await startRedisSentinel({ replicas: 2 });
  });
  after(() => sentinel?.stop());

  test('the registration and implicit flow suites pass through Sentinel (waiting for 1 replica)', async (t) => {
    const run = await runSuites(TOPOLOGY_SUITES, { TEST_REDIS_TARGET: JSON.stringify(sentinel.target), TEST_REDIS_WAIT_REPLICAS: '1' });
    assert.equal(run.code, 0, run.output.slice(-6000));
    assert.equal(run.failed, 0);
    assert.ok(run.passed > 50, `only ${run.passed} tests ran`);
    t.diagnostic(`${run.passed} tests passed through Sentinel in ${Math.round(run.ms)} ms`);
  });

  test('kill -9 of the master during a stream of registrations: every request under 2 s, every 201 readable', async (t) => {
    const issuer = await startIssuerProcess({ CONFIG_FILE: sentinelConfig(sentinel, 'stream', 1), REDIS_PREFIX: uniquePrefix('sentinel-stream') });
    try {
      const oldMaster = await sentinel.masterPort();
      const master = sentinel.servers.find((server) => server.port === oldMaster)!;
      const answers: Registration[] = [];
      let killedAt = 0;
      let failedOverAt = 0;
      // Two concurrent streams of registrations, until some succeed after the failover (the
      // remaining replica must follow the new master first, for WAIT 1) or 8 s have passed.
      const okAfterFailover = () => answers.filter((a) => a.status === 201 && failedOverAt && a.at > failedOverAt).length;
      const stream = async (lane: number) => {
        for (let i = 0; i < 2000; i++) {
          answers.push(await register(issuer, `Stream ${lane}-${i}`));
          if (failedOverAt && (okAfterFailover() >= 10 || performance.now() - failedOverAt > 8000)) return;
          await sleep(20);
        }
      };
      const streams = Promise.all([stream(1), stream(2)]);
      await sleep(500);
      await master.kill9();
      killedAt = performance.now();
      await sentinel.failedOverFrom(oldMaster, FAILOVER_WITHIN_MS);
      failedOverAt = performance.now();
      await streams;

      const slow = answers.filter((a) => a.ms >= SLOWEST_MS || a.status === 0);
      assert.deepEqual(slow.map((a) => `${a.status} after ${Math.round(a.ms)} ms`), [], 'requests that hung or failed without an answer');
      const refused = answers.filter((a) => a.status !== 201);
      assert.ok(refused.every((a) => a.status === 503), `unexpected statuses: ${[...new Set(refused.map((a) => a.status))].join(', ')}`);
      const acknowledged = answers.filter((a) => a.clientId).map((a) => a.clientId!);
      assert.ok(answers.some((a) => a.status === 201 && a.at > failedOverAt), 'registrations succeed again after the failover');
      // Once they do, the reconnects that each sentinel's +switch-master still triggers are
      // waited for, not answered 503.
      // When the first registration after the kill was answered 201.
      const recovered = Math.min(...answers.filter((a) => a.status === 201 && a.at > killedAt).map((a) => a.at + a.ms));
      const refusedAfter = answers.filter((a) => a.status !== 201 && a.at > recovered);
      assert.deepEqual(refusedAfter.map((a) => `${a.status} at +${Math.round(a.at - recovered)} ms`), [], 'refused after registrations succeeded again');

      await readyAgain(issuer);
      const missing: string[] = [];
      for (const clientId of acknowledged) if (!(await known(issuer, clientId))) missing.push(clientId);
      assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} acknowledged clients are gone`);

      // Sessions work on the new master: a full implicit login.
      const agent = new UserAgent(issuer.url);
      const authorize = new URL('authorize', issuer.url);
      authorize.search = new URLSearchParams({ client_id: acknowledged.at(-1)!, redirect_uri: 'https://app.example.com/cb', response_type: 'id_token token', scope: 'openid', nonce: 'n-f', state: 's-f' }).toString();
      const done = await loginAndConsent(agent, await agent.navigate(authorize.href), ALICE);
      assert.ok(done.location, `expected a redirect to the client, got ${done.status} from ${done.url}: ${done.body.slice(0, 300)}`);
      assert.ok(redirectParams(done.location).get('access_token'), done.location);

      const lastOkBefore = Math.max(...answers.filter((a) => a.status === 201 && a.at < killedAt).map((a) => a.at + a.ms));
      t.diagnostic(`${answers.length} registrations: ${acknowledged.length} acknowledged (all readable afterwards), ${refused.length} answered 503; slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms; sentinels promoted the replica ${Math.round(failedOverAt - killedAt)} ms after kill -9; no successful registration for ${Math.round(recovered - lastOkBefore)} ms`);
    } finally {
      assert.equal(await issuer.stop(), 0, issuer.output().slice(-3000));
    }
  });
});

describe('Sentinel: what WAIT buys when a failover loses the master\'s last writes', () => {
  let sentinel: TestRedisSentinel;
  before(async () => {
    sentinel = await startRedisSentinel();
  });
  after(() => sentinel?.stop());

  test('replica cut off, master dies: without WAIT acknowledged clients vanish; with WAIT 1 none were acknowledged', async (t) => {
    const [plain, waiting] = await Promise.all([
      startIssuerProcess({ CONFIG_FILE: sentinelConfig(sentinel, 'no-wait', 0), REDIS_PREFIX: uniquePrefix('sentinel-nowait') }),
      startIssuerProcess({ CONFIG_FILE: sentinelConfig(sentinel, 'wait', 1), REDIS_PREFIX: uniquePrefix('sentinel-wait') }),
    ]);
    try {
      // Healthy: both acknowledge, and WAIT costs little.
      const healthy = { plain: [] as Registration[], waiting: [] as Registration[] };
      for (let i = 0; i < 10; i++) {
        healthy.plain.push(await register(plain, `Healthy ${i}`));
        healthy.waiting.push(await register(waiting, `Healthy ${i}`));
      }
      assert.ok([...healthy.plain, ...healthy.waiting].every((a) => a.status === 201));

      // The replica is cut off (frozen, its link dropped): writes now live on the master only.
      const oldMaster = await sentinel.masterPort();
      const master = sentinel.servers.find((server) => server.port === oldMaster)!;
      const [replica] = sentinel.servers.filter((server) => server !== master);
      assert.ok(replica);
      replica.pause();
      await redisCli(master.port, 'client', 'kill', 'type', 'replica');
      const isolated = { plain: [] as Registration[], waiting: [] as Registration[] };
      for (let i = 0; i < 5; i++) {
        isolated.plain.push(await register(plain, `Isolated ${i}`));
        isolated.waiting.push(await register(waiting, `Isolated ${i}`));
      }
      // The master dies before the replica is back; the replica is promoted without those writes.
      await master.kill9();
      replica.resume();
      await sentinel.failedOverFrom(oldMaster, FAILOVER_WITHIN_MS);
      await Promise.all([readyAgain(plain), readyAgain(waiting)]);

      const lost = async (issuer: IssuerProcess, answers: Registration[]) => {
        let count = 0;
        for (const answer of answers) if (answer.clientId && !(await known(issuer, answer.clientId))) count++;
        return count;
      };
      const result = {
        plainAcked: isolated.plain.filter((a) => a.status === 201).length,
        plainLost: await lost(plain, [...healthy.plain, ...isolated.plain]),
        waitingAcked: isolated.waiting.filter((a) => a.status === 201).length,
        waitingLost: await lost(waiting, [...healthy.waiting, ...isolated.waiting]),
      };
      assert.equal(result.plainAcked, 5, 'without WAIT the isolated master acknowledges');
      assert.equal(result.plainLost, 5, 'and the failover loses what it acknowledged');
      assert.equal(result.waitingAcked, 0, 'with WAIT 1 nothing is acknowledged without a replica');
      assert.ok(isolated.waiting.every((a) => a.status === 503 && a.ms < SLOWEST_MS), JSON.stringify(isolated.waiting));
      assert.equal(result.waitingLost, 0, 'with WAIT 1 no acknowledged client is lost');

      const median = (answers: Registration[]) => [...answers.map((a) => a.ms)].sort((x, y) => x - y)[Math.floor(answers.length / 2)]!;
      t.diagnostic(`without WAIT: ${result.plainAcked} acknowledged while the replica was cut off, ${result.plainLost} lost in the failover; with WAIT 1: ${result.waitingAcked} acknowledged (${isolated.waiting.length} answered 503 after ~${Math.round(median(isolated.waiting))} ms), ${result.waitingLost} lost; healthy registration median ${Math.round(median(healthy.plain))} ms without WAIT, ${Math.round(median(healthy.waiting))} ms with`);
    } finally {
      await Promise.all([plain.stop(), waiting.stop()]);
    }
  });
});
