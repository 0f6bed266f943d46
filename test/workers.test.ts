// WEB_CONCURRENCY=N: one primary and N worker processes on one port, over Redis. A worker that
// dies is replaced, SIGTERM stops them all and the primary exits 0. With SQLite the issuer
// stays one process and says why in one line.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { SERVER_V8_FLAGS } from '../src/server_flags.ts';
import { commandLine } from './support/proc.ts';
import { startIssuerProcess } from './support/process.ts';
import { waitFor } from './support/wait.ts';
import type { IssuerProcess } from './support/process.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';

type LogLine = Record<string, unknown>;

function lines(issuer: IssuerProcess): LogLine[] {
  return issuer.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogLine);
}

const readyLines = (issuer: IssuerProcess) => lines(issuer).filter((line) => String(line.msg).startsWith('issuer ready at'));
const started = (issuer: IssuerProcess) => lines(issuer).filter((line) => line.event === 'worker_started');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function register(url: string): Promise<number> {
  // A kept-alive connection to a worker that was killed is reset; a client (or a load
  // balancer) tries again once, on a new connection that reaches a live worker.
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(new URL('oidc/register', url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'Worker test', redirect_uris: ['https://app.example.com/cb'] }),
        signal: AbortSignal.timeout(5000),
      });
      await response.arrayBuffer();
      return response.status;
    } catch (error) {
      if (attempt >= 2 || !/ECONNRESET|other side closed|fetch failed/.test(`${String(error)} ${String((error as { cause?: unknown }).cause)}`)) throw error;
    }
  }
}

