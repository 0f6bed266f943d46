// The issuer process writes its request lines to stdout in batches (src/main.ts): a line written
// while the issuer sits idle still shows up within the flush interval, and every line of a burst
// is on stdout once the issuer has stopped, none lost or cut.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { startIssuerProcess } from './support/process.ts';
import { useTempDir } from './support/temp_dir.ts';
import { waitFor } from './support/wait.ts';

const dir = useTempDir('request-lines-');

function requestLines(output: string): Array<Record<string, unknown>> {
  return output.split('\n').filter((line) => line.includes('"msg":"request"')).map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('request lines: on stdout within a second when idle, and all of a burst by the time the process exits', async () => {
  const issuer = await startIssuerProcess({ SQLITE_FILE: join(dir.path, 'issuer.sqlite') });
  try {
    const idle = await fetch(new URL('.well-known/openid-configuration', issuer.url), { headers: { 'x-request-id': 'idle-line' } });
    await idle.arrayBuffer();
    await waitFor(() => requestLines(issuer.output()).some((line) => line.request_id === 'idle-line'), 1000, 'the line of a lone request');

    const ids = Array.from({ length: 200 }, (_, i) => `burst-${i}`);
    await Promise.all(ids.map(async (id, i) => {
      const response = await fetch(new URL(i % 2 ? 'healthz' : '.well-known/jwks.json', issuer.url), { headers: { 'x-request-id': id } });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }));
  } finally {
    assert.equal(await issuer.stop('SIGTERM'), 0);
  }
  const logged = requestLines(issuer.output()).map((line) => line.request_id);
  for (const id of ['idle-line', ...Array.from({ length: 200 }, (_, i) => `burst-${i}`)]) assert.ok(logged.includes(id), `no line for ${id}`);
});
