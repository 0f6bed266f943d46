// What a Redis reply error carries out of the store: ioredis attaches the command and its
// arguments (the payload: client secrets, tokens) to the error, and a logger serialises them.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';

import { Redis } from 'ioredis';
import Koa from 'koa';

import { isStoreUnavailable } from '../adapters/contract.ts';
import type { Store } from '../adapters/contract.ts';
import { createErrorHandler } from '../src/error_handler.ts';
import { createTestStore } from './support/issuer.ts';
import { captureLogs } from './support/log_capture.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';

const SECRET = 'client-secret-that-must-never-be-logged-7f3a';

describe('Redis reply errors leave the payload behind', () => {
  let redis: TestRedis;
  let raw: Redis;
  let store: Store;
  const prefix = uniquePrefix('reply-errors');

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
    const created = createTestStore({ kind: 'redis', url: redis.url, prefix });
    store = created.store;
    await created.ready;
  });
  after(async () => {
    await store?.close();
    raw?.disconnect();
    await redis?.stop();
  });

  /**
   * Store an access token whose grant index key holds a string, not a set: Redis answers
   * WRONGTYPE while the command's arguments hold the token's payload.
   */
  async function failedUpsert(grantId: string): Promise<unknown> {
    await raw.set(`${prefix}grant:${grantId}`, 'not a set');
    try {
      await store.adapterFor('AccessToken').upsert(`at-${grantId}`, { grantId, accountId: 'alice', secret: SECRET }, 60);
    } catch (error) {
      return error;
    }
    assert.fail('the upsert succeeded over a grant index of the wrong type');
  }

  test('the thrown error names the reply, not the arguments', async () => {
    const error = await failedUpsert('wrongtype-1');
    assert.ok(error instanceof Error);
    assert.match(error.message, /WRONGTYPE/);
    assert.ok(!isStoreUnavailable(error), 'a wrong type is a bug (500), not an outage');
    const everything = inspect(error, { depth: Infinity, showHidden: true });
    assert.doesNotMatch(everything, new RegExp(SECRET), everything);
    assert.doesNotMatch(JSON.stringify(error), new RegExp(SECRET));
  });

  test('the error handler logs it (500) without the payload', async () => {
    const logs = captureLogs('info');
    const app = new Koa();
    app.silent = true;
    app.use(createErrorHandler(logs.logger));
    app.use(async () => {
      throw await failedUpsert('wrongtype-2');
    });
    const server = createServer(app.callback()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { headers: { accept: 'application/json' } });
      assert.equal(response.status, 500);
      assert.doesNotMatch(await response.text(), /WRONGTYPE/);
    } finally {
      server.close();
    }
    const text = logs.text();
    assert.match(text, /WRONGTYPE/, 'the reply itself is logged');
    assert.doesNotMatch(text, new RegExp(SECRET), text);
  });
});
