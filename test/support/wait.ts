// Polling for a condition that other processes or instances make true, bounded in time.
import assert from 'node:assert/strict';

/** Poll `condition` every 25 ms; fails when it does not hold within `withinMs`. Returns the time it took. */
export async function waitFor(condition: () => boolean | Promise<boolean>, withinMs: number, what = 'condition'): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    assert.ok(performance.now() - started < withinMs, `${what}: not within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return performance.now() - started;
}
