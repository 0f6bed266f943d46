// From the storage section of the configuration to what the composition root connects to:
// which Redis topology (if any), and one log line each time the connection is lost or back.
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';

import type { Config } from './config.ts';
import type { RedisTarget } from '../adapters/redis_client.ts';

const DEFAULT_SENTINEL_PORT = 26379;

function sentinelAddress(address: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(address);
  const host = (match?.[1] ?? address).replace(/^\[|\]$/g, '');
  return { host, port: match?.[2] ? Number(match[2]) : DEFAULT_SENTINEL_PORT };
}

/** The Redis topology the configuration names, or undefined for SQLite. */
export function redisTargetOf(storage: Config['storage']): RedisTarget | undefined {
  if (storage.redis_cluster) return { kind: 'cluster', nodes: storage.redis_cluster };
  if (storage.redis_sentinel) {
    const { name, sentinels, password, sentinel_password: sentinelPassword } = storage.redis_sentinel;
    return {
      kind: 'sentinel',
      name,
      sentinels: sentinels.map(sentinelAddress),
      ...(password ? { password } : {}),
      ...(sentinelPassword ? { sentinelPassword } : {}),
    };
  }
  if (storage.redis_url) return { kind: 'server', url: storage.redis_url };
  return undefined;
}

/**
 * Log when the connection to Redis is lost and when it is back, once per change rather than
 * once per reconnect attempt. Also keeps ioredis from printing unhandled 'error' events.
 */
export function logRedisConnection(client: Redis | Cluster, logger: Logger, target: string): void {
  let up = false;
  let lastError = '';
  client.on('error', (error: Error) => {
    lastError = error.message;
  });
  client.on('ready', () => {
    if (!up) logger.info({ redis: target }, 'connected to Redis');
    up = true;
  });
  // 'reconnecting' rather than 'close': a connection closed on purpose (shutdown) is no loss.
  client.on('reconnecting', () => {
    if (!up) return;
    up = false;
    logger.warn({ redis: target, error: lastError || undefined }, 'lost the connection to Redis; requests that need it fail with 503 until it is back');
  });
}
