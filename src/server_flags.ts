// V8 settings for the issuer as a long-running server, given to every process that runs it:
// `npm start` (package.json), the workers (src/workers.ts forks them with these), the Dockerfile.
//
// By default V8 sizes the young generation for the machine (up to 128 MB on a large one), which
// is throughput for short scripts and resident memory a server keeps for good: the live heap
// after a full GC is about 30 MB. 16 MB semi-spaces cut resident memory by about 75 MB after the
// bench with no throughput lost (bench/results.md, README "Benchmarks").
export const SERVER_V8_FLAGS: readonly string[] = ['--max-semi-space-size=16'];

/**
 * The C library's settings, as environment (read when the process starts, so `npm start` and the
 * Dockerfile set them; workers inherit them). glibc gives each thread that allocates its own
 * malloc arena (the event loop, libuv's pool, V8's GC threads), each keeping what it freed:
 * two arenas cut resident memory after the bench by 45-60 MB at the same CPU per request
 * (measured with /proc/<pid>/smaps, issue 15). An operator's own value wins.
 */
export const SERVER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

const flagName = (flag: string) => flag.split('=')[0]!.replace(/_/g, '-');

/**
 * The flags a worker is forked with: the primary's own (`process.execArgv`), plus each server
 * flag that neither they nor NODE_OPTIONS set already, so an operator's own value wins.
 */
export function withServerFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)].map(flagName));
  return [...execArgv, ...SERVER_V8_FLAGS.filter((flag) => !given.has(flagName(flag)))];
}
