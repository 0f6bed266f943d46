// Run the issuer as users do (`node src/main.ts`, what `npm start` runs) in a child process.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export type IssuerProcess = {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far, stdout and stderr interleaved. */
  output(): string;
  /** Send a signal and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/** Environment for a child issuer: the parent's PATH and HOME only, plus what the test sets. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env };
}

/** Run main.ts to completion (for start-up failures); resolves with its exit code and output. */
export async function runToExit(env: Record<string, string>, timeoutMs = 10_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

/** Start main.ts and wait until it logs that it is ready (or fail with its output). */
export async function startIssuerProcess(env: Record<string, string>, readyWithinMs = 10_000): Promise<IssuerProcess & { readyAfterMs: number }> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const url = env.ISSUER ?? `http://127.0.0.1:${port}/`;
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env: childEnv({ PORT: String(port), ISSUER: url, HOST: '127.0.0.1', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = once(child, 'exit');
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`issuer not ready within ${readyWithinMs} ms:\n${output}`)), readyWithinMs);
    const check = () => {
      if (output.includes('issuer ready at')) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`issuer exited before it was ready:\n${output}`));
    });
  });
  const readyAfterMs = performance.now() - started;

  return {
    child,
    url,
    readyAfterMs,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      process.off('exit', kill);
      return code;
    },
  };
}
