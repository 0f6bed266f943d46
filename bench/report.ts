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
/** `met` undefined: the run did not measure what the target needs (a quick run without the bare library over a store). */
export type Target = { met: boolean | undefined; text: string };

/** Issue 15's targets (the numbers of its items), and the ones kept from before. */
export const TARGETS = {
  /** Item 1: the issuer's CPU per request at most this times the bare library's over the same store. */
  extensionCpu: 1.2,
  /** Item 2: discovery + JWKS req/s at least this times the (memory) baseline's. */
  wellKnownRatio: 1.5,
  /** Item 3: registration on SQLite at least this times the (memory) baseline's req/s. */
  sqliteRegisterRatio: 0.6,
  /** Item 4: resident memory after the run, per issuer process, in MB (10^6 bytes). */
  rssMB: 200,
  /** Item 5: every scenario at N preloaded entities at least this times its req/s at N = 0. */
  preloadRatio: 0.9,
  readyMs: 1000,
} as const;

/**
 * Each store: the issuer over it, and bare oidc-provider over the project's adapter for it
 * (bench/run.ts); `paired`: the issuer's rows measured in turn with the bare library (item 1).
 */
export const STORES = [
  { label: 'SQLite', issuer: 'sqlite', bare: 'baseline, SQLite adapter', bareId: 'baseline-sqlite', paired: 'sqlite, in turn with the bare library', memory: 'baseline, in turn with sqlite' },
  { label: 'Redis', issuer: 'redis', bare: 'baseline, Redis adapter', bareId: 'baseline-redis', paired: 'redis, in turn with the bare library', memory: 'baseline, in turn with redis' },
] as const;

/** The issuer's rows to set against the bare library's: those measured in turn with it, when the run has them. */
function issuerAgainstBare(rows: Row[], store: (typeof STORES)[number]): string {
  return rows.some((row) => row.server === store.paired) ? store.paired : store.issuer;
}

/** The scenarios of item 1 (discovery and JWKS have their own target, item 2). */
const EXTENSION_COST_SCENARIOS: ReadonlySet<ScenarioId> = new Set(['register', 'authorize', 'token', 'userinfo', 'code', 'refresh']);

const MB_PER_MIB = 2 ** 20 / 1e6;

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

function find(rows: Row[], server: string, scenario: ScenarioId): Row | undefined {
  return rows.find((row) => row.server === server && row.scenario === scenario);
}

/** req/s against the memory baseline's: its pass, or for rows measured in turn with a second instance of it, that instance's rounds. */
export function ratio(rows: Row[], row: Row): number {
  const store = STORES.find((st) => st.paired === row.server || st.bare === row.server || st.memory === row.server);
  const baseline = (store && find(rows, store.memory, row.scenario)) ?? find(rows, 'baseline', row.scenario);
  return baseline ? row.load.rps / baseline.load.rps : Number.NaN;
}

/**
 * Items 2 and 3: the issuer's req/s over a store against the memory baseline's, both from the
 * rounds taken in turn when the run has them (bench/run.ts), else from their own passes.
 */
function toMemoryBaseline(rows: Row[], store: (typeof STORES)[number], scenario: ScenarioId): { row: Row; times: number; inTurn: boolean } | undefined {
  const inTurn = find(rows, store.paired, scenario);
  if (inTurn && find(rows, store.memory, scenario)) return { row: inTurn, times: ratio(rows, inTurn), inTurn: true };
  const row = find(rows, store.issuer, scenario);
  return row && find(rows, 'baseline', scenario) ? { row, times: ratio(rows, row), inTurn: false } : undefined;
}

