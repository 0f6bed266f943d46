// Child process of test/store_close.test.ts: opens stores the way src/main.ts does and closes
// them at every moment of their connection (in use, right away, and 1..30 ms after opening,
// while a Sentinel client is between asking the sentinels and reaching the master). Then it
// prints what is still alive and must exit on its own: it never calls process.exit.
import { setImmediate as tick } from 'node:timers/promises';

import type { Store } from '../../adapters/contract.ts';
import { createRedisStore } from '../../adapters/redis.ts';
import { createRedisClient } from '../../adapters/redis_client.ts';
import type { RedisTarget } from '../../adapters/redis_client.ts';
import { createSqliteStore } from '../../adapters/sqlite.ts';

const kind = process.env.PROBE_KIND;
const target = process.env.PROBE_TARGET ? (JSON.parse(process.env.PROBE_TARGET) as RedisTarget) : undefined;
const replicas = Number(process.env.PROBE_WAIT_REPLICAS ?? 0);

function open(): Store {
  if (kind === 'sqlite') return createSqliteStore({ file: process.env.PROBE_FILE!, sweepIntervalMs: 10 });
  if (!target) throw new Error('PROBE_TARGET is required for redis');
  return createRedisStore({ client: createRedisClient(target), prefix: process.env.PROBE_PREFIX, waitForReplicas: replicas > 0 ? { replicas, timeoutMs: 250 } : undefined });
}

// In use: every kind of call, durable writes (the WAIT connection) included.
const used = open();
await used.adapterFor('Session').upsert('probe', { uid: 'probe-uid' }, 60);
await used.adapterFor('Session').findByUid('probe-uid');
await used.putDocument('probe', { at: Date.now() });
await used.increment('probe', 60);
await used.ping();
await used.close();

// Closed before, while and just after the connection is made.
for (let delayMs = 0; delayMs <= 30; delayMs++) {
  const store = open();
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  await store.close();
}

await tick();
await tick();
process.stdout.write(`${JSON.stringify({ closed: true, alive: process.getActiveResourcesInfo() })}\n`);
