// Throwaway Redis topologies on loopback, built from startRedis: a Redis Cluster of three
// masters, and a master + replica watched by three sentinels. Every wait is bounded.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import type { RedisTarget } from '../../adapters/redis_client.ts';
import { startRedis } from './redis.ts';
import type { TestRedis } from './redis.ts';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** One redis-cli command against a local port; its trimmed output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeout: 5000 });
  return stdout.trim();
}

/** Poll `check` every 50 ms until it returns a value; fail after `withinMs`. */
async function until<T>(what: string, withinMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + withinMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(50);
  }
  throw new Error(`${what}: not within ${withinMs} ms${last ? ` (${String(last)})` : ''}`);
}

export type TestRedisCluster = {
  nodes: TestRedis[];
  target: RedisTarget;
  stop(): Promise<void>;
};

/** Three masters, no replicas: `redis-cli --cluster create`, then wait for cluster_state:ok everywhere. */
export async function startRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const nodes: TestRedis[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '1000'] }));
    }
    const addresses = nodes.map((node) => `${HOST}:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 20_000 });
    for (const node of nodes) {
      await until(`cluster_state:ok on ${node.port}`, 10_000, async () => ((await redisCli(node.port, 'cluster', 'info')).includes('cluster_state:ok') ? true : undefined));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, target: { kind: 'cluster', nodes: nodes.map((node) => node.url) }, stop };
}

export type TestRedisSentinel = {
  name: string;
  /** The data servers; which one is master changes with failovers. */
  servers: TestRedis[];
  sentinels: TestRedis[];
  target: RedisTarget;
  /** Port of the server the sentinels currently call master. */
  masterPort(): Promise<number>;
  /** Wait until the sentinels name a master other than `port`; resolves with the new port. */
  failedOverFrom(port: number, withinMs: number): Promise<number>;
  stop(): Promise<void>;
};

export const SENTINEL_DOWN_AFTER_MS = 1000;

/**
 * A master, `replicas` replicas and three sentinels (quorum 2), failing over after 1 s of
 * silence. With WAIT 1, keep two replicas: after a failover one is left to acknowledge writes.
 */
export async function startRedisSentinel(options: { name?: string; replicas?: number } = {}): Promise<TestRedisSentinel> {
  const { name = 'mymaster', replicas = 1 } = options;
  const servers: TestRedis[] = [];
  const sentinels: TestRedis[] = [];
  const stop = async () => {
    await Promise.all([...sentinels, ...servers].map((node) => node.stop()));
  };
  try {
    const master = await startRedis();
    servers.push(master);
    for (let i = 0; i < replicas; i++) {
      const replica = await startRedis({ args: ['--replicaof', HOST, String(master.port)] });
      servers.push(replica);
      await until('replica in sync', 10_000, async () => ((await redisCli(replica.port, 'info', 'replication')).includes('master_link_status:up') ? true : undefined));
    }
    for (let i = 0; i < 3; i++) {
      sentinels.push(await startRedis({
        sentinel: [
          `sentinel monitor ${name} ${HOST} ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} ${SENTINEL_DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
        ],
      }));
    }
    // A failover needs the sentinels to know each other (hello messages every 2 s) and the replica.
    for (const sentinel of sentinels) {
      await until(`sentinel ${sentinel.port} knows its peers and the replica`, 15_000, async () => {
        const peers = (await redisCli(sentinel.port, 'sentinel', 'sentinels', name)).split('\n').filter((line) => line === 'runid').length;
        const known = (await redisCli(sentinel.port, 'sentinel', 'replicas', name)).split('\n').filter((line) => line === 'runid').length;
        return peers === 2 && known === replicas ? true : undefined;
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }

  async function masterPort(): Promise<number> {
    const errors: string[] = [];
    for (const sentinel of sentinels) {
      try {
        const [, port] = (await redisCli(sentinel.port, 'sentinel', 'get-master-addr-by-name', name)).split('\n');
        if (port) return Number(port);
      } catch (error) {
        errors.push(String(error));
      }
    }
    throw new Error(`no sentinel names a master: ${errors.join('; ')}`);
  }

  return {
    name,
    servers,
    sentinels,
    target: { kind: 'sentinel', name, sentinels: sentinels.map((s) => ({ host: HOST, port: s.port })) },
    masterPort,
    failedOverFrom: (port, withinMs) => until(`failover away from ${port}`, withinMs, async () => {
      const now = await masterPort();
      if (now === port) return undefined;
      // Promoted: the new master says so itself.
      return (await redisCli(now, 'role')).startsWith('master') ? now : undefined;
    }),
    stop,
  };
}