function commandsCell(commands: CommandCount | undefined): string {
  if (!commands) return '';
  const names = Object.entries(commands.sentByName).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${fixed(n, n % 1 ? 2 : 0)}`).join(', ');
  return `${fixed(commands.sent, 2)} (${fixed(commands.executed, 2)}): ${names}`;
}

/** The results table in Markdown (also readable in a terminal); `all` holds the baseline's rows for the ratio. */
export function resultsTable(rows: Row[], all: Row[] = rows): string {
  const lines = [
    '| scenario | server | req/s | × baseline | p50 ms | p99 ms | errors | CPU ms/req: server (+ redis-server) | Redis commands/op: sent (executed incl. scripts): by name |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const row of rows) {
    const times = row.server === 'baseline' ? '1.00' : fixed(ratio(all, row), 2);
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

/**
 * A preloaded run: `label` is the rows' server name at N, `zero` the rows of its twin at N = 0
 * measured in turn with it (bench/run.ts), `server` the same server's own pass before the preload.
 */
export type PreloadRun = { server: string; label: string; zero: string };

/**
 * Issue 15's targets, each met or not with its figures, plus zero errors and start to ready.
 * Ratios of req/s are against the memory baseline (`baseline`); the extension's cost (item 1) is
 * CPU per request against the bare library over the same store.
 */
export function evaluateTargets(rows: Row[], servers: ServerSummary[], preloads: PreloadRun[] = []): Target[] {
  const targets: Target[] = [];
  for (const store of STORES) {
    const issuer = issuerAgainstBare(rows, store);
    const issuerRows = rows.filter((r) => r.server === issuer && EXTENSION_COST_SCENARIOS.has(r.scenario));
    if (!issuerRows.length) continue;
    const head = `item 1, ${store.label}: issuer CPU per request at most ${TARGETS.extensionCpu}x the bare library over the same store${issuer === store.paired ? ' (measured in turn)' : ''}`;
    const pairs = issuerRows.map((row) => ({ row, bare: find(rows, store.bare, row.scenario) }));
    if (pairs.every((p) => !p.bare)) {
      targets.push({ met: undefined, text: `${head}: not measured (the bare library over ${store.label} did not run: a full run, or --servers=…,${store.bareId})` });
      continue;
    }
    const measured = pairs.filter((p) => p.bare).map((p) => ({ scenario: p.row.scenario, issuer: p.row.cpu.server, bare: p.bare!.cpu.server, times: p.row.cpu.server / p.bare!.cpu.server }));
    const figures = measured.map((m) => `${m.scenario} ${fixed(m.issuer, 2)}/${fixed(m.bare, 2)} ms = ${fixed(m.times, 2)}x`).join(', ');
    targets.push({ met: measured.every((m) => m.times <= TARGETS.extensionCpu), text: `${head}: ${figures}` });
  }
  const inTurn = (m: { inTurn: boolean }) => (m.inTurn ? ', measured in turn' : '');
  const wellKnown = STORES.map((store) => toMemoryBaseline(rows, store, 'well_known')).filter((m) => m !== undefined);
  if (wellKnown.length) {
    targets.push({ met: wellKnown.every((m) => m.times >= TARGETS.wellKnownRatio), text: `item 2: discovery + JWKS at least ${TARGETS.wellKnownRatio}x the baseline's req/s: ${wellKnown.map((m) => `${m.row.server} ${fixed(m.times, 2)}x (${fixed(m.row.load.rps, 0)} req/s${inTurn(m)})`).join(', ')}` });
  }
  const register = toMemoryBaseline(rows, STORES[0], 'register');
  if (register) {
    targets.push({ met: register.times >= TARGETS.sqliteRegisterRatio, text: `item 3: registration on SQLite at least ${TARGETS.sqliteRegisterRatio}x the baseline's req/s: ${fixed(register.times, 2)}x (${register.row.server}: ${fixed(register.row.load.rps, 0)} req/s${inTurn(register)})` });
  }
  const issuers = servers.filter((s) => STORES.some((store) => store.issuer === s.server));
  if (issuers.length) {
    const limitMiB = TARGETS.rssMB / MB_PER_MIB;
    targets.push({ met: issuers.every((s) => s.afterRun.rss <= limitMiB), text: `item 4: resident memory at most ${TARGETS.rssMB} MB (${fixed(limitMiB, 1)} MiB) per issuer process after the run: ${issuers.map((s) => `${s.server} ${fixed(s.afterRun.rss, 1)} MiB`).join(', ')}` });
  }
  for (const { label, zero } of preloads) {
    const at = rows.filter((r) => r.server === label);
    const pairs = at.map((row) => ({ row, zero: find(rows, zero, row.scenario) })).filter((p) => p.zero);
    if (!pairs.length) continue;
    const ratios = pairs.map((p) => ({ scenario: p.row.scenario, times: p.row.load.rps / p.zero!.load.rps }));
    targets.push({ met: ratios.every((r) => r.times >= TARGETS.preloadRatio), text: `item 5, ${label}: every scenario at least ${TARGETS.preloadRatio}x its req/s at N=0 (${zero}, measured in turn): ${ratios.map((r) => `${r.scenario} ${fixed(r.times, 2)}x`).join(', ')}` });
  }
  const errors = rows.reduce((sum, row) => sum + row.load.errors, 0);
  targets.push({ met: errors === 0, text: `zero errors: ${errors}${errors ? ` (${rows.filter((r) => r.load.errors).map((r) => `${r.server} ${r.scenario}: ${r.load.errors}`).join(', ')})` : ''}` });
  if (issuers.length) {
    targets.push({ met: issuers.every((s) => s.readyMs < TARGETS.readyMs), text: `start to ready under ${TARGETS.readyMs} ms: ${issuers.map((s) => `${s.server} ${fixed(s.readyMs, 0)} ms`).join(', ')}` });
  }
  return targets;
}

