// The composition root: config → store → app → listen; signals. The only module that reads
// process.env, opens sockets and creates storage clients.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { pino } from 'pino';
import type { Logger } from 'pino';

import { ConfigError, drainSeconds, loadConfig } from './config.ts';
import type { Config } from './config.ts';
import { createApp } from './app.ts';
import type { Store } from '../adapters/contract.ts';
import { createRedisStore } from '../adapters/redis.ts';
import { closeRedisClient, createRedisClient, describeTarget, waitUntilReady } from '../adapters/redis_client.ts';
import { createSqliteStore } from '../adapters/sqlite.ts';
import { logRedisConnection, redisTargetOf } from './storage.ts';
import { withServerFlags } from './server_flags.ts';
import { planWorkers, runWorkerPool } from './workers.ts';
import { createGracefulShutdown } from './shutdown.ts';
import { createMetricsListener } from './observability/metrics.ts';

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
  requestLogger.level = config.log.level;
  const store = await createStore(config, logger);
  const shutdown = createGracefulShutdown({ logger, drainMs: drainSeconds(config) * 1000, graceMs: config.shutdown.grace_seconds * 1000 });
  const { listener, metrics, reloadTenantFlags, stop: stopApp } = await createApp({ config, store, logger, requestLogger, draining: shutdown.draining });
  const server = createServer(shutdown.wrap(listener));
  const servers = [server];
  await listen(server, config.port, config.host);
  if (config.metrics.port !== undefined && config.metrics.port !== null) {
    // Its own listener (metrics.host, loopback by default): scrapers reach it, the public does not.
    const metricsServer = createServer(createMetricsListener(metrics));
    await listen(metricsServer, config.metrics.port, config.metrics.host);
    servers.push(metricsServer);
    const { port } = metricsServer.address() as AddressInfo;
    logger.info({ metrics: `http://${config.metrics.host}:${port}/metrics` }, 'metrics served on their own listener');
  } else if (config.env === 'production') {
    logger.info('metrics not served: set metrics.port (METRICS_PORT) to serve /metrics on a listener of its own');
  }
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await shutdown.drain(servers, signal);
    stopApp();
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
  // Only now: until a handler is installed, SIGTERM kills the process outright, and whoever
  // waits for this line (an orchestrator, a test) may send it at once.
  logger.info({ issuer: config.issuer, port: config.port, store: store.kind, env: config.env }, `issuer ready at ${config.issuer}`);
}

// JSON lines for machines; readable lines (pino-pretty) when a person watches a development terminal.
const pretty = process.stdout.isTTY && process.env.NODE_ENV !== 'production';
const lineOptions = { base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
const logger = pino({
  ...lineOptions,
  ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } } : {}),
});
/**
 * The request lines (src/observability/request_log.ts), one per request and the bulk of the
 * output, go to stdout in batches: a write() once REQUEST_LINES_BATCH bytes are waiting, every
 * REQUEST_LINES_FLUSH_MS, and at exit. One blocking write() per line was a third of the CPU of a
 * discovery request (issue 15, measured with bench's interleaved runs). Every other line (start,
 * audit, warnings, errors) is written at once, through `logger`; a kill -9 loses at most the last
 * REQUEST_LINES_FLUSH_MS of request lines.
 */
const REQUEST_LINES_BATCH = 4096;
const REQUEST_LINES_FLUSH_MS = 250;
const requestLines = pretty ? undefined : pino.destination({ dest: 1, sync: true, minLength: REQUEST_LINES_BATCH, periodicFlush: REQUEST_LINES_FLUSH_MS });
if (requestLines) process.on('exit', () => requestLines.flushSync());
const requestLogger = requestLines ? pino(lineOptions, requestLines) : logger;
/** The primary of several workers (src/workers.ts), or the issuer itself. */
async function main(logger: Logger): Promise<void> {
  if (cluster.isPrimary) {
    // Validated here once, so a bad file fails before any worker is forked.
    const config = loadConfig(process.env);
    logger.level = config.log.level;
    const plan = planWorkers(config, redisTargetOf(config.storage) !== undefined);
    if (plan.note) logger.warn(plan.note);
    if (plan.workers > 1) {
      // Workers drain and finish as one process does (src/shutdown.ts); killed only well after that.
      const stopTimeoutMs = (drainSeconds(config) + config.shutdown.grace_seconds + 5) * 1000;
      // The workers get the server's V8 settings even when the primary was started without them.
      const execArgv = withServerFlags(process.execArgv, process.env.NODE_OPTIONS);
      await runWorkerPool({ workers: plan.workers, logger, stopTimeoutMs, execArgv });
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
