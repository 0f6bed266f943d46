// `npm run bench` (full) and `npm run bench -- --quick`: every hot path of the issuer, over
// SQLite and over Redis, against bare oidc-provider (bench/baseline.ts) in the same run: with its
// in-memory adapter (`baseline`, the "× baseline" ratios), and over the project's SQLite and Redis
// adapters (`baseline-sqlite`, `baseline-redis`: issue 15's extension cost, CPU per request of the
// issuer against the bare library over the same store). When the issuer over a store runs too, the
// bare library over it takes each scenario in turn with that issuer, in short rounds right after
// the issuer's own pass (`interleaved`), instead of a pass of its own minutes away.
//
// Each server is a child process on 127.0.0.1 (its memory and CPU its own); autocannon runs in
// this process, on the same 2 cores. Per server and scenario: a warm-up, for Redis a counting
// pass of a fixed number of requests (commands per operation), then the timed run. Scenarios:
// register, authorize, token, userinfo, code, refresh, well_known (bench/scenarios.ts).
//
// --preload=N: after the scenarios, fill the store of the issuer over SQLite and over Redis with N
// clients, sessions, grants and access tokens (bench/preload.ts) and run every scenario again, in
// short rounds taken in turn with a twin issuer over an empty store of its own (another SQLite
// file, another redis-server): item 5 compares the two medians, measured in the same minutes, so
// that the machine's drift between the two passes does not count as growth (two full runs of the
// earlier before/after comparison differed by more than the 10 % the target allows).
//
// Servers (--servers=, comma-separated ids): baseline, sqlite, redis, baseline-sqlite,
// baseline-redis, redis-silent (LOG_LEVEL=silent), redis-workers (WEB_CONCURRENCY=2, once the
// issuer supports it). Without --servers: a full run runs all of them, a quick run the first three
// (add --diagnostics for the last two); with --servers, exactly those named.
//
// Options: --quick (short), --only=register,authorize (scenarios), --servers=baseline,sqlite,baseline-sqlite,
// --connections=N, --profile (node --cpu-prof on each server, summarized at the end),
// --diagnostics / --no-diagnostics (the redis-silent and redis-workers runs; on by default in a
// full run), --out=FILE (a full run writes bench/results.md), --strict (exit 1 on a missed target).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { startRedis } from '../test/support/redis.ts';
import { BASELINE_READY, ISSUER_READY, issuerConfigYaml } from './fixtures.ts';
import { runLoad } from './load.ts';
import { measureSweeps, preload } from './preload.ts';
import type { PreloadReport, PreloadTarget } from './preload.ts';
import { summarizeProfiles } from './profile.ts';
import { createRedisCounter } from './redis_counter.ts';
import type { RedisCounter } from './redis_counter.ts';
import { evaluateTargets, overheadTable, preloadTable, resultsTable, serversTable, STORES, targetLines } from './report.ts';
import type { Row, ServerSummary } from './report.ts';
import { resultsMarkdown, webConcurrencySupported } from './results_file.ts';
import { prepareSession, SCENARIOS } from './scenarios.ts';
import { BASELINE_MAIN, cpuMs, ISSUER_MAIN, ROOT, startServer } from './servers.ts';
import { SERVER_ENV, withServerFlags } from '../src/server_flags.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    servers: { type: 'string' },
    connections: { type: 'string', default: '10' },
    profile: { type: 'boolean', default: false },
    diagnostics: { type: 'boolean' },
    'no-diagnostics': { type: 'boolean', default: false },
    out: { type: 'string' },
    strict: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    'node-options': { type: 'string' },
    preload: { type: 'string', default: '0' },
  },
});

