// ioredis clients for the three Redis topologies (one server, Sentinel, Cluster), all set up
// to fail fast while Redis is away and to recover on their own when it is back.
//
// The composition root (src/main.ts) calls this; nothing else creates Redis clients. Options,
// and why:
// - commandTimeout: a command without an answer fails after COMMAND_TIMEOUT_MS instead of
//   waiting for the kernel to notice a dead peer. The store adds its own deadline on top
//   (adapters/redis.ts), because Cluster's offline queue knows no timeout.
// - socketTimeout: a connection that stops answering (a frozen master, a black-holed network)
//   is dropped and rebuilt, so that a Sentinel client asks again which server is the master.
// - maxRetriesPerRequest 1 + retryStrategy capped at 1 s: commands queued while reconnecting
//   are failed every second reconnect attempt (the queue never grows without bound), and a
//   server that is back is found within about a second.
// - Sentinel: failoverDetector listens to +switch-master, so a failover is followed at once;
//   READONLY (a demoted master still connected to) triggers a reconnect and a resend.
// - Cluster: no offline queue (its queue has no timeout and grows while the cluster is down);
//   callers wait for `ready` once at start instead (waitUntilReady).
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';

/** Where the data lives. Credentials travel in the URLs (redis://user:password@host:port). */
export type RedisTarget =
  | { kind: 'server'; url: string }
  | { kind: 'cluster'; nodes: string[] }
  | {
      kind: 'sentinel';
      /** The master group name the sentinels monitor (`sentinel monitor <name> ...`). */
      name: string;
      sentinels: { host: string; port: number }[];
      /** Password of the master and replicas, if they require one. */
      password?: string;
      /** Password of the sentinels themselves, if they require one. */
      sentinelPassword?: string;
    };

export const COMMAND_TIMEOUT_MS = 1000;
const SOCKET_TIMEOUT_MS = 3000;
const CONNECT_TIMEOUT_MS = 2000;
const MAX_RECONNECT_DELAY_MS = 1000;

const retryStrategy = (times: number) => Math.min(50 * 2 ** times, MAX_RECONNECT_DELAY_MS);

function common(): RedisOptions {
  return {
    commandTimeout: COMMAND_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    retryStrategy,
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
  };
}

/** host:port[:...] of a redis:// URL, with its credentials and TLS choice. */
function parseNode(url: string): { host: string; port: number; username?: string; password?: string; tls: boolean } {
  const parsed = new URL(url);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || 6379),
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'rediss:',
  };
}

/** A client for `target`; it starts connecting at once. */
export function createRedisClient(target: RedisTarget, extra: { connectionName?: string } = {}): Redis | Cluster {
  const named = extra.connectionName ? { connectionName: extra.connectionName } : {};
  if (target.kind === 'server') {
    return new Redis(target.url, { ...common(), ...named });
  }
  if (target.kind === 'sentinel') {
    return new Redis({
      ...common(),
      ...named,
      name: target.name,
      sentinels: target.sentinels,
      password: target.password,
      sentinelPassword: target.sentinelPassword,
      failoverDetector: true,
      sentinelRetryStrategy: retryStrategy,
      sentinelCommandTimeout: COMMAND_TIMEOUT_MS,
    });
  }
  const nodes = target.nodes.map(parseNode);
  const [first] = nodes;
  const { retryStrategy: _perNodeRetry, ...perNode } = common();
  const options: ClusterOptions = {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    clusterRetryStrategy: retryStrategy,
    slotsRefreshTimeout: COMMAND_TIMEOUT_MS,
    redisOptions: {
      ...perNode,
      ...named,
      username: first?.username,
      password: first?.password,
      ...(first?.tls ? { tls: {} } : {}),
    },
  };
  return new Cluster(nodes.map(({ host, port }) => ({ host, port })), options);
}

/** Resolve once the client can serve commands; reject after `timeoutMs` (the client keeps trying). */
export function waitUntilReady(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError = '';
    const onError = (error: Error) => {
      lastError = error.message;
    };
    const done = (error?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    const timer = setTimeout(() => done(new Error(`Redis not reachable within ${timeoutMs} ms${lastError ? `: ${lastError}` : ''}`)), timeoutMs);
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/** A short description for logs, without credentials. */
export function describeTarget(target: RedisTarget): string {
  if (target.kind === 'server') {
    const url = new URL(target.url);
    return `${url.protocol}//${url.host}`;
  }
  if (target.kind === 'cluster') return `cluster ${target.nodes.map((n) => new URL(n).host).join(',')}`;
  return `sentinel ${target.name}@${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
}

/** What ioredis 6.0.0 keeps private and closeRedisClient must reach (see there). */
type SentinelInternals = {
  connector?: { failoverDetector?: { isDisconnected: boolean; cleanup(): void; sentinels: { client: Redis }[] } | null };
};

const CLOSE_WAIT_MS = 3000;

/** Resolves once `client` has emitted `end` (at once if it has), or after CLOSE_WAIT_MS. */
function ended(client: Redis | Cluster): Promise<void> {
  if (client.status === 'end') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    client.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Close a client so that nothing of it outlives the returned promise: QUIT (answers to commands
 * already sent still arrive), then disconnect, then wait for `end` (bounded).
 *
 * Then the Sentinel failover detector, whose own connections to the sentinels ioredis closes
 * without waiting. Worse, ioredis 6.0.0 starts the detector on the `connect` event of the master
 * connection, and a connection still being opened when disconnect() ends it connects first: the
 * detector is then created after the disconnect, and its subscriptions to the sentinels stay
 * open, reconnecting every minute to sentinels that are gone (the hang behind
 * `--test-force-exit`; redis/ioredis#1362, fixed upstream after 6.0.0 by redis/ioredis#2198).
 * Once the client has emitted `end` its connection is closed, so no detector can start any
 * more: cleaning up the one there is final. test/store_close.test.ts closes stores at every
 * moment of their connection and fails while one leaves a socket or a timer behind.
 */
export async function closeRedisClient(client: Redis | Cluster): Promise<void> {
  if (client.status !== 'end') {
    const end = ended(client);
    if (client.status === 'ready') await client.quit().catch(() => undefined);
    client.disconnect();
    await end;
  }
  const detector = (client as unknown as SentinelInternals).connector?.failoverDetector;
  if (!detector) return;
  // Only once: a second cleanup disconnects closed sockets again, and ioredis arms a 2 s timer
  // for each that nothing clears.
  if (!detector.isDisconnected) detector.cleanup();
  await Promise.all(detector.sentinels.map(({ client: sentinel }) => ended(sentinel)));
}
