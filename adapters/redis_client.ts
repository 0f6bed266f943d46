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
