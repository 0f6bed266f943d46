// V8 settings for the issuer as a long-running server, given to every process that runs it:
// `npm start` (package.json), the workers (src/workers.ts forks them with these), the Dockerfile.
//
// By default V8 sizes the young generation for the machine (up to 128 MB on a large one), and,
// on a machine whose heap limit is 2 GiB or more, lets the old generation grow to 4 times what
// survived the last full GC before it collects again: throughput for short scripts, resident
// memory a server keeps for good (the live heap is about 30 MB; the old generation reached
// 110-150 MB under the bench).
// - 8 MB semi-spaces: 16 MB ones cut about 75 MB at no throughput cost, 8 MB ones 16 MB more at
//   -7 to +5 % CPU per request (interleaved A/B, within its noise; issue 15).
// - An old-space limit of 1536 MB sits below the 2 GiB at which V8 allows that factor of 4: it
//   grows the old generation by about 1.8 times instead. About 55 MB less resident memory after
//   load, at 0-4 % more CPU per request; 1024 MB or less saved 5-10 MB more at 5-15 % more CPU.
export const SERVER_V8_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--max-old-space-size=1536'];

/**
 * The C library's settings, as environment (read when the process starts, so `npm start` and the
 * Dockerfile set them; workers inherit them). An operator's own value wins.
 * - glibc gives each thread that allocates its own malloc arena (the event loop, libuv's pool,
 *   V8's GC threads), each keeping what it freed: two arenas cut resident memory after the bench
 *   by 45-60 MB at the same CPU per request (measured with /proc/<pid>/smaps, issue 15).
 * - A fixed mmap threshold (128 KiB, glibc's starting value): glibc otherwise raises it after the
 *   first large free, so that the 32 MiB an scrypt password check takes in the thread pool is
 *   later served from an arena that keeps it resident. Fixed, large blocks are mapped and given
 *   back: 30-50 MB less after the bench, at the same CPU.
 */
export const SERVER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

const flagName = (flag: string) => flag.split('=')[0]!.replace(/_/g, '-');

/**
 * The flags a worker is forked with: the primary's own (`process.execArgv`), plus each server
 * flag that neither they nor NODE_OPTIONS set already, so an operator's own value wins.
 */
export function withServerFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)].map(flagName));
  return [...execArgv, ...SERVER_V8_FLAGS.filter((flag) => !given.has(flagName(flag)))];
}
