import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createClientCount } from '../src/registration/client_count.ts';

test('the client count is read at most once per window, adds this instance’s registrations, and reads again after it', async () => {
  let stored = 5;
  let reads = 0;
  let at = 1_000_000;
  const count = createClientCount({ store: { countClients: async () => (reads++, stored) }, cacheMs: 1000, now: () => at });
  const [a, b] = await Promise.all([count.current(), count.current()]);
  assert.deepEqual([a, b, reads], [5, 5, 1], 'concurrent callers share one read');
  count.added();
  stored = 9;
  at += 999;
  assert.equal(await count.current(), 6, 'within the window: the read plus our own registration');
  at += 1;
  assert.equal(await count.current(), 9, 'after the window: read again');
  assert.equal(reads, 2);
});

test('a failed count is not cached', async () => {
  let fail = true;
  const count = createClientCount({ store: { countClients: async () => { if (fail) throw new Error('store away'); return 1; } } });
  await assert.rejects(count.current(), /store away/);
  fail = false;
  assert.equal(await count.current(), 1);
});
