// bench/results.md: a full run's numbers, the machine they were taken on and the command that
// produced them, written by the benchmark itself.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

import type { PreloadReport } from './preload.ts';
import type { PreloadRun, Row, ServerSummary, Target } from './report.ts';
import { overheadTable, preloadTable, ratio, resultsTable, serversTable, STORES, targetLines } from './report.ts';
import { ROOT } from './servers.ts';
import { ENV_OVERRIDES } from '../src/config.ts';

/** Whether the issuer runs several workers with WEB_CONCURRENCY (node:cluster): the hook for that run. */
export function webConcurrencySupported(): boolean {
  return 'WEB_CONCURRENCY' in ENV_OVERRIDES;
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export function machineLines(): string[] {
  return [
    `- CPU: ${cpus()[0]?.model ?? 'unknown'}, ${run('nproc', [])} cores (nproc), shared by the servers under test and the load generator`,
    `- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- Node.js ${process.version}, ${run('redis-server', ['--version']).replace(/ sha=.*/, '')}, ${run('uname', ['-sr'])}`,
    `- commit: ${run('git', ['rev-parse', '--short', 'HEAD'])}${run('git', ['status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes in the work tree)' : ''}`,
  ];
}

export type ResultsInput = {
  command: string;
  settings: { connections: number; warmupSeconds: number; seconds: number; countedRequests: number; rounds: number; roundSeconds: number };
  rows: Row[];
  servers: ServerSummary[];
  targets: Target[];
  clustered: boolean;
  elapsedSeconds: number;
  /** The 1-minute load average when the run began (other work on the machine). */
  loadAverage: number;
  /** --preload=N runs, if any. */
  preloads?: Array<PreloadRun & { report: PreloadReport }>;
};

function scaling(rows: Row[]): string[] {
  const two = rows.filter((r) => r.server === 'redis, WEB_CONCURRENCY=2');
  if (!two.length) return [];
  return [
    '',
    '| scenario | WEB_CONCURRENCY=1 req/s | WEB_CONCURRENCY=2 req/s | scaling |',
    '| --- | ---: | ---: | ---: |',
    ...two.map((r) => {
      const one = rows.find((o) => o.server === 'redis' && o.scenario === r.scenario);
      return `| ${r.title} | ${one?.load.rps.toFixed(0) ?? 'n/a'} | ${r.load.rps.toFixed(0)} | ${one ? (r.load.rps / one.load.rps).toFixed(2) : 'n/a'}x |`;
    }),
  ];
}

export function resultsMarkdown(input: ResultsInput): string {
  const { settings } = input;
  const silent = input.rows.filter((r) => r.server === 'redis, LOG_LEVEL=silent');
  return [
    '# Benchmark results',
    '',
    `Produced by \`${input.command}\` on ${new Date().toISOString().slice(0, 10)} (${input.elapsedSeconds.toFixed(0)} s). Regenerate them the same way; see the README's`,
    '"Benchmarks" section for what is measured and how.',
    '',
    '## Machine',
    '',
    ...machineLines(),
    `- load average at the start of the run: ${input.loadAverage.toFixed(2)} (other work on the machine shows in every number)`,
    '',
    `Load: autocannon in the bench process, ${settings.connections} keep-alive connections to 127.0.0.1, ${settings.warmupSeconds} s warm-up then ${settings.seconds} s per`,
    `scenario; Redis commands counted over ${settings.countedRequests} requests per scenario. The issuer runs \`node src/main.ts\` in production mode at log level`,
    '`info` (one JSON line per request, to a file); the baseline is bare oidc-provider with its in-memory adapter (bench/baseline.ts).',
    '',
    '## Results',
    '',
    resultsTable(input.rows.filter((r) => !r.server.includes(',')), input.rows),
    '',
    serversTable(input.servers),
    '',
    '## Targets',
    '',
    '```',
    ...targetLines(input.targets),
    '```',
    '',
    '## The extension\'s own cost',
    '',
    ...(overheadTable(input.rows)
      ? [
          'Bare oidc-provider over the project\'s SQLite and Redis adapters (`BASELINE_SQLITE_FILE`, `BASELINE_REDIS_URL`, bench/baseline.ts)',
          'against the issuer over the same store, in the same run: what the extension costs, with what the store costs on these',
          'shared cores on both sides (issue 15, item 1: the issuer\'s CPU per request at most 1.2x the bare library\'s). When both run,',
          `the two servers take each scenario in turn, ${input.settings.rounds} rounds of ${input.settings.roundSeconds} s each (the order flips every round), right after the`,
          'issuer\'s own pass; each row is its median round by req/s, so that the machine\'s drift between two passes does not count.',
          'A second memory baseline takes its turn in the same rounds (`baseline, in turn with …`): items 2 and 3 are read from those rows.',
          '',
          resultsTable(input.rows.filter((r) => STORES.some((store) => store.bare === r.server || store.paired === r.server || store.memory === r.server)), input.rows),
          '',
          overheadTable(input.rows)!,
          '',
        ]
      : ['(not run)', '']),
    ...(input.preloads?.length ? ['## Preloaded store', '', preloadTable(input.rows, input.preloads), ''] : []),
    '## Diagnostics',
    '',
    ...(silent.length
      ? [
          'The Redis backend with `LOG_LEVEL=silent` (no request log line), to show what logging costs:',
          '',
          resultsTable(input.rows.filter((r) => r.server === 'redis, LOG_LEVEL=silent' || r.server === 'baseline')),
          '',
          ...silent.map((r) => {
            const logged = input.rows.find((o) => o.server === 'redis' && o.scenario === r.scenario);
            return `- ${r.title}: ${ratio(input.rows, r).toFixed(2)}x the baseline silent${logged ? `, ${(r.load.rps / logged.load.rps).toFixed(2)}x the same backend at \`info\`` : ''}`;
          }),
        ]
      : ['(not run)']),
    '',
    '### WEB_CONCURRENCY',
    '',
    ...(input.clustered && input.rows.some((r) => r.server === 'redis, WEB_CONCURRENCY=2')
      ? ['The Redis backend with 2 workers against 1, on 2 cores that the load generator shares (so 2.0x is out of reach):', ...scaling(input.rows)]
      : input.clustered
        ? ['(not run)']
        : ['Not measured: the issuer does not support `WEB_CONCURRENCY` yet in this commit. bench/run.ts adds the run (Redis backend, 2 workers against 1) as soon as it does.']),
    '',
  ].join('\n');
}
