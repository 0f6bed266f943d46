// Group commit in the SQLite store (adapters/sqlite_group_commit.ts): concurrent writes share one
// transaction, reads see writes still queued, a write is answered only once it is committed,
// a failed transaction rejects all of its writes, and kill -9 loses nothing acknowledged; and
// lookups by secondary keys stay on their indexes as the file grows.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';

import { isStoreUnavailable } from '../adapters/contract.ts';
import { createSqliteStore, LOOKUP_SQL } from '../adapters/sqlite.ts';
import { startIssuerProcess } from './support/process.ts';

describe('sqlite group commit', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'issuer-sqlite-group-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A store whose commits are recorded (writes per commit, and whether it succeeded). */
  function openStore(name: string) {
    const file = join(dir, `${name}.sqlite`);
    const commits: Array<{ writes: number; ok: boolean }> = [];
    const store = createSqliteStore({ file, onCommit: (writes, ok) => commits.push({ writes, ok }) });
    return { file, store, commits };
  }

  test('writes issued together share one transaction; each is answered only once another connection can read it', async () => {
    const { file, store, commits } = openStore('grouped');
    const raw = new DatabaseSync(file, { readOnly: true });
    try {
      const clients = store.adapterFor('Client');
      const visibleWhenAnswered: boolean[] = [];
      await Promise.all(Array.from({ length: 50 }, (_, i) => clients.upsert(`c${i}`, { client_id: `c${i}` }).then(() => {
        visibleWhenAnswered.push(raw.prepare("SELECT 1 FROM models WHERE model = 'Client' AND id = $id").get({ id: `c${i}` }) !== undefined);
      })));
      assert.deepEqual(commits, [{ writes: 50, ok: true }], 'one commit for the 50 concurrent writes');
      assert.equal(visibleWhenAnswered.length, 50);
      assert.ok(visibleWhenAnswered.every(Boolean), 'a write was answered before it was committed');

      // One after the other, each waits for its own commit.
      commits.length = 0;
      for (let i = 0; i < 3; i++) await store.putDocument('sequential', { i });
      assert.deepEqual(commits, [{ writes: 1, ok: true }, { writes: 1, ok: true }, { writes: 1, ok: true }]);

      // Counters and client slots do not join the durable group commit (nor wait for its fsync):
      // they have a group of their own, without fsync, readable by another connection once answered.
      commits.length = 0;
      const counted = await Promise.all(Array.from({ length: 5 }, () => store.increment('volatile', 60)));
      assert.deepEqual(counted.sort(), [1, 2, 3, 4, 5]);
      assert.equal(Number(raw.prepare("SELECT value FROM counters WHERE key = 'volatile'").get()?.value), 5);
      const slot = await store.reserveClientSlot(100, 60, 'client-with-a-slot');
      assert.equal(slot, 'client-with-a-slot');
      assert.ok(raw.prepare("SELECT 1 FROM client_slots WHERE id = 'client-with-a-slot'").get(), 'the slot is readable at once');
      assert.deepEqual(commits, [], 'no group commit for counters and slots');
      // The client that slot was for takes it over in the group commit that stores it.
      await clients.upsert('client-with-a-slot', { client_id: 'client-with-a-slot' });
      assert.deepEqual(commits, [{ writes: 1, ok: true }]);
      assert.equal(raw.prepare("SELECT 1 FROM client_slots WHERE id = 'client-with-a-slot'").get(), undefined);
    } finally {
      raw.close();
      await store.close();
    }
  });

  test('a read right after an un-awaited write sees it', async () => {
    const { store, commits } = openStore('read-your-writes');
    try {
      const sessions = store.adapterFor('Session');
      const written = sessions.upsert('s1', { uid: 'u1', accountId: 'a' }, 60);
      assert.deepEqual(await sessions.find('s1'), { uid: 'u1', accountId: 'a' });
      await written;

      const pending = [
        sessions.upsert('s2', { uid: 'u2' }, 60),
        store.adapterFor('Client').upsert('c1', { client_id: 'c1' }),
        store.putDocument('settings', { flag: true }),
      ];
      assert.deepEqual(await sessions.findByUid('u2'), { uid: 'u2' });
      assert.equal(await store.countClients(), 1);
      assert.deepEqual(await store.getDocument('settings'), { flag: true });
      await Promise.all(pending);

      const grantId = 'g1';
      await store.adapterFor('AccessToken').upsert('at1', { grantId }, 60);
      const revoked = store.adapterFor('AccessToken').revokeByGrantId(grantId);
      assert.equal(await store.adapterFor('AccessToken').find('at1'), undefined);
      await revoked;

      const consumed = store.adapterFor('AuthorizationCode').upsert('code', { grantId }, 60).then(() => {});
      const marking = store.adapterFor('AuthorizationCode').consume('code');
      assert.equal(typeof (await store.adapterFor('AuthorizationCode').find('code'))?.consumed, 'number');
      await Promise.all([consumed, marking]);

      // A read of something no queued write touches leaves the batch to grow.
      commits.length = 0;
      const batch = [sessions.upsert('s3', { uid: 'u3' }, 60), sessions.upsert('s4', { uid: 'u4' }, 60)];
      assert.equal(await store.adapterFor('Client').find('unrelated'), undefined);
      const third = sessions.upsert('s5', { uid: 'u5' }, 60);
      await Promise.all([...batch, third]);
      assert.deepEqual(commits, [{ writes: 3, ok: true }]);
    } finally {
      await store.close();
    }
  });

  test('a transaction that cannot start rejects every write in it with StoreUnavailableError, after one wait', async () => {
    const { file, store, commits } = openStore('locked');
    const other = new DatabaseSync(file);
    try {
      await store.putDocument('probe', { ok: true });
      commits.length = 0;
      other.exec('BEGIN IMMEDIATE');
      const started = performance.now();
      const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => store.adapterFor('Client').upsert(`locked-${i}`, { client_id: `locked-${i}` })));
      const waited = performance.now() - started;
      other.exec('ROLLBACK');
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        assert.ok(isStoreUnavailable(result.reason), String(result.reason));
      }
      assert.deepEqual(commits, [{ writes: 5, ok: false }]);
      // One busy wait (about a second) for the whole batch, not one per write.
      assert.ok(waited < 2500, `five writes waited ${Math.round(waited)} ms`);
      assert.equal(await store.countClients(), 0, 'nothing of the failed batch is stored');
      await store.adapterFor('Client').upsert('after', { client_id: 'after' });
      assert.equal(await store.countClients(), 1);
    } finally {
      other.close();
      await store.close();
    }
  });
});

