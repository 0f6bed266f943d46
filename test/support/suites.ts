// Run other test files in a child `node --test`, with extra environment (TEST_REDIS_TARGET):
// how the registration and implicit flow suites run, unchanged, on a Redis Cluster and on
// Sentinel.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The suites that must pass on every Redis topology. */
export const TOPOLOGY_SUITES = ['test/registration.test.ts', 'test/implicit_flow.test.ts'];

export type SuiteRun = { code: number | null; output: string; passed: number; failed: number; ms: number };

export async function runSuites(files: string[], env: Record<string, string>, timeoutMs = 50_000): Promise<SuiteRun> {
  const started = performance.now();
  // Without the parent's NODE_TEST_CONTEXT, the child runs as a test runner of its own.
  const { NODE_TEST_CONTEXT: _context, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], { cwd: ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const count = (label: string) => Number(new RegExp(`ℹ ${label} (\\d+)`).exec(output)?.[1] ?? 0);
  return { code, output, passed: count('pass'), failed: count('fail'), ms: performance.now() - started };
}
