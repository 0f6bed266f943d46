// SIGTERM while requests are in flight: each one that was accepted gets its answer, new
// connections are refused, and the process exits 0.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { hashPassword } from '../src/provider/accounts.ts';
import { startIssuerProcess } from './support/process.ts';
import { UserAgent } from './support/user_agent.ts';

const IN_FLIGHT = 16;

test('SIGTERM during a stream of logins: every accepted request is answered, then exit 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'issuer-shutdown-'));
  // A scrypt hash makes each login take real time, so requests are still running at SIGTERM.
  const hash = await hashPassword('slow-password-1');
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, [
    'clients:',
    '  - client_id: spa',
    '    name: SPA',
    '    grant_types: [implicit]',
    '    token_endpoint_auth_method: none',
    '    redirect_uris: [https://spa.example.com/cb]',
    'client_grants: []',
    // One user per login: the login limiter reserves a place per email before the password is
    // checked (10 per email), so one user's 16 logins at once would be refused past the 10th.
    'users:',
    ...Array.from({ length: IN_FLIGHT }, (_, i) => [`  - email: slow-${i}@example.com`, `    password: "${hash}"`]).flat(),
  ].join('\n'));
  const issuer = await startIssuerProcess({ CONFIG_FILE: configFile, SQLITE_FILE: join(dir, 'issuer.sqlite') });
  try {
    const authorize = new URL('authorize', issuer.url);
    authorize.search = new URLSearchParams({ client_id: 'spa', redirect_uri: 'https://spa.example.com/cb', response_type: 'id_token token', scope: 'openid', nonce: 'n' }).toString();
    const agents = await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      const agent = new UserAgent(issuer.url);
      return { agent, page: await agent.navigate(authorize.href) };
    }));

    // Each login on its own connection, all at once; SIGTERM while they are being hashed.
    const logins = agents.map(({ agent, page }, i) => agent.request(new URL(UserAgent.formAction(page.body), issuer.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
      body: new URLSearchParams({ email: `slow-${i}@example.com`, password: 'slow-password-1' }).toString(),
    }));
    await new Promise((resolve) => setTimeout(resolve, 40));
    const exitCode = issuer.stop('SIGTERM');

    const answers = await Promise.allSettled(logins);
    for (const answer of answers) {
      assert.equal(answer.status, 'fulfilled', `a request in flight was dropped: ${answer.status === 'rejected' ? String(answer.reason) : ''}`);
      assert.equal(answer.value.status, 303, 'each login completed');
    }
    assert.equal(await exitCode, 0, issuer.output());
    assert.match(issuer.output(), /shutting down/);
    await assert.rejects(fetch(new URL('healthz', issuer.url), { signal: AbortSignal.timeout(2000) }), 'no new connections after shutdown');
  } finally {
    await issuer.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
