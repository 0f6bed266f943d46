// The servers under test run as child processes, so that their resident memory and CPU are
// their own and not the load generator's. Their output goes to a file (a pipe read by the
// bench would cost the load generator CPU); readiness is the ready line appearing in it, timed
// from spawn, as test/support/process.ts does for `npm start`.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { freePort } from '../test/support/process.ts';
import { descendants } from '../test/support/proc.ts';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const ISSUER_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
export const BASELINE_MAIN = fileURLToPath(new URL('./baseline.ts', import.meta.url));

export type ServerOptions = {
  name: string;
  entry: string;
  env: Record<string, string>;
  /** The log line that says the server is ready; without it (a silent log), GET `readyPath` answering 200. */
  readyLine?: string;
  readyPath?: string;
  /** Where the log file (and CPU profiles) go. */
  dir: string;
  /** Node and V8 flags before the entry (the issuer's are src/server_flags.ts, as `npm start` passes them). */
  nodeArgs?: string[];
  /** Write a V8 CPU profile on exit (node --cpu-prof) into `dir`/profiles-<name>. */
  profile?: boolean;
  readyWithinMs?: number;
  /** How many ready lines to wait for (one per worker with WEB_CONCURRENCY). */
  readyCount?: number;
};

export type ServerProcess = {
  name: string;
  url: string;
  pid: number;
  /** Spawn to the ready line, in milliseconds. */
  readyMs: number;
  logFile: string;
  profileDir?: string;
  /** Resident memory of the process and its children (cluster workers). */
  memory(): Memory;
  /** CPU time of the process and its children so far, in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
};

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function statusKiB(pid: number, field: 'VmRSS' | 'RssAnon'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

const CLOCK_TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

/** CPU time (user + system) a process has used so far, in milliseconds; 0 once it is gone. */
export function cpuMs(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): state is the 3rd, utime the 14th, stime the 15th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Resident memory in MiB: all of it (VmRSS), or only the anonymous part (no mapped files such as the node binary). */
export type Memory = { rss: number; anon: number };

export async function startServer(options: ServerOptions): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const logFile = join(options.dir, `${options.name}.log`);
  const profileDir = options.profile ? join(options.dir, `profiles-${options.name}`) : undefined;
  const out = openSync(logFile, 'w');
  const execArgv = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const started = performance.now();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...execArgv, options.entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), ISSUER: url, HOST: '127.0.0.1', ...options.env },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  live.add(child);
  const exited = once(child, 'exit');
  void exited.then(() => live.delete(child));

  const log = () => readFileSync(logFile, 'utf8');
  const deadline = started + (options.readyWithinMs ?? 10_000);
  // Poll the file finely: the poll interval bounds the error of the start-to-ready figure.
  const { readyLine, readyPath = '/' } = options;
  const probe = () => fetch(new URL(readyPath, url), { signal: AbortSignal.timeout(500) }).then((r) => r.ok, () => false);
  const ready = async () => (readyLine ? log().split(readyLine).length - 1 >= (options.readyCount ?? 1) : probe());
  while (!(await ready())) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${options.name} exited before it was ready:\n${log().slice(-2000)}`);
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} not ready within ${options.readyWithinMs ?? 10_000} ms:\n${log().slice(-2000)}`);
    }
    await sleep(2);
  }
  const readyMs = performance.now() - started;

  return {
    name: options.name,
    url,
    pid: child.pid!,
    readyMs,
    logFile,
    profileDir,
    cpuMs: () => [child.pid!, ...descendants(child.pid!)].reduce((total, pid) => total + cpuMs(pid), 0),
    memory() {
      const pids = [child.pid!, ...descendants(child.pid!)];
      const sum = (field: 'VmRSS' | 'RssAnon') => pids.reduce((total, pid) => total + statusKiB(pid, field), 0) / 1024;
      return { rss: sum('VmRSS'), anon: sum('RssAnon') };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
