// Start the real issuer in this process on 127.0.0.1:0, over a real SQLite file or a real Redis.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pino } from 'pino';
import type { Logger } from 'pino';

import { createApp } from '../../src/app.ts';
import type { Issuer } from '../../src/app.ts';
import { mergeConfig, parseConfig } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import type { Store } from '../../adapters/contract.ts';
import { createRedisStore } from '../../adapters/redis.ts';
import { createRedisClient, waitUntilReady } from '../../adapters/redis_client.ts';
import type { RedisTarget } from '../../adapters/redis_client.ts';
import { createSqliteStore } from '../../adapters/sqlite.ts';
import { uniquePrefix } from './redis.ts';

export const ALICE = { email: 'alice@example.com', password: 'alice-password-1', name: 'Alice Example' };
export const OPS = { client_id: 'ops-console', client_secret: 'ops-console-test-secret' };
export const CONTACTS_API = 'https://contacts.example.com/';

/** A complete test configuration for `issuer`, with `overrides` merged over it (lists replace). */
export function testConfig(issuer: string, overrides: Record<string, unknown> = {}): Config {
  const base = {
    env: 'test',
    issuer,
    port: 0,
    storage: { sqlite_file: ':memory:' },
    apis: [{ identifier: CONTACTS_API, name: 'Contacts API', scopes: ['read:contacts', 'write:contacts'] }],
    clients: [{ ...OPS, name: 'Ops console', grant_types: ['client_credentials'] }],
    client_grants: [
      { client_id: OPS.client_id, audience: '/api/v2/', scope: ['read:tenant_settings', 'update:tenant_settings'] },
      { client_id: OPS.client_id, audience: CONTACTS_API, scope: ['read:contacts'] },
    ],
    users: [ALICE],
    log: { level: 'silent' },
  };
  return parseConfig(mergeConfig(base, overrides));
}

/** Redis by `url` (one server) or by any `target` (Cluster, Sentinel), with the issuer's own client options. */
export type Backend =
  | { kind: 'sqlite'; file?: string }
  | { kind: 'redis'; url: string; prefix?: string; waitForReplicas?: { replicas: number; timeoutMs: number } }
  | { kind: 'redis'; target: RedisTarget; prefix?: string; waitForReplicas?: { replicas: number; timeoutMs: number } };

export type RunningIssuer = Issuer & {
  url: string;
  config: Config;
  store: Store;
  logger: Logger;
  close(): Promise<void>;
};

/**
 * TEST_REDIS_TARGET (a RedisTarget as JSON) sends every Redis backend, and issuers started
 * without a backend, to that topology: how test/redis_cluster.test.ts and
 * test/redis_sentinel.test.ts run the registration and implicit flow suites unchanged.
 */
const REDIS_TARGET_OVERRIDE = process.env.TEST_REDIS_TARGET ? (JSON.parse(process.env.TEST_REDIS_TARGET) as RedisTarget) : undefined;

/** TEST_REDIS_WAIT_REPLICAS: the same for redis_wait_replicas (Sentinel runs wait for 1). */
const WAIT_OVERRIDE = Number(process.env.TEST_REDIS_WAIT_REPLICAS) > 0 ? { replicas: Number(process.env.TEST_REDIS_WAIT_REPLICAS), timeoutMs: 250 } : undefined;

export function createTestStore(backend: Backend): { store: Store; ready: Promise<void>; cleanup(): void } {
  if (backend.kind === 'redis') {
    const target = REDIS_TARGET_OVERRIDE ?? ('target' in backend ? backend.target : { kind: 'server', url: backend.url });
    // The client main.ts would build, so tests see the production timeouts and retries.
    const client = createRedisClient(target);
    client.on('error', () => {}); // reconnects are expected in outage tests; ioredis would print each
    const store = createRedisStore({ client, prefix: backend.prefix ?? uniquePrefix('issuer'), waitForReplicas: backend.waitForReplicas ?? WAIT_OVERRIDE });
    return { store, ready: waitUntilReady(client, 10_000), cleanup() {} };
  }
  const ready = Promise.resolve();
  if (backend.file) return { store: createSqliteStore({ file: backend.file }), ready, cleanup() {} };
  const dir = mkdtempSync(join(tmpdir(), 'issuer-test-'));
  return { store: createSqliteStore({ file: join(dir, 'issuer.sqlite') }), ready, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Listen first (the issuer's URL holds the port), then build the app over the given backend.
 * `port` may be fixed to restart an issuer at the same URL.
 */
export async function startIssuer(options: { backend?: Backend; overrides?: Record<string, unknown> | ((url: string) => Record<string, unknown>); port?: number; logger?: Logger } = {}): Promise<RunningIssuer> {
  const server = createServer();
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/`;
  const config = testConfig(url, typeof options.overrides === 'function' ? options.overrides(url) : options.overrides);
  const fallback: Backend = REDIS_TARGET_OVERRIDE ? { kind: 'redis', target: REDIS_TARGET_OVERRIDE } : { kind: 'sqlite' };
  const { store, ready, cleanup } = createTestStore(options.backend ?? fallback);
  try {
    await ready;
  } catch (error) {
    server.close();
    await store.close();
    cleanup();
    throw error;
  }
  const logger = options.logger ?? pino({ level: 'silent' });
  const issuer = await createApp({ config, store, logger });
  server.on('request', issuer.listener);
  return {
    ...issuer,
    url,
    config,
    store,
    logger,
    async close() {
      issuer.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      cleanup();
    },
  };
}