const quick = args.quick;
const settings = {
  connections: Number(args.connections),
  warmupSeconds: quick ? 1 : 3,
  seconds: quick ? 3 : 15,
  countedRequests: quick ? 200 : 1000,
  /** Pairs measured in turn (item 1's issuer and bare library, --preload's N and twin): rounds per scenario, and each round's length. */
  rounds: 3,
  roundSeconds: quick ? 2 : 5,
};
const diagnostics = args['no-diagnostics'] ? false : (args.diagnostics ?? !quick);
const out = args.out ?? (quick ? undefined : join(ROOT, 'bench/results.md'));
const scenarios = SCENARIOS.filter((s) => !args.only || args.only.split(',').includes(s.id));
const preloadCount = Number(args.preload);
if (!Number.isInteger(preloadCount) || preloadCount < 0) throw new Error(`--preload=${args.preload}: a whole number of entities per model`);

/** `id`: what --servers names; `name`: the label in the tables; `runs`: whether it runs when --servers is not given. */
type ServerPlan = { id: string; name: string; entry: string; readyLine?: string; readyPath?: string; readyCount?: number; env: Record<string, string>; nodeArgs?: string[]; redis: boolean; scenarios: typeof scenarios; runs: boolean };

const dir = mkdtempSync(join(tmpdir(), 'issuer-bench-'));
mkdirSync(join(dir, 'redis'));
const redis = await startRedis({ dir: join(dir, 'redis') });
const configFile = join(dir, 'issuer.yaml');
writeFileSync(configFile, issuerConfigYaml());

// --node-options: V8/Node flags for every server under test (e.g. --max-semi-space-size=16).
const nodeOptions: Record<string, string> = args['node-options'] ? { NODE_OPTIONS: args['node-options'] } : {};
// The issuer runs with the V8 flags `npm start` gives it (an own value in --node-options wins);
// bare oidc-provider with Node's defaults, as a library user would run it.
const issuerArgs = withServerFlags([], args['node-options']);
const issuerEnv = (extra: Record<string, string>) => ({ ...SERVER_ENV, NODE_ENV: 'production', CONFIG_FILE: configFile, LOG_LEVEL: args['log-level'], ...nodeOptions, ...extra });
const redisEnv = (prefix: string) => ({ REDIS_URL: redis.url, REDIS_PREFIX: `bench:${prefix}:` });

// The ready line is logged at `info`; below that, readiness is /healthz answering.
const issuerReady = ['info', 'debug', 'trace'].includes(args['log-level']) ? { readyLine: ISSUER_READY } : { readyPath: '/healthz' };
const clustered = webConcurrencySupported();
const baselineEnv = (extra: Record<string, string>) => ({ NODE_ENV: 'production', ...nodeOptions, ...extra });
const allPlans: ServerPlan[] = [
  { id: 'baseline', name: 'baseline', entry: BASELINE_MAIN, readyLine: BASELINE_READY, env: baselineEnv({}), redis: false, scenarios, runs: true },
  { id: 'sqlite', name: 'sqlite', entry: ISSUER_MAIN, ...issuerReady, nodeArgs: issuerArgs, env: issuerEnv({ SQLITE_FILE: join(dir, 'sqlite', 'issuer.sqlite') }), redis: false, scenarios, runs: true },
  { id: 'redis', name: 'redis', entry: ISSUER_MAIN, ...issuerReady, nodeArgs: issuerArgs, env: issuerEnv({ ...redisEnv('redis'), ...(clustered ? { WEB_CONCURRENCY: '1' } : {}) }), redis: true, scenarios, runs: true },
  // Bare oidc-provider over the project's own adapters: the issuer over a store against the bare
  // library over the same store is issue 15's extension cost (item 1), what the store costs on both sides.
  { id: STORES[0].bareId, name: STORES[0].bare, entry: BASELINE_MAIN, readyLine: BASELINE_READY, env: baselineEnv({ BASELINE_SQLITE_FILE: join(dir, 'baseline-sqlite', 'baseline.sqlite') }), redis: false, scenarios, runs: !quick },
  { id: STORES[1].bareId, name: STORES[1].bare, entry: BASELINE_MAIN, readyLine: BASELINE_READY, env: baselineEnv({ BASELINE_REDIS_URL: redis.url, REDIS_PREFIX: 'bench:baseline:' }), redis: true, scenarios, runs: !quick },
  { id: 'redis-silent', name: 'redis, LOG_LEVEL=silent', entry: ISSUER_MAIN, readyPath: '/healthz', nodeArgs: issuerArgs, env: issuerEnv({ ...redisEnv('silent'), LOG_LEVEL: 'silent' }), redis: true, scenarios, runs: diagnostics },
  // WEB_CONCURRENCY hook: measured once src/main.ts supports it (node:cluster workers).
  ...(clustered ? [{ id: 'redis-workers', name: 'redis, WEB_CONCURRENCY=2', entry: ISSUER_MAIN, ...issuerReady, readyCount: 2, nodeArgs: issuerArgs, env: issuerEnv({ ...redisEnv('cluster'), WEB_CONCURRENCY: '2' }), redis: true, scenarios, runs: diagnostics }] : []),
];
const named = args.servers?.split(',').map((name) => name.trim());
for (const name of named ?? []) {
  if (!allPlans.some((p) => p.id === name || p.name === name)) throw new Error(`--servers: no server ${name} (one of ${allPlans.map((p) => p.id).join(', ')})`);
}
// --servers names exactly what runs (--diagnostics adds the two diagnostic runs to them).
const plans = allPlans.filter((p) => (named ? named.includes(p.id) || named.includes(p.name) || (args.diagnostics === true && p.id.startsWith('redis-')) : p.runs));