let dir: string;
let configFile: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'issuer-workers-'));
  configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, 'tenant: { flags: { enable_dynamic_client_registration: true } }\nregistration: { rate_limit: { per_second: 1000, burst: 1000 } }\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('WEB_CONCURRENCY on Redis', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test('2 workers serve one port; a killed worker is replaced; SIGTERM stops all and exits 0', async (t) => {
    const issuer = await startIssuerProcess({ CONFIG_FILE: configFile, REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('workers'), WEB_CONCURRENCY: '2' }, 20_000);
    let pids: number[] = [];
    try {
      await waitFor(() => readyLines(issuer).length >= 2, 15_000, 'two workers ready');
      pids = started(issuer).map((line) => Number(line.pid));
      assert.equal(pids.length, 2);
      assert.ok(pids.every(alive));
      // The primary was started without the server's V8 flags (plain `node src/main.ts`): the workers get them.
      for (const pid of pids) for (const flag of SERVER_V8_FLAGS) assert.ok(commandLine(pid).includes(flag), `worker ${pid}: ${commandLine(pid).join(' ')}`);
      for (let i = 0; i < 6; i++) assert.equal(await register(issuer.url), 201);

      // A worker dies unexpectedly: the other keeps serving, the primary starts a new one.
      const [victim] = pids;
      process.kill(victim!, 'SIGKILL');
      const killedAt = performance.now();
      for (let i = 0; i < 6; i++) assert.equal(await register(issuer.url), 201, 'served by the remaining worker');
      await waitFor(() => readyLines(issuer).length >= 3, 15_000, 'a replacement worker is ready');
      const replacedMs = performance.now() - killedAt;
      assert.ok(lines(issuer).some((line) => line.event === 'worker_died' && line.pid === victim && line.signal === 'SIGKILL'));
      pids = started(issuer).map((line) => Number(line.pid)).filter(alive);
      assert.equal(pids.length, 2, 'two workers again');
      assert.equal(await register(issuer.url), 201);
      t.diagnostic(`a replacement worker was ready ${Math.round(replacedMs)} ms after the kill`);
    } finally {
      const stopping = performance.now();
      assert.equal(await issuer.stop('SIGTERM'), 0, issuer.output().slice(-3000));
      t.diagnostic(`SIGTERM to exit 0: ${Math.round(performance.now() - stopping)} ms`);
    }
    assert.deepEqual(pids.filter(alive), [], 'no worker outlives the primary');
    assert.ok(lines(issuer).some((line) => line.msg === 'every worker has stopped'));
  });

  test('the config file is applied once, at start and on SIGHUP, and every worker follows', async () => {
    const hupConfig = join(dir, 'hup.yaml');
    writeFileSync(hupConfig, 'tenant: { flags: { enable_dynamic_client_registration: true } }\nregistration: { rate_limit: { per_second: 1000, burst: 1000 } }\n');
    const issuer = await startIssuerProcess({ CONFIG_FILE: hupConfig, REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('workers-hup'), WEB_CONCURRENCY: '2' }, 20_000);
    const audits = () => lines(issuer).filter((line) => line.audit === 'tenant_settings');
    try {
      await waitFor(() => readyLines(issuer).length >= 2, 15_000, 'two workers ready');
      assert.equal(audits().length, 1, 'the flag from the file was applied by one worker, not by each');

      writeFileSync(hupConfig, 'tenant: { flags: { enable_dynamic_client_registration: false } }\nregistration: { rate_limit: { per_second: 1000, burst: 1000 } }\n');
      issuer.child.kill('SIGHUP');
      await waitFor(() => audits().length === 2, 5000, 'the change applied');
      const deadline = Date.now() + 1500;
      let refusedInARow = 0;
      // Connections spread over both workers: each must refuse within the settings cache time.
      while (refusedInARow < 6) {
        assert.ok(Date.now() < deadline, 'a worker still registers after the SIGHUP');
        refusedInARow = (await register(issuer.url)) === 403 ? refusedInARow + 1 : 0;
      }
      await sleep(300);
      assert.equal(lines(issuer).filter((line) => line.msg === 'configuration reloaded (tenant flags)').length, 1, 'one worker reloads');
      assert.equal(audits().length, 2, 'the change is audited once');
      assert.equal(audits()[1]!.new_value, false);
    } finally {
      assert.equal(await issuer.stop('SIGINT'), 0, issuer.output().slice(-3000));
    }
  });

  test('the first worker dies before it listens: its replacement still brings the others up', async () => {
    // A Redis of its own, frozen, holds every worker in its start (waiting for Redis), so the
    // first one can be killed before it listens, deterministically.
    const frozen = await startRedis();
    const prefix = uniquePrefix('workers-early-death');
    frozen.pause();
    const starting = startIssuerProcess({ CONFIG_FILE: configFile, REDIS_URL: frozen.url, REDIS_PREFIX: prefix, WEB_CONCURRENCY: '2' }, 20_000);
    let issuer: IssuerProcess | undefined;
    try {
      let first: number | undefined;
      await waitFor(() => (first = workerPids(prefix)[0]) !== undefined, 10_000, 'the first worker started');
      process.kill(first!, 'SIGKILL');
      frozen.resume();
      issuer = await starting;
      await waitFor(() => readyLines(issuer!).length >= 2, 15_000, 'two workers ready');
      assert.ok(lines(issuer).some((line) => line.event === 'worker_died' && line.pid === first));
      assert.equal(started(issuer).map((line) => Number(line.pid)).filter(alive).length, 2);
    } finally {
      frozen.resume();
      issuer ??= await starting.catch(() => undefined);
      if (issuer) assert.equal(await issuer.stop('SIGTERM'), 0, issuer.output().slice(-3000));
      await frozen.stop();
    }
  });
});

/** Cluster workers (NODE_UNIQUE_ID in their environment) of the issuer started with this prefix. */
function workerPids(prefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`REDIS_PREFIX=${prefix}`) && env.some((line) => line.startsWith('NODE_UNIQUE_ID='))) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

test('WEB_CONCURRENCY with SQLite: one process, and one line that says why', async () => {
  const issuer = await startIssuerProcess({ CONFIG_FILE: configFile, SQLITE_FILE: join(dir, 'issuer.sqlite'), WEB_CONCURRENCY: '3' });
  try {
    assert.equal(await register(issuer.url), 201);
    const notes = lines(issuer).filter((line) => /web_concurrency 3 ignored/.test(String(line.msg)));
    assert.equal(notes.length, 1, issuer.output());
    assert.match(String(notes[0]!.msg), /SQLite/);
    assert.equal(started(issuer).length, 0);
    assert.equal(readyLines(issuer).length, 1);
  } finally {
    assert.equal(await issuer.stop('SIGTERM'), 0);
  }
});
