// The composition root: config → store → app → listen; signals. The only module that reads
// process.env, opens sockets and creates storage clients.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { Server } from 'node:http';

import { pino } from 'pino';
import type { Logger } from 'pino';

import { ConfigError, loadConfig } from './config.ts';
import type { Config } from './config.ts';
import { createApp } from './app.ts';
import type { Store } from '../adapters/contract.ts';
import { createRedisStore } from '../adapters/redis.ts';
import { closeRedisClient, createRedisClient, describeTarget, waitUntilReady } from '../adapters/redis_client.ts';
import { createSqliteStore } from '../adapters/sqlite.ts';
import { logRedisConnection, redisTargetOf } from './storage.ts';
import { planWorkers, runWorkerPool } from './workers.ts';

const SHUTDOWN_GRACE_MS = 10_000;

/** How long a starting issuer waits for Redis (a container may start before it). */
const REDIS_STARTUP_WAIT_MS = 30_000;

async function createStore(config: Config, logger: Logger): Promise<Store> {
  const { redis_prefix: prefix, sqlite_file: file, redis_wait_replicas: replicas, redis_wait_timeout_ms: waitMs } = config.storage;
  const target = redisTargetOf(config.storage);
  if (!target) return createSqliteStore({ file });
  // Fail-fast options and why: adapters/redis_client.ts.
  const client = createRedisClient(target);
  logRedisConnection(client, logger, describeTarget(target));
  try {
    await waitUntilReady(client, REDIS_STARTUP_WAIT_MS);
  } catch (error) {
    await closeRedisClient(client);
    throw error;
  }
  return createRedisStore({ client, prefix, waitForReplicas: replicas > 0 ? { replicas, timeoutMs: waitMs } : undefined });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function start(logger: Logger): Promise<void> {
  const config = loadConfig(process.env);
  logger.level = config.log.level;
  const store = await createStore(config, logger);
  const { app, reloadTenantFlags } = await createApp({ config, store, logger });
  const server = createServer(app.callback());
  await listen(server, config.port, config.host);
  logger.info({ issuer: config.issuer, port: config.port, store: store.kind, env: config.env }, `issuer ready at ${config.issuer}`);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    const forced = setTimeout(() => {
      logger.warn('requests still in flight after the grace period; closing them');
      server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    forced.unref();
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearTimeout(forced);
    await store.close();
    logger.info('stopped');
    process.exitCode = 0;
    // A worker's IPC channel to the primary would keep it alive: close it, so it exits.
    cluster.worker?.disconnect();
  };
  // SIGHUP: ops edited the config file; its tenant flags apply again (see the README's rule).
  process.on('SIGHUP', () => {
    try {
      void reloadTenantFlags(loadConfig(process.env)).then(
        () => logger.info('configuration reloaded (tenant flags)'),
        (error: unknown) => logger.error({ err: error }, 'could not apply the tenant flags'),
      );
    } catch (error) {
      logger.error({ problems: error instanceof ConfigError ? error.problems : [String(error)] }, 'configuration not reloaded: the file is invalid');
    }
  });
  // `on`, not `once`: a terminal's Ctrl-C reaches a worker twice (directly and through the
  // primary), and the second must not kill it before its requests are answered.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

// JSON lines for machines; readable lines (pino-pretty) when a person watches a development terminal.
const pretty = process.stdout.isTTY && process.env.NODE_ENV !== 'production';
const logger = pino({
  base: undefined,
  timestamp: pino.stdTimeFunctions.isoTime,
  ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } } : {}),
});
/** The primary of several workers (src/workers.ts), or the issuer itself. */
async function main(logger: Logger): Promise<void> {
  if (cluster.isPrimary) {
    // Validated here once, so a bad file fails before any worker is forked.
    const config = loadConfig(process.env);
    logger.level = config.log.level;
    const plan = planWorkers(config, redisTargetOf(config.storage) !== undefined);
    if (plan.note) logger.warn(plan.note);
    if (plan.workers > 1) {
      await runWorkerPool({ workers: plan.workers, logger, stopTimeoutMs: SHUTDOWN_GRACE_MS + 5000 });
      logger.info('every worker has stopped');
      process.exitCode = 0;
      return;
    }
  }
  await start(logger);
}

main(logger).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    logger.fatal({ err: error }, 'the issuer could not start');
  }
  process.exit(1);
});