export function targetLines(targets: Target[]): string[] {
  return targets.map((t) => `${t.met === undefined ? 'NOT RUN' : t.met ? 'MET    ' : 'NOT MET'}  ${t.text}`);
}

/**
 * The extension's own cost: the issuer over each store against bare oidc-provider over the
 * project's adapter for the same store, so that what the store costs on these cores is on both sides.
 */
export function overheadTable(rows: Row[]): string | undefined {
  const lines = [
    '| scenario | store | bare library req/s | issuer req/s | issuer ÷ bare req/s | CPU ms/req bare → issuer | issuer ÷ bare CPU |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const store of STORES) {
    for (const bare of rows.filter((r) => r.server === store.bare)) {
      const issuer = find(rows, issuerAgainstBare(rows, store), bare.scenario);
      if (!issuer) continue;
      lines.push(`| ${bare.title} | ${store.label} | ${fixed(bare.load.rps, 0)} | ${fixed(issuer.load.rps, 0)} | ${fixed(issuer.load.rps / bare.load.rps, 2)}x | ${fixed(bare.cpu.server, 2)} → ${fixed(issuer.cpu.server, 2)} | ${fixed(issuer.cpu.server / bare.cpu.server, 2)}x |`);
    }
  }
  return lines.length > 2 ? lines.join('\n') : undefined;
}

/**
 * --preload=N: each scenario at N against its twin at N = 0, measured in turn (issue 15: at least
 * 0.9x), and against the same server's own pass before the preload (minutes earlier: for
 * reference), what each entity costs in the store, and the SQLite sweeper's runs.
 */
export function preloadTable(rows: Row[], preloads: Array<PreloadRun & { report: PreloadReport }>): string {
  const lines = [
    '| scenario | server | req/s at 0 (twin, in turn) | req/s at N | at N ÷ at 0 | CPU ms/req at 0 → at N | req/s before the preload (same server) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { server, label, zero } of preloads) {
    for (const at of rows.filter((r) => r.server === label)) {
      const twin = find(rows, zero, at.scenario);
      if (!twin) continue;
      const before = find(rows, server, at.scenario);
      lines.push(`| ${at.title} | ${label} | ${fixed(twin.load.rps, 0)} | ${fixed(at.load.rps, 0)} | ${fixed(at.load.rps / twin.load.rps, 2)}x | ${fixed(twin.cpu.server, 2)} → ${fixed(at.cpu.server, 2)} | ${before ? fixed(before.load.rps, 0) : 'n/a'} |`);
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
