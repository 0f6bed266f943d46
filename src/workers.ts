// Several worker processes on one machine (WEB_CONCURRENCY / web_concurrency) with node:cluster.
// The primary only supervises: it forks the workers (which share the listening socket), forks
// a new one when one dies unexpectedly, passes SIGTERM and SIGINT on (SIGHUP to one worker), and
// exits 0 once every worker has exited. Each worker is the whole issuer (src/main.ts `start`); they agree
// through the shared store, which is why this needs Redis.
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';

import type { Logger } from 'pino';

import type { Config } from './config.ts';

export type WorkerPlan = { workers: number; note?: string };

/** How many workers to run for this configuration, and why fewer than asked, if so. */
export function planWorkers(config: Pick<Config, 'web_concurrency' | 'storage'>, usesRedis: boolean): WorkerPlan {
  const asked = config.web_concurrency;
  if (asked > 1 && !usesRedis) {
    return {
      workers: 1,
      note: `web_concurrency ${asked} ignored: with the SQLite backend the issuer runs as one process (SQLite takes one writer at a time, so more processes would wait on its lock); set redis_url, redis_cluster or redis_sentinel to run ${asked} workers`,
    };
  }
  return { workers: asked };
}

export type WorkerPoolOptions = {
  workers: number;
  logger: Logger;
  /** How long workers get to finish after a stop signal before they are killed. */
  stopTimeoutMs: number;
  /** Node and V8 flags for the workers (src/server_flags.ts `withServerFlags`). */
  execArgv?: string[];
};

/** A worker that dies sooner than this after it started counts as crash-looping. */
const EARLY_DEATH_MS = 5000;
const MAX_RESTART_DELAY_MS = 10_000;

/** Run the primary until every worker has exited after a stop signal; resolves then. */
export function runWorkerPool(options: WorkerPoolOptions): Promise<void> {
  const { workers, logger, stopTimeoutMs } = options;
  const startedAt = new Map<number, number>();
  let stopping = false;
  let quickDeaths = 0;

  function fork(): Worker {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
    logger.info({ event: 'worker_started', worker: worker.id, pid: worker.process.pid }, 'worker started');
    return worker;
  }

  return new Promise((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
      startedAt.delete(worker.id);
      if (stopping) {
        logger.info({ event: 'worker_stopped', worker: worker.id, pid: worker.process.pid, code, signal }, 'worker stopped');
        if (Object.keys(cluster.workers ?? {}).length === 0) resolve();
        return;
      }
      // Crash loops back off (up to 10 s) so a broken deployment does not spin the CPU.
      quickDeaths = lived < EARLY_DEATH_MS ? quickDeaths + 1 : 0;
      const delay = quickDeaths === 0 ? 0 : Math.min(250 * 2 ** (quickDeaths - 1), MAX_RESTART_DELAY_MS);
      logger.error({ event: 'worker_died', worker: worker.id, pid: worker.process.pid, code, signal, restart_in_ms: delay }, 'worker died unexpectedly; starting another');
      setTimeout(() => {
        if (!stopping) fork();
      }, delay);
    });

    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second signal (Ctrl-C twice): pass it on, the workers decide.
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
        return;
      }
      stopping = true;
      const running = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      logger.info({ signal, workers: running.length }, 'stopping the workers');
      if (running.length === 0) return resolve();
      for (const worker of running) worker.process.kill(signal);
      const forced = setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) {
          logger.warn({ worker: worker?.id, pid: worker?.process.pid }, 'worker still running after the stop timeout; killing it');
          worker?.process.kill('SIGKILL');
        }
      }, stopTimeoutMs);
      forced.unref();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // The config file's tenant flags go to the shared store, where every worker reads them:
    // one worker applies them, so each change is applied, and audited, once.
    process.on('SIGHUP', () => {
      const worker = Object.values(cluster.workers ?? {}).find((w) => w !== undefined);
      if (worker) worker.process.kill('SIGHUP');
    });

    // The first worker applies the config file's flags at start; the others start once a
    // worker listens, so they find them applied and none writes or audits them a second time.
    // Any worker, once: if the first dies before it listens, its replacement is the one that
    // applies them, and waiting on the first's own event would leave the pool at one worker.
    // Workers accept from the shared listening socket themselves (SCHED_NONE) instead of the
    // primary handing accepted connections round-robin: a connection the primary hands to a worker
    // that has just died is lost and hangs its client, while one left in the shared backlog is
    // accepted by a live worker (test/workers.test.ts kills a worker under traffic).
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    // After the policy: setupPrimary fixes it (node:cluster reads it on the first setup).
    if (options.execArgv) cluster.setupPrimary({ execArgv: options.execArgv });
    logger.info({ workers }, `starting ${workers} worker processes`);
    cluster.once('listening', () => {
      for (let i = 1; i < workers && !stopping; i++) fork();
    });
    fork();
  });
}