/**
 * Item 1 (the extension's own cost): the bare library over a store runs in turn with the issuer
 * over the same store, right after the issuer's own pass, when both are in the run (alone, it
 * runs a pass of its own like any server). One pass after the other carried the machine's drift
 * between them into the ratio, as it did for item 5 before its twin. A second instance of the
 * memory baseline, when it runs, takes its turn too: items 2 and 3 (ratios to the memory
 * baseline's req/s) then come from the same minutes.
 */
const pairedBare = new Map(STORES.flatMap((store) => {
  const issuer = plans.find((p) => p.name === store.issuer);
  const bare = plans.find((p) => p.id === store.bareId);
  return issuer && bare ? [[issuer.id, { store, bare }] as const] : [];
}));
const pairedBareIds = new Set([...pairedBare.values()].map(({ bare }) => bare.id));
const memoryBaseline = plans.find((p) => p.id === 'baseline');

const rows: Row[] = [];
const preloads: Array<{ server: string; label: string; zero: string; report: PreloadReport }> = [];
/** The issuer plans whose store --preload fills (the baseline's is an in-memory LRU of 1000 entries). */
function preloadTargetOf(plan: ServerPlan): PreloadTarget | undefined {
  if (plan.name === 'sqlite') return { kind: 'sqlite', file: plan.env.SQLITE_FILE! };
  if (plan.name === 'redis') return { kind: 'redis', url: plan.env.REDIS_URL!, prefix: plan.env.REDIS_PREFIX! };
  return undefined;
}
const servers: ServerSummary[] = [];
const profiles: string[] = [];
const counter: RedisCounter = await createRedisCounter(redis.url);
/** The twins' redis-server (--preload): the preloaded keys are not in it. */
let twinRedis: Awaited<ReturnType<typeof startRedis>> | undefined;

/** The environment of a preloaded server's twin: the same issuer over an empty store of its own. */
async function twinEnv(plan: ServerPlan, target: PreloadTarget): Promise<Record<string, string>> {
  if (target.kind === 'sqlite') return { ...plan.env, SQLITE_FILE: join(dir, `${plan.id}-twin`, 'issuer.sqlite') };
  if (!twinRedis) {
    mkdirSync(join(dir, 'redis-twin'));
    twinRedis = await startRedis({ dir: join(dir, 'redis-twin') });
  }
  return { ...plan.env, REDIS_URL: twinRedis.url };
}

/** `redisPid`: its redis-server, whose CPU is counted; `count`: count its Redis commands (bench/redis_counter.ts: on the main redis-server). */
type Server = Awaited<ReturnType<typeof startServer>>;
type Side = { label: string; server: Server; redisPid?: () => number | undefined; count?: boolean };

