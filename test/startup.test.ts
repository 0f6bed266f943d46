// The issuer as users start it: `node src/main.ts` in a child process, on SQLite and on Redis.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';
import { freePort, startIssuerProcess } from './support/process.ts';

const AUTH0_PATHS = {
  authorization_endpoint: 'authorize',
  token_endpoint: 'oauth/token',
  userinfo_endpoint: 'userinfo',
  jwks_uri: '.well-known/jwks.json',
  revocation_endpoint: 'oauth/revoke',
  end_session_endpoint: 'v2/logout',
};

async function discovery(url: string): Promise<Record<string, unknown>> {
  const response = await fetch(new URL('.well-known/openid-configuration', url), { signal: AbortSignal.timeout(5000) });
  assert.equal(response.status, 200);
  return (await response.json()) as Record<string, unknown>;
}

async function kids(url: string): Promise<string[]> {
  const response = await fetch(new URL('.well-known/jwks.json', url), { signal: AbortSignal.timeout(5000) });
  const { keys } = (await response.json()) as { keys: { kid: string; kty: string; d?: string }[] };
  for (const key of keys) assert.equal(key.d, undefined, 'the JWKS must not publish private key material');
  return keys.map((k) => k.kid).sort();
}

async function register(url: string): Promise<string> {
  const response = await fetch(new URL('oidc/register', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Survives restarts', redirect_uris: ['https://app.example.com/cb'] }),
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return ((await response.json()) as { client_id: string }).client_id;
}

/** A stored client is known: /authorize for it reaches the login page instead of an error. */
async function clientKnown(url: string, clientId: string): Promise<boolean> {
  const authorize = new URL('authorize', url);
  authorize.search = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://app.example.com/cb', response_type: 'code', scope: 'openid' }).toString();
  const response = await fetch(authorize, { redirect: 'manual', signal: AbortSignal.timeout(5000) });
  return response.status === 303 && (response.headers.get('location') ?? '').includes('/u/');
}

for (const backend of ['sqlite', 'redis'] as const) {
  describe(`npm start on ${backend}`, () => {
    let dir: string;
    let redis: TestRedis | undefined;
    let env: Record<string, string>;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'issuer-start-'));
      const configFile = join(dir, 'config.yaml');
      writeFileSync(configFile, 'tenant:\n  flags:\n    enable_dynamic_client_registration: true\n');
      const port = await freePort();
      env = { CONFIG_FILE: configFile, PORT: String(port), ISSUER: `http://localhost:${port}/`, SQLITE_FILE: join(dir, 'issuer.sqlite') };
      if (backend === 'redis') {
        redis = await startRedis();
        env.REDIS_URL = redis.url;
        env.REDIS_PREFIX = uniquePrefix('startup');
      }
    });
    after(async () => {
      await redis?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('answers discovery within 3 s with a slashed issuer and Auth0 paths; keys and data survive a restart', async () => {
      const first = await startIssuerProcess(env);
      let clientId: string;
      let before: string[];
      try {
        assert.ok(first.readyAfterMs < 3000, `ready after ${Math.round(first.readyAfterMs)} ms`);
        const meta = await discovery(first.url);
        assert.equal(meta.issuer, first.url);
        assert.ok(first.url.endsWith('/'));
        for (const [field, path] of Object.entries(AUTH0_PATHS)) assert.equal(meta[field], `${first.url}${path}`, field);
        before = await kids(first.url);
        // The current key, and the next one, published before anything is signed with it.
        assert.equal(before.length, 2);
        clientId = await register(first.url);
        assert.ok(await clientKnown(first.url, clientId));
      } finally {
        assert.equal(await first.stop('SIGTERM'), 0, first.output());
      }
      assert.doesNotMatch(first.output(), /WARNING|NOTICE|Unsupported runtime|development-only/, first.output());

      const second = await startIssuerProcess(env);
      try {
        assert.deepEqual(await kids(second.url), before, 'the same signing keys after a restart');
        assert.ok(await clientKnown(second.url, clientId), 'the registered client is still there');
      } finally {
        assert.equal(await second.stop('SIGINT'), 0, second.output());
      }
    });
  });
}

describe('health', () => {
  test('/healthz and /readyz answer while the store answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'issuer-health-'));
    const issuer = await startIssuerProcess({ SQLITE_FILE: join(dir, 'issuer.sqlite') });
    try {
      const health = await fetch(new URL('healthz', issuer.url));
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = await fetch(new URL('readyz', issuer.url));
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { status: string }).status, 'ready');
    } finally {
      await issuer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
