// The benchmark's table, its targets (met or not met), and bench/results.md.
import type { LoadResult } from './load.ts';
import type { PreloadReport } from './preload.ts';
import type { CommandCount } from './redis_counter.ts';
import type { ScenarioId } from './scenarios.ts';
import type { Memory } from './servers.ts';

/** CPU time per request, in ms: the server's (all its processes), redis-server's, the load generator's. */
export type CpuPerRequest = { server: number; redis?: number; loadGenerator: number };
export type Row = { scenario: ScenarioId; title: string; server: string; load: LoadResult; commands?: CommandCount; cpu: CpuPerRequest };
export type ServerSummary = { server: string; readyMs: number; atReady: Memory; afterRun: Memory };
export type Target = { met: boolean; text: string };

export const TARGETS = {
  ratioToBaseline: 0.8,
  commandsPerOp: 4,
  readyMs: 1000,
  rssMiB: 150,
} as const;

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

function find(rows: Row[], server: string, scenario: ScenarioId): Row | undefined {
  return rows.find((row) => row.server === server && row.scenario === scenario);
}

export function ratio(rows: Row[], row: Row): number {
  const baseline = find(rows, 'baseline', row.scenario);
  return baseline ? row.load.rps / baseline.load.rps : Number.NaN;
}

function commandsCell(commands: CommandCount | undefined): string {
  if (!commands) return '';
  const names = Object.entries(commands.sentByName).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${fixed(n, n % 1 ? 2 : 0)}`).join(', ');
  return `${fixed(commands.sent, 2)} (${fixed(commands.executed, 2)}): ${names}`;
}

/** The results table in Markdown (also readable in a terminal). */
export function resultsTable(rows: Row[]): string {
  const lines = [
    '| scenario | server | req/s | × baseline | p50 ms | p99 ms | errors | CPU ms/req: server (+ redis-server) | Redis commands/op: sent (executed incl. scripts): by name |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const row of rows) {
    const times = row.server === 'baseline' ? '1.00' : fixed(ratio(rows, row), 2);
    lines.push(`| ${row.title} | ${row.server} | ${fixed(row.load.rps, 0)} | ${times} | ${fixed(row.load.p50, 2)} | ${fixed(row.load.p99, 2)} | ${row.load.errors} | ${fixed(row.cpu.server, 2)}${row.cpu.redis === undefined ? '' : ` (+ ${fixed(row.cpu.redis, 2)})`} | ${commandsCell(row.commands)} |`);
  }
  return lines.join('\n');
}

export function serversTable(servers: ServerSummary[]): string {
  return [
    '| server | start to ready ms | RSS at ready MiB | RSS after the run MiB | of which anonymous MiB |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...servers.map((s) => `| ${s.server} | ${fixed(s.readyMs, 0)} | ${fixed(s.atReady.rss, 1)} | ${fixed(s.afterRun.rss, 1)} | ${fixed(s.afterRun.anon, 1)} |`),
  ].join('\n');
}

/** The issue's targets, on the headline servers (baseline, sqlite, redis). */
export function evaluateTargets(rows: Row[], servers: ServerSummary[]): Target[] {
  const targets: Target[] = [];
  for (const scenario of ['register', 'authorize'] as const) {
    const row = find(rows, 'redis', scenario);
    if (!row) continue;
    const r = ratio(rows, row);
    targets.push({ met: r >= TARGETS.ratioToBaseline, text: `Redis backend at least ${TARGETS.ratioToBaseline}x the baseline for ${row.title}: ${fixed(r, 2)}x` });
  }
  for (const scenario of ['register', 'authorize'] as const) {
    const row = find(rows, 'redis', scenario);
    if (!row?.commands) continue;
    // To the two decimals printed: reads that run once a second per instance (tenant settings,
    // a cached client) add about 1/(requests per second) and are part of the average shown.
    const sent = Math.round(row.commands.sent * 100) / 100;
    targets.push({ met: sent <= TARGETS.commandsPerOp, text: `at most ${TARGETS.commandsPerOp} Redis commands per ${scenario === 'register' ? 'registration' : 'silent authorize'} on average: ${fixed(row.commands.sent, 2)} sent (${fixed(row.commands.executed, 2)} executed incl. inside scripts)` });
  }
  const errors = rows.reduce((sum, row) => sum + row.load.errors, 0);
  targets.push({ met: errors === 0, text: `zero errors: ${errors}${errors ? ` (${rows.filter((r) => r.load.errors).map((r) => `${r.server} ${r.scenario}: ${r.load.errors}`).join(', ')})` : ''}` });
  const issuers = servers.filter((s) => s.server !== 'baseline');
  if (issuers.length) {
    targets.push({ met: issuers.every((s) => s.readyMs < TARGETS.readyMs), text: `start to ready under ${TARGETS.readyMs} ms: ${issuers.map((s) => `${s.server} ${fixed(s.readyMs, 0)} ms`).join(', ')}` });
    targets.push({ met: issuers.every((s) => s.afterRun.rss < TARGETS.rssMiB), text: `resident memory under ${TARGETS.rssMiB} MB after the run: ${issuers.map((s) => `${s.server} ${fixed(s.afterRun.rss, 1)} MiB`).join(', ')}` });
  }
  return targets;
}

export function targetLines(targets: Target[]): string[] {
  return targets.map((t) => `${t.met ? 'MET    ' : 'NOT MET'}  ${t.text}`);
}

/**
 * The extension's own cost: the issuer on Redis against bare oidc-provider over the same Redis
 * adapter (the diagnostic server), so that what Redis costs on these cores is on both sides.
 */
export function overheadTable(rows: Row[]): string | undefined {
  const bare = rows.filter((r) => r.server === 'baseline, Redis adapter');
  if (!bare.length) return undefined;
  const lines = [
    '| scenario | bare library over Redis req/s | issuer over Redis req/s | issuer ÷ bare | CPU ms/req bare → issuer |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const b of bare) {
    const issuer = find(rows, 'redis', b.scenario);
    if (!issuer) continue;
    lines.push(`| ${b.title} | ${fixed(b.load.rps, 0)} | ${fixed(issuer.load.rps, 0)} | ${fixed(issuer.load.rps / b.load.rps, 2)}x | ${fixed(b.cpu.server, 2)} → ${fixed(issuer.cpu.server, 2)} |`);
  }
  return lines.join('\n');
}

/**
 * --preload=N: each scenario at N against the same server before the preload (issue 15: at
 * least 0.9x), what each entity costs in the store, and the SQLite sweeper's runs.
 */
export function preloadTable(rows: Row[], preloads: Array<{ server: string; label: string; report: PreloadReport }>): string {
  const lines = [
    '| scenario | server | req/s at 0 | req/s at N | at N ÷ at 0 | CPU ms/req at 0 → at N |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const { server, label } of preloads) {
    for (const at of rows.filter((r) => r.server === label)) {
      const zero = find(rows, server, at.scenario);
      if (!zero) continue;
      lines.push(`| ${at.title} | ${label} | ${fixed(zero.load.rps, 0)} | ${fixed(at.load.rps, 0)} | ${fixed(at.load.rps / zero.load.rps, 2)}x | ${fixed(zero.cpu.server, 2)} → ${fixed(at.cpu.server, 2)} |`);
    }
  }
  lines.push('', '| server | model | preloaded | seconds | bytes each in the store |', '| --- | --- | ---: | ---: | ---: |');
  for (const { label, report } of preloads) {
    for (const phase of report.phases) lines.push(`| ${label} | ${phase.model} | ${phase.count} | ${fixed(phase.seconds, 1)} | ${fixed(phase.bytesEach, 0)} |`);
  }
  for (const { label, report } of preloads) {
    lines.push(`(${label}: ${report.sizeNote})`);
    for (const run of report.sweeps) lines.push(`${label}: expiry sweep, ${run.what}: ${run.deleted} rows in ${fixed(run.ms, 1)} ms (longest chunk ${fixed(run.longestChunkMs, 1)} ms)`);
  }
  return lines.join('\n');
}