/** A plan's server (its entry, flags and readiness); `name` and `env` for another instance of it: a twin, a second baseline. */
function startPlan(plan: ServerPlan, instance: { name?: string; env?: Record<string, string>; profile?: boolean } = {}): Promise<Server> {
  return startServer({ name: instance.name ?? plan.name.replace(/[^a-z0-9]+/gi, '-'), entry: plan.entry, env: instance.env ?? plan.env, nodeArgs: plan.nodeArgs, readyLine: plan.readyLine, readyPath: plan.readyPath, readyCount: plan.readyCount, dir, profile: instance.profile ?? false });
}

/**
 * Every scenario on both sides, in rounds taken in turn (the order flips each round); each
 * side's row is its median round by req/s, with the errors of all its rounds.
 */
async function interleaved(sides: Side[]): Promise<void> {
  for (const scenario of scenarios) {
    const requests = new Map<string, ReturnType<typeof scenario.requests>>();
    const rounds = new Map<string, Array<Pick<Row, 'load' | 'cpu'>>>();
    const commands = new Map<string, Row['commands']>();
    for (const side of sides) {
      const sideRequests = scenario.requests(await prepareSession(side.server.url));
      requests.set(side.label, sideRequests);
      rounds.set(side.label, []);
      await runLoad(side.server.url, sideRequests, { connections: settings.connections, seconds: settings.warmupSeconds });
      if (side.count) {
        const n = settings.countedRequests;
        commands.set(side.label, await counter.count(n, async () => {
          const counted = await runLoad(side.server.url, sideRequests, { connections: settings.connections, amount: n });
          if (counted.errors) throw new Error(`${side.label} ${scenario.id}: ${counted.errors} errors in the counting pass: ${counted.sample}`);
        }));
      }
    }
    for (let round = 0; round < settings.rounds; round++) {
      for (const side of round % 2 ? [...sides].reverse() : sides) {
        const redisPid = side.redisPid?.() ?? 0;
        const before = { server: side.server.cpuMs(), redis: cpuMs(redisPid), bench: process.cpuUsage() };
        const load = await runLoad(side.server.url, requests.get(side.label)!, { connections: settings.connections, seconds: settings.roundSeconds });
        const bench = process.cpuUsage(before.bench);
        rounds.get(side.label)!.push({
          load,
          cpu: {
            server: (side.server.cpuMs() - before.server) / load.requests,
            redis: side.redisPid ? (cpuMs(redisPid) - before.redis) / load.requests : undefined,
            loadGenerator: (bench.user + bench.system) / 1000 / load.requests,
          },
        });
      }
    }
    for (const side of sides) {
      const all = rounds.get(side.label)!;
      const median = [...all].sort((a, b) => a.load.rps - b.load.rps)[Math.floor(all.length / 2)]!;
      const errors = all.reduce((sum, r) => sum + r.load.errors, 0);
      const row: Row = { scenario: scenario.id, title: scenario.title, server: side.label, load: { ...median.load, errors, sample: median.load.sample ?? all.find((r) => r.load.sample)?.load.sample }, commands: commands.get(side.label), cpu: median.cpu };
      rows.push(row);
      log(`  ${scenario.id.padEnd(10)} ${side.label.padEnd(24)} ${row.load.rps.toFixed(0).padStart(6)} req/s (median of ${all.map((r) => r.load.rps.toFixed(0)).join(', ')})  CPU/req ${row.cpu.server.toFixed(2)} ms  errors ${errors}${row.load.sample ? `  e.g. ${row.load.sample}` : ''}`);
    }
  }
}
/**
 * Item 1 (and 2, 3): the bare library over the store of the issuer `plan` runs `server` ran,
 * plus a second memory baseline when the run has one, each scenario in turn with that issuer.
 */
