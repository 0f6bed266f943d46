// Another connection holding SQLite's write lock: the store gives up after a short wait with
// StoreUnavailableError, and the issuer answers 503 with Retry-After, not 500.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';

import { isStoreUnavailable } from '../adapters/contract.ts';
import { createSqliteStore } from '../adapters/sqlite.ts';
import { startIssuer } from './support/issuer.ts';

describe('SQLite locked by another connection', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'issuer-sqlite-busy-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Hold the write lock (BEGIN IMMEDIATE) from a second connection while `during` runs. */
  async function whileLocked(file: string, during: () => Promise<void>): Promise<void> {
    const other = new DatabaseSync(file);
    other.exec('BEGIN IMMEDIATE');
    try {
      await during();
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  }

  test('a write rejects with StoreUnavailableError within about a second, and works once the lock is gone', async () => {
    const file = join(dir, 'store.sqlite');
    const store = createSqliteStore({ file });
    try {
      await store.putDocument('probe', { ok: true });
      await whileLocked(file, async () => {
        const started = performance.now();
        await assert.rejects(store.adapterFor('Session').upsert('s1', { accountId: 'a' }, 60), (error) => isStoreUnavailable(error) && /locked/.test(error.reason));
        await assert.rejects(store.increment('counter', 60), isStoreUnavailable);
        const waited = performance.now() - started;
        assert.ok(waited < 3000, `two writes waited ${Math.round(waited)} ms`);
        assert.deepEqual(await store.getDocument('probe'), { ok: true }, 'reads go on beside the writer (WAL)');
      });
      await store.adapterFor('Session').upsert('s1', { accountId: 'a' }, 60);
      assert.equal((await store.adapterFor('Session').find('s1'))?.accountId, 'a');
    } finally {
      await store.close();
    }
  });

  test('the issuer answers 503 with Retry-After while the lock is held', async () => {
    const file = join(dir, 'issuer.sqlite');
    const issuer = await startIssuer({ backend: { kind: 'sqlite', file }, overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
    try {
      const register = () => fetch(new URL('oidc/register', issuer.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'Busy test', redirect_uris: ['https://app.example.com/cb'] }),
      });
      await whileLocked(file, async () => {
        const response = await register();
        assert.equal(response.status, 503, await response.clone().text());
        assert.equal(response.headers.get('retry-after'), '1');
        assert.equal(((await response.json()) as { error?: string }).error, 'temporarily_unavailable');
      });
      assert.equal((await register()).status, 201);
    } finally {
      await issuer.close();
    }
  });
});