// Runs in a child process: concurrent writes, 25 at a time, printing each id once its write
// was answered (stdout to a pipe is synchronous on Linux), until it is killed.
const WRITER = `
const { createSqliteStore } = await import(process.env.WRITER_SQLITE);
const store = createSqliteStore({ file: process.env.WRITER_FILE, onCommit: (writes) => { if (writes > 1) process.stdout.write('batch ' + writes + '\\n'); } });
const clients = store.adapterFor('Client');
let n = 0;
for (;;) {
  await Promise.all(Array.from({ length: 25 }, () => {
    const id = 'client-' + n++;
    return clients.upsert(id, { client_id: id }).then(() => process.stdout.write('ack ' + id + '\\n'));
  }));
}
`;

describe('sqlite durability under group commit', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'issuer-sqlite-kill-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const killAfter of [200, 500, 1000, 1500, 2000, 3000]) {
    test(`kill -9 after about ${killAfter} acknowledged writes loses none of them`, async (t) => {
      const file = join(dir, `kill-${killAfter}.sqlite`);
      const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER], {
        env: { ...process.env, WRITER_SQLITE: new URL('../adapters/sqlite.ts', import.meta.url).href, WRITER_FILE: file },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const acknowledged: string[] = [];
      let batches = 0;
      let buffered = '';
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith('ack ')) acknowledged.push(line.slice(4));
          else if (line.startsWith('batch ')) batches++;
        }
        if (acknowledged.length >= killAfter) child.kill('SIGKILL');
      });
      const signal = await exited;
      clearTimeout(guard);
      assert.equal(signal, 'SIGKILL', stderr);
      assert.ok(acknowledged.length >= killAfter, `only ${acknowledged.length} writes acknowledged: ${stderr}`);
      assert.ok(batches > 0, 'no commit carried more than one write');

      const store = createSqliteStore({ file });
      try {
        const clients = store.adapterFor('Client');
        const missing: string[] = [];
        for (const id of acknowledged) if ((await clients.find(id)) === undefined) missing.push(id);
        const stored = await store.countClients();
        t.diagnostic(`${acknowledged.length} acknowledged, ${stored} stored (writes in flight may be there too), ${batches} grouped commits`);
        assert.deepEqual(missing, [], 'acknowledged writes lost');
      } finally {
        await store.close();
      }
    });
  }
});

