// Start the real issuer in this process on 127.0.0.1:0, over a real SQLite file or a real Redis.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Logger } from 'pino';

import { createApp } from '../../src/app.ts';
import type { Issuer } from '../../src/app.ts';
import { mergeConfig, parseConfig } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import type { Store } from '../../adapters/contract.ts';
import { createRedisStore } from '../../adapters/redis.ts';
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

export type Backend = { kind: 'sqlite'; file?: string } | { kind: 'redis'; url: string; prefix?: string };

export type RunningIssuer = Issuer & {
  url: string;
  config: Config;
  store: Store;
  logger: Logger;
  close(): Promise<void>;
};

export function createTestStore(backend: Backend): { store: Store; cleanup(): void } {
  if (backend.kind === 'redis') {
    const client = new Redis(backend.url, { maxRetriesPerRequest: 1, lazyConnect: false });
    return { store: createRedisStore({ client, prefix: backend.prefix ?? uniquePrefix('issuer') }), cleanup() {} };
  }
  if (backend.file) return { store: createSqliteStore({ file: backend.file }), cleanup() {} };
  const dir = mkdtempSync(join(tmpdir(), 'issuer-test-'));
  return { store: createSqliteStore({ file: join(dir, 'issuer.sqlite') }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
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
  const { store, cleanup } = createTestStore(options.backend ?? { kind: 'sqlite' });
  const logger = options.logger ?? pino({ level: 'silent' });
  const issuer = await createApp({ config, store, logger });
  server.on('request', issuer.app.callback());
  return {
    ...issuer,
    url,
    config,
    store,
    logger,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      cleanup();
    },
  };
}
