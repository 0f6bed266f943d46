// What a change to an application does to the running issuer, on two instances sharing one
// Redis: a new callback URL applies at once on the other instance, and deleting a client
// withdraws everything it holds (its sessions' tokens fail at /userinfo, the API JWTs too, its
// refresh token and its grant are gone, /authorize refuses it).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { assertErrorPage, authorize, authorizeUrl } from './support/implicit.ts';
import { ALICE, CONTACTS_API, OPS, startIssuer } from './support/issuer.ts';
import type { Backend, RunningIssuer } from './support/issuer.ts';
import { management, managementToken } from './support/management.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';

const CALLBACK = 'https://app.example.com/callback';
const NEW_CALLBACK = 'https://app.example.com/new-callback';
const CLIENT_SCOPES = ['read:clients', 'create:clients', 'update:clients', 'delete:clients', 'read:client_keys', 'update:client_keys'];

describe('application changes across two instances on one Redis', () => {
  let redis: TestRedis;
  let first: RunningIssuer;
  let second: RunningIssuer;
  let token: string;

  before(async () => {
    redis = await startRedis();
    const backend: Backend = { kind: 'redis', url: redis.url, prefix: uniquePrefix('client-lifecycle') };
    const overrides = { client_grants: [{ client_id: OPS.client_id, audience: '/api/v2/', scope: CLIENT_SCOPES }, { client_id: OPS.client_id, audience: CONTACTS_API, scope: ['read:contacts'] }] };
    first = await startIssuer({ backend, overrides });
    second = await startIssuer({ backend, overrides: { ...overrides, issuer: first.url } });
    token = await managementToken(first.url);
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await redis?.stop();
  });

  async function createSpa(name: string, callbacks = [CALLBACK]): Promise<string> {
    const created = await management(first.url, 'POST', 'api/v2/clients', { token, body: { name, app_type: 'spa', callbacks, grant_types: ['authorization_code', 'implicit', 'refresh_token'] } });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    return created.json.client_id as string;
  }

  /** The second instance's answer to /authorize for this client and callback (no session yet). */
  async function authorizeAtSecond(clientId: string, redirectUri: string) {
    return new UserAgent(second.url).navigate(authorizeUrl(second.url, { client_id: clientId, response_type: 'id_token token', redirect_uri: redirectUri, scope: 'openid', nonce: 'n', state: 's' }));
  }

  test('an application created through the API may call /oauth/token from its web origin, on every instance', async () => {
    const created = await management(first.url, 'POST', 'api/v2/clients', { token, body: { name: 'Browser app', app_type: 'spa', callbacks: [CALLBACK], web_origins: ['https://browser.example.com'] } });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    for (const origin of ['https://browser.example.com', 'https://app.example.com']) {
      const preflight = await fetch(new URL('oauth/token', second.url), { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      assert.equal(preflight.headers.get('access-control-allow-origin'), origin, `the preflight from ${origin}`);
    }
    const stranger = await fetch(new URL('oauth/token', second.url), { method: 'OPTIONS', headers: { origin: 'https://stranger.example.com', 'access-control-request-method': 'POST' } });
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
  });

  test('a changed callbacks list applies at once on the other instance', async () => {
    const clientId = await createSpa('Callback mover');
    // The second instance has read the client with its old callback first.
    const loginPage = (step: { status: number; body: string }) => step.status === 200 && /name="password"/.test(step.body);
    const before = await authorizeAtSecond(clientId, CALLBACK);
    assert.ok(loginPage(before), `the login page expected: ${before.status} ${before.body.slice(0, 200)}`);
    assertErrorPage(await authorizeAtSecond(clientId, NEW_CALLBACK), 'invalid_redirect_uri');

    const patched = await management(first.url, 'PATCH', `api/v2/clients/${clientId}`, { token, body: { callbacks: [NEW_CALLBACK] } });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    // No wait: the very next request on the other instance follows the change.
    assertErrorPage(await authorizeAtSecond(clientId, CALLBACK), 'invalid_redirect_uri');
    assert.ok(loginPage(await authorizeAtSecond(clientId, NEW_CALLBACK)));
  });

  test('concurrent secret rotations leave one of the secrets handed out; concurrent deletes on both instances answer 204 or 404 and leave it gone', async () => {
    const created = await management(first.url, 'POST', 'api/v2/clients', { token, body: { name: 'Raced', app_type: 'regular_web', callbacks: [CALLBACK] } });
    const clientId = created.json.client_id as string;
    const rotations = await Promise.all(Array.from({ length: 6 }, (_, i) => management(i % 2 ? second.url : first.url, 'POST', `api/v2/clients/${clientId}/rotate-secret`, { token })));
    assert.ok(rotations.every((r) => r.status === 200));
    const stored = (await management(first.url, 'GET', `api/v2/clients/${clientId}`, { token })).json.client_secret;
    assert.ok(rotations.some((r) => r.json.client_secret === stored), 'the stored secret is one that was handed out');
    const deletes = await Promise.all(Array.from({ length: 6 }, (_, i) => fetch(new URL(`api/v2/clients/${clientId}`, (i % 2 ? second : first).url), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })));
    const statuses = deletes.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 204).length >= 1 && statuses.every((s) => s === 204 || s === 404), true, String(statuses));
    assert.equal((await management(second.url, 'GET', `api/v2/clients/${clientId}`, { token })).status, 404);
  });

  test('deleting a client kills its sessions\' tokens at /userinfo on every instance, and /authorize refuses it', async () => {
    const clientId = await createSpa('Doomed SPA');
    const alice = new UserAgent(first.url);
    // An opaque access token (implicit), an API JWT (implicit, audience), and a refresh token (code + PKCE).
    const implicit = await authorize(alice, authorizeUrl(first.url, { client_id: clientId, response_type: 'id_token token', redirect_uri: CALLBACK, scope: 'openid email', nonce: 'n1', state: 's1' }));
    const opaque: string = redirectParams(implicit.location).get('access_token') ?? '';
    assert.ok(opaque, `no access token: ${implicit.status} ${implicit.location ?? implicit.body.slice(0, 200)}`);
    const api = await authorize(alice, authorizeUrl(first.url, { client_id: clientId, response_type: 'token', redirect_uri: CALLBACK, scope: 'openid email read:contacts', audience: CONTACTS_API, state: 's2' }));
    const jwt: string = redirectParams(api.location).get('access_token') ?? '';
    assert.ok(jwt.split('.').length === 3, `no API JWT: ${api.location}`);
    const verifier = 'w'.repeat(64);
    const code = await authorize(alice, authorizeUrl(first.url, {
      client_id: clientId, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid email offline_access', prompt: 'consent', state: 's3',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    }));
    const exchanged = await fetch(new URL('oauth/token', first.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code: redirectParams(code.location, 'search').get('code') ?? '', redirect_uri: CALLBACK, code_verifier: verifier }),
    });
    const tokens = (await exchanged.json()) as Record<string, string>;
    assert.equal(exchanged.status, 200, JSON.stringify(tokens));
    assert.ok(tokens.refresh_token, 'no refresh token');

    const userinfo = async (issuer: RunningIssuer, bearer: string) => {
      const response = await fetch(new URL('userinfo', issuer.url), { headers: { authorization: `Bearer ${bearer}` }, signal: AbortSignal.timeout(5000) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    for (const issuer of [first, second]) {
      for (const bearer of [opaque, jwt, tokens.access_token ?? '']) assert.equal((await userinfo(issuer, bearer)).body.email, ALICE.email, 'works before the delete');
    }

    // Auth0 answers 204 without a body.
    const deleted = await fetch(new URL(`api/v2/clients/${clientId}`, second.url), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    assert.equal(deleted.status, 204);

    for (const issuer of [first, second]) {
      for (const bearer of [opaque, jwt, tokens.access_token ?? '']) {
        const answer = await userinfo(issuer, bearer);
        assert.equal(answer.status, 401, `a token of the deleted client still works at ${issuer.url}userinfo: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.error, 'invalid_token');
      }
    }
    const refreshed = await fetch(new URL('oauth/token', second.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token! }),
    });
    assert.equal(refreshed.status, 401, 'the refresh token of a deleted client is refused');
    assert.equal(((await refreshed.json()) as { error?: string }).error, 'invalid_client');
    // Nothing the client held is left in the store: its grants, tokens and the index of them.
    // (Sessions and interactions still name it in their history; without the client and its
    // grants, nothing can be done with that.)
    const keys = await redisKeys(redis);
    const held = keys.filter((key) => key.includes(clientId) && !/:(Session|Interaction):/.test(key.split(' ')[0]!));
    assert.deepEqual(held, [], 'entries of the deleted client remain');
    assertErrorPage(await new UserAgent(first.url).navigate(authorizeUrl(first.url, { client_id: clientId, response_type: 'id_token token', redirect_uri: CALLBACK, scope: 'openid', nonce: 'n', state: 's' })), 'invalid_client');
    // Alice's session lives on for other clients.
    const other = await createSpa('Survivor');
    const survivor = await authorize(alice, authorizeUrl(first.url, { client_id: other, response_type: 'id_token token', redirect_uri: CALLBACK, scope: 'openid', nonce: 'n4', state: 's4' }));
    assert.ok(redirectParams(survivor.location).get('access_token'), `${survivor.status} ${survivor.location}`);
  });
});

/** Every key of this test's Redis with its value ('<key> <value>'). */
async function redisKeys(redis: TestRedis): Promise<string[]> {
  const { Redis } = await import('ioredis');
  const client = new Redis(redis.url);
  try {
    const keys = await client.keys('*');
    const found: string[] = [];
    for (const key of keys) {
      const type = await client.type(key);
      const value = type === 'hash' ? JSON.stringify(await client.hgetall(key)) : type === 'set' ? (await client.smembers(key)).join(' ') : type === 'zset' ? (await client.zrange(key, '0', '-1')).join(' ') : type === 'string' ? await client.get(key) : '';
      found.push(`${key} ${value}`);
    }
    return found;
  } finally {
    client.disconnect();
  }
}

describe('registration.max_clients and the Management API', () => {
  test('deleting a registered client gives its slot back to registration (Redis and SQLite)', async () => {
    const redis = await startRedis();
    try {
      for (const backend of [{ kind: 'redis', url: redis.url, prefix: uniquePrefix('cap-delete') } as Backend, { kind: 'sqlite' } as Backend]) {
        const issuer = await startIssuer({
          backend,
          overrides: {
            tenant: { flags: { enable_dynamic_client_registration: true } },
            registration: { max_clients: 2, rate_limit: { per_second: 1000, burst: 1000 } },
            client_grants: [{ client_id: OPS.client_id, audience: '/api/v2/', scope: CLIENT_SCOPES }],
          },
        });
        try {
          const register = () => fetch(new URL('oidc/register', issuer.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'Capped', redirect_uris: ['https://capped.example.com/cb'] }) });
          const first = (await (await register()).json()) as { client_id: string };
          assert.equal((await register()).status, 201);
          assert.equal((await register()).status, 403, `${backend.kind}: the cap of 2 holds`);
          const token = await managementToken(issuer.url);
          const deleted = await fetch(new URL(`api/v2/clients/${first.client_id}`, issuer.url), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
          assert.equal(deleted.status, 204);
          assert.equal((await register()).status, 201, `${backend.kind}: the deleted client's slot is free again`);
          assert.equal((await register()).status, 403);
        } finally {
          await issuer.close();
        }
      }
    } finally {
      await redis.stop();
    }
  });
});
