// Throwaway redis-server processes for tests: a free port on 127.0.0.1, a fresh temp dir, and
// never the default port or a Redis the developer runs. Processes are killed when the test
// process exits, however it exits (except SIGKILL, which nothing can intercept).

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type StartRedisOptions = {
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec';
  /** Data directory; kept on stop(). Without it a temp dir is made and removed on stop(). */
  dir?: string;
  /** Fixed port; without it a free one is picked. */
  port?: number;
  /** More redis-server arguments, e.g. ['--cluster-enabled', 'yes'] or ['--replicaof', host, port]. */
  args?: string[];
  /**
   * Run a sentinel (`redis-server sentinel.conf --sentinel`) with these config lines (e.g.
   * 'sentinel monitor mymaster 127.0.0.1 6379 2') instead of a data server.
   */
  sentinel?: string[];
};

export type TestRedis = {
  url: string;
  port: number;
  host: '127.0.0.1';
  dir: string;
  /** The running server's process id (undefined while stopped). */
  pid(): number | undefined;
  /** SIGSTOP: the server freezes with its sockets open, as in a hung host; resume() thaws it. */
  pause(): void;
  resume(): void;
  /** Graceful shutdown, then the temp dir is removed. Final. */
  stop(): Promise<void>;
  /** SIGKILL, as in a crash; the dir is kept so that restart() can recover from it. */
  kill9(): Promise<void>;
  /** Start again on the same port and dir (after kill9, or gracefully if running). */
  restart(): Promise<void>;
};

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 5000;

const live = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const cleanup = () => {
    for (const child of live) child.kill('SIGKILL');
    live.clear();
    for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
    ownedDirs.clear();
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Re-raise after cleaning up so the default behaviour (and exit code) is kept.
    process.once(signal, () => {
      cleanup();
      process.kill(process.pid, signal);
    });
  }
}

function findRedisServer(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this PATH entry
    }
  }
  throw new Error(
    "redis-server not found: install Debian's redis-server (apt-get install -y redis-server)",
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, 'redis.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '(no log)';
  }
}

type Launch = { child: ChildProcess } | { failed: string; portInUse: boolean };

async function launch(
  bin: string,
  port: number,
  dir: string,
  options: StartRedisOptions,
): Promise<Launch> {
  let args: string[];
  if (options.sentinel) {
    // Sentinel rewrites its config file with what it learns, so it gets one of its own.
    const file = join(dir, 'sentinel.conf');
    writeFileSync(file, [`port ${port}`, `bind ${HOST}`, `dir ${dir}`, `logfile ${join(dir, 'redis.log')}`, ...options.sentinel, ''].join('\n'));
    args = [file, '--sentinel'];
  } else {
    args = [
      '--port', String(port),
      '--bind', HOST,
      '--protected-mode', 'yes',
      '--save', '',
      '--appendonly', options.appendonly ? 'yes' : 'no',
      '--appendfsync', options.appendfsync ?? 'everysec',
      '--dir', dir,
      '--logfile', join(dir, 'redis.log'),
      '--daemonize', 'no',
      ...(options.args ?? []),
    ];
  }
  // Logs go to a file so no pipe keeps the test process alive; unref'd so a forgotten stop()
  // cannot hang the test run (the exit hook still kills it).
  const child = spawn(bin, args, { stdio: 'ignore' });
  child.unref();
  live.add(child);
  child.once('exit', () => live.delete(child));

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = logTail(dir);
      return { failed: tail, portInUse: /in use|bind/i.test(tail) };
    }
    if (await pingOnce(port)) return { child };
    await sleep(25);
  }
  child.kill('SIGKILL');
  await exited(child);
  return { failed: `no PONG within ${READY_TIMEOUT_MS} ms\n${logTail(dir)}`, portInUse: false };
}

export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  const bin = findRedisServer();
  installExitHooks();
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'issuer-redis-'));
  if (ownDir) ownedDirs.add(dir);

  let child: ChildProcess | undefined;
  let port = options.port ?? 0;
  let lastFailure = '';
  // Another process may grab a picked port before redis binds it: pick again.
  for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
    if (options.port === undefined) port = await freePort();
    const result = await launch(bin, port, dir, options);
    if ('child' in result) child = result.child;
    else {
      lastFailure = result.failed;
      if (!result.portInUse || options.port !== undefined) break;
    }
  }
  if (child === undefined) {
    if (ownDir) {
      rmSync(dir, { recursive: true, force: true });
      ownedDirs.delete(dir);
    }
    throw new Error(`redis-server did not start on ${HOST}:${port}: ${lastFailure}`);
  }

  let stopped = false;

  async function terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const running = child;
    if (running === undefined) return;
    child = undefined;
    // Keep the loop alive while we wait, or the test process could end mid-shutdown.
    running.ref();
    running.kill(signal);
    // A paused server would sit on SIGTERM until the timeout.
    if (signal === 'SIGTERM') running.kill('SIGCONT');
    const timer = setTimeout(() => running.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited(running);
    clearTimeout(timer);
  }

  return {
    url: `redis://${HOST}:${port}`,
    port,
    host: HOST,
    dir,
    pid: () => child?.pid,
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate('SIGTERM');
      if (ownDir) {
        rmSync(dir, { recursive: true, force: true });
        ownedDirs.delete(dir);
      }
    },
    async kill9() {
      await terminate('SIGKILL');
    },
    async restart() {
      if (stopped) throw new Error('restart() after stop(): the redis dir is gone');
      await terminate('SIGTERM');
      const result = await launch(bin, port, dir, options);
      if (!('child' in result)) {
        throw new Error(`redis-server did not restart on ${HOST}:${port}: ${result.failed}`);
      }
      child = result.child;
    },
  };
}

/** A random key prefix per test file, so files (and reruns) never see each other's keys. */
export function uniquePrefix(label: string): string {
  return `test:${label}:${randomBytes(6).toString('hex')}:`;
}