// The same through the issuer: registrations on 10 connections at once, kill -9 of the issuer
// (SQLite backend), and every client answered with 201 is in the file afterwards.
test('kill -9 of the issuer on SQLite loses no client acknowledged with 201', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'issuer-sqlite-kill-http-'));
  const file = join(dir, 'issuer.sqlite');
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, 'tenant: { flags: { enable_dynamic_client_registration: true } }\nregistration: { rate_limit: { per_second: 100000, burst: 100000 } }\n');
  const issuer = await startIssuerProcess({ CONFIG_FILE: configFile, SQLITE_FILE: file });
  try {
    const acknowledged: string[] = [];
    let killed = false;
    const stream = async () => {
      while (!killed) {
        try {
          const response = await fetch(new URL('oidc/register', issuer.url), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ client_name: 'Durable', redirect_uris: ['https://app.example.com/cb'] }),
            signal: AbortSignal.timeout(5000),
          });
          const body = (await response.json()) as { client_id?: string };
          if (response.status === 201 && body.client_id) acknowledged.push(body.client_id);
          // At once, from the answer itself: the kill lands while later writes are in flight.
          if (acknowledged.length === 300) issuer.child.kill('SIGKILL');
        } catch {
          // The kill resets the connections in flight: those were not acknowledged.
        }
      }
    };
    const streams = Array.from({ length: 10 }, stream);
    while (acknowledged.length < 300) await new Promise((resolve) => setTimeout(resolve, 5));
    await issuer.stop('SIGKILL');
    killed = true;
    await Promise.all(streams);

    const store = createSqliteStore({ file });
    try {
      const missing: string[] = [];
      for (const clientId of acknowledged) if ((await store.adapterFor('Client').find(clientId)) === undefined) missing.push(clientId);
      t.diagnostic(`${acknowledged.length} registrations acknowledged before kill -9, ${missing.length} missing, ${await store.countClients()} clients stored`);
      assert.deepEqual(missing, [], 'acknowledged clients lost');
    } finally {
      await store.close();
    }
  } finally {
    await issuer.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

// Cost that grows with the tenant: a lookup by uid or user code must go through its index, not
// read every entity of the model (SQLite's planner, without statistics, prefers the primary key).
test('lookups by uid and user code use their indexes, whatever the number of rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'issuer-sqlite-plan-'));
  const file = join(dir, 'plan.sqlite');
  const store = createSqliteStore({ file });
  const sessions = store.adapterFor('Session');
  await Promise.all(Array.from({ length: 2000 }, (_, i) => sessions.upsert(`s${i}`, { uid: `u${i}` }, 600)));
  const raw = new DatabaseSync(file);
  try {
    const plan = (sql: string) => raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all().map((row) => String(row.detail)).join(' | ');
    assert.match(plan(LOOKUP_SQL.findByUid), /USING INDEX models_uid \(model=\? AND uid=\?\)/);
    assert.match(plan(LOOKUP_SQL.findByUserCode), /USING INDEX models_user_code \(model=\? AND user_code=\?\)/);
    assert.deepEqual(await sessions.findByUid('u1999'), { uid: 'u1999' });
  } finally {
    raw.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
