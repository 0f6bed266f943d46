// store.close() leaves nothing behind on any backend: no ioredis client, no Sentinel
// subscription, no timer. A child process opens and closes stores at every moment of their
// connection (test/support/store_close_probe.ts) and must then exit by itself; what it still
// holds right after the last close is listed, so a failure names the leak. This is what lets
// the test runner go without --test-force-exit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';
import { startRedisCluster, startRedisSentinel } from './support/redis_topologies.ts';
import type { TestRedisCluster, TestRedisSentinel } from './support/redis_topologies.ts';
import { useTempDir } from './support/temp_dir.ts';

const PROBE = fileURLToPath(new URL('./support/store_close_probe.ts', import.meta.url));
/** Opening and closing 32 stores takes well under this; a leak keeps the process for a minute. */
const EXIT_WITHIN_MS = 15_000;
/** After the last close, the process has nothing left to do but exit. */
const EXIT_AFTER_CLOSE_MS = 1000;
// Resources that mean a connection or a timer survived (process.getActiveResourcesInfo names).
const LEAKS = new Set(['TCPSocketWrap', 'TCPWRAP', 'Timeout', 'Immediate', 'TCPConnectWrap', 'GetAddrInfoReqWrap']);

async function probe(env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, [PROBE], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let closedAt = 0;
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    if (!closedAt && stdout.includes('"closed":true')) closedAt = performance.now();
  });
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  const exitedAt = performance.now();
  clearTimeout(killer);
  assert.ok(closedAt > 0, `the probe did not finish closing its stores (exit ${code ?? signal}):\n${stderr}`);
  const { alive } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { alive: string[] };
  assert.equal(signal, null, `the probe was killed: it did not exit by itself within ${EXIT_WITHIN_MS} ms after closing (alive: ${alive.join(', ')})`);
  const leaked = alive.filter((resource) => LEAKS.has(resource));
  assert.deepEqual(leaked, [], `still alive right after store.close(): ${alive.join(', ')}`);
  assert.equal(code, 0, stderr);
  assert.ok(exitedAt - closedAt < EXIT_AFTER_CLOSE_MS, `exited ${Math.round(exitedAt - closedAt)} ms after the last close`);
}

const dir = useTempDir('issuer-store-close-');

describe('store.close() leaves nothing running', () => {
  let redis: TestRedis;
  let cluster: TestRedisCluster;
  let sentinel: TestRedisSentinel;

  before(async () => {
    [redis, cluster, sentinel] = await Promise.all([startRedis(), startRedisCluster(), startRedisSentinel()]);
  });
  after(async () => {
    await Promise.all([redis?.stop(), cluster?.stop(), sentinel?.stop()]);
  });

  it('SQLite', async () => {
    await probe({ PROBE_KIND: 'sqlite', PROBE_FILE: `${dir.path}/issuer.sqlite` });
  });

  it('Redis, one server', async () => {
    await probe({ PROBE_KIND: 'redis', PROBE_TARGET: JSON.stringify({ kind: 'server', url: redis.url }), PROBE_PREFIX: uniquePrefix('store-close') });
  });

  it('Redis Cluster', async () => {
    await probe({ PROBE_KIND: 'redis', PROBE_TARGET: JSON.stringify(cluster.target), PROBE_PREFIX: uniquePrefix('store-close') });
  });

  it('Redis Sentinel with its failover detector, and WAIT on a second connection', async () => {
    await probe({ PROBE_KIND: 'redis', PROBE_TARGET: JSON.stringify(sentinel.target), PROBE_PREFIX: uniquePrefix('store-close'), PROBE_WAIT_REPLICAS: '1' });
  });
});