async function inTurnWithBare(plan: ServerPlan, server: Server): Promise<void> {
  const pair = pairedBare.get(plan.id);
  if (!pair) return;
  const { store, bare } = pair;
  const bareServer = await startPlan(bare, { profile: args.profile });
  const bareAtReady = bareServer.memory();
  let memoryServer: Server | undefined;
  try {
    memoryServer = memoryBaseline && await startPlan(memoryBaseline, { name: `baseline-with-${plan.id}` });
    log(`${bare.name}${memoryServer ? ` and ${store.memory}` : ''}: each scenario in ${settings.rounds} rounds of ${settings.roundSeconds} s in turn with the issuer (${store.paired})`);
    const redisPid = plan.redis ? () => redis.pid() : undefined;
    await interleaved([
      { label: store.paired, server, redisPid, count: plan.redis },
      { label: bare.name, server: bareServer, redisPid, count: bare.redis },
      ...(memoryServer ? [{ label: store.memory, server: memoryServer }] : []),
    ]);
    servers.push({ server: bare.name, readyMs: bareServer.readyMs, atReady: bareAtReady, afterRun: bareServer.memory() });
  } finally {
    // Both, even when one of them fails to start or to stop; a failure to stop still fails the run.
    const stopped = await Promise.allSettled([bareServer.stop(), memoryServer?.stop()]);
    for (const result of stopped) if (result.status === 'rejected') throw result.reason;
  }
  if (bareServer.profileDir) profiles.push(...[`${bare.name}:`, ...summarizeProfiles(bareServer.profileDir, ROOT), '']);
}
const started = performance.now();
// Other work on the machine moves every number: say how busy it was when the run began.
const loadAverage = loadavg()[0]!;
const log = (line: string) => process.stdout.write(`${line}\n`);

log(`bench: ${quick ? 'quick' : 'full'} run (load average ${loadAverage.toFixed(2)} at start), ${settings.connections} connections, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s per scenario, ${plans.length} servers, ${scenarios.length} scenarios`);
try {
  for (const plan of plans) {
    if (pairedBareIds.has(plan.id)) continue;
    const server = await startPlan(plan, { profile: args.profile });
    const atReady = server.memory();
    log(`${plan.name}: ready in ${server.readyMs.toFixed(0)} ms, RSS ${atReady.rss.toFixed(0)} MiB (${server.url})`);
    const runScenarios = async (label: string) => {
      for (const scenario of plan.scenarios) {
        // A fresh login per scenario: the baseline's in-memory adapter is an LRU of 1000
        // entries, which the registrations (or the tokens) of the scenario before would evict.
        const requests = scenario.requests(await prepareSession(server.url));
        await runLoad(server.url, requests, { connections: settings.connections, seconds: settings.warmupSeconds });
        let commands;
        if (plan.redis) {
          const n = settings.countedRequests;
          commands = await counter.count(n, async () => {
            const counted = await runLoad(server.url, requests, { connections: settings.connections, amount: n });
            if (counted.errors) throw new Error(`${plan.name} ${scenario.id}: ${counted.errors} errors in the counting pass: ${counted.sample}`);
          });
        }
        const cpuBefore = { server: server.cpuMs(), redis: cpuMs(redis.pid() ?? 0), bench: process.cpuUsage() };
        const load = await runLoad(server.url, requests, { connections: settings.connections, seconds: settings.seconds });
        const bench = process.cpuUsage(cpuBefore.bench);
        const cpu = {
          server: (server.cpuMs() - cpuBefore.server) / load.requests,
          redis: plan.redis ? (cpuMs(redis.pid() ?? 0) - cpuBefore.redis) / load.requests : undefined,
          loadGenerator: (bench.user + bench.system) / 1000 / load.requests,
        };
        rows.push({ scenario: scenario.id, title: scenario.title, server: label, load, commands, cpu });
        log(`  ${scenario.id.padEnd(10)} ${load.rps.toFixed(0).padStart(6)} req/s  p50 ${load.p50.toFixed(2)} ms  p99 ${load.p99.toFixed(2)} ms  errors ${load.errors}  CPU/req ${cpu.server.toFixed(2)} ms${cpu.redis === undefined ? '' : ` + redis ${cpu.redis.toFixed(2)} ms`} (load generator ${cpu.loadGenerator.toFixed(2)} ms)${commands ? `  redis ${commands.sent.toFixed(2)} sent / ${commands.executed.toFixed(2)} executed per op` : ''}  RSS ${server.memory().rss.toFixed(0)} MiB${load.sample ? `  e.g. ${load.sample}` : ''}`);
      }
    };
    const target = preloadTargetOf(plan);
    try {
      await runScenarios(plan.name);
      servers.push({ server: plan.name, readyMs: server.readyMs, atReady, afterRun: server.memory() });
      await inTurnWithBare(plan, server);
      if (preloadCount > 0 && target) {
        const report = await preload(target, await prepareSession(server.url), preloadCount, log);
        const label = `${plan.name}, N=${preloadCount}`;
        const zero = `${plan.name}, N=0 (twin)`;
        // The copies are what the issuer would store: it accepts a preloaded token.
        const probe = await fetch(new URL('userinfo', server.url), { headers: { authorization: `Bearer ${report.sampleAccessToken}` } });
        if (probe.status !== 200) throw new Error(`preload: the issuer refused a preloaded access token at /userinfo (${probe.status} ${await probe.text()})`);
        await probe.arrayBuffer();
        preloads.push({ server: plan.name, label, zero, report });
        log(`${label}: RSS ${server.memory().rss.toFixed(0)} MiB after the preload; each scenario in ${settings.rounds} rounds of ${settings.roundSeconds} s in turn with ${zero}`);
        const twin = await startPlan(plan, { name: `${plan.id}-twin`, env: await twinEnv(plan, target) });
        try {
          const redisPid = plan.redis ? { main: () => redis.pid(), twin: () => twinRedis?.pid() } : undefined;
          await interleaved([{ label, server, redisPid: redisPid?.main }, { label: zero, server: twin, redisPid: redisPid?.twin }]);
        } finally {
          await twin.stop();
        }
        servers.push({ server: label, readyMs: server.readyMs, atReady, afterRun: server.memory() });
      }
    } finally {
      await server.stop();
    }
    if (preloadCount > 0 && target?.kind === 'sqlite') {
      const sweeps = await measureSweeps(target.file);
      preloads.at(-1)!.report.sweeps.push(...sweeps);
      for (const run of sweeps) log(`  sweep (${run.what}): ${run.deleted} rows in ${run.ms.toFixed(1)} ms, longest chunk ${run.longestChunkMs.toFixed(1)} ms`);
    }
    if (server.profileDir) profiles.push(...[`${plan.name}:`, ...summarizeProfiles(server.profileDir, ROOT), '']);
  }
} finally {
  await counter.close();
  await redis.stop();
  await twinRedis?.stop();
}

const targets = evaluateTargets(rows, servers, preloads);
const elapsed = (performance.now() - started) / 1000;
log('');
log(resultsTable(rows));
log('');
log(serversTable(servers));
log('');
for (const line of targetLines(targets)) log(line);
const overhead = overheadTable(rows);
if (overhead) log(`\nThe extension's own cost (the issuer and the bare library over the same store):\n${overhead}`);
if (preloads.length) log(`\n${preloadTable(rows, preloads)}`);
if (!clustered) log('WEB_CONCURRENCY: not measured — the issuer does not support it yet (the hook in bench/run.ts runs it once it does)');
if (profiles.length) log(['', 'CPU profiles (self time):', ...profiles].join('\n'));
log(`\nbench took ${elapsed.toFixed(0)} s`);

if (out) {
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  writeFileSync(out, resultsMarkdown({ command, settings, rows, servers, targets, clustered, elapsedSeconds: elapsed, loadAverage, preloads }));
  log(`results written to ${out}`);
}
if (args.profile) log(`profiles kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
if (args.strict && targets.some((t) => t.met === false)) process.exitCode = 1;
