// Open Dynamic Client Registration at POST /oidc/register, gated by the tenant flag.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { captureLogs } from './support/log_capture.ts';
import { ALICE, startIssuer } from './support/issuer.ts';
import type { Backend, RunningIssuer } from './support/issuer.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';
import { loginAndConsent, redirectParams, UserAgent } from './support/user_agent.ts';
import { waitFor } from './support/wait.ts';

const AUTH0_EXAMPLE = {
  client_name: 'My Dynamic application',
  redirect_uris: ['https://application.example.com/callback', 'https://application.example.com/callback2'],
};
const FLAG_ON = { tenant: { flags: { enable_dynamic_client_registration: true } } };

type Answer = { status: number; headers: Headers; json: Record<string, unknown> };

async function post(issuer: RunningIssuer, body: string | Buffer, contentType = 'application/json', headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(new URL('oidc/register', issuer.url), { method: 'POST', headers: { 'content-type': contentType, ...headers }, body, signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  assert.match(response.headers.get('content-type') ?? '', /application\/json/, `not JSON (${response.status}): ${text.slice(0, 200)}`);
  return { status: response.status, headers: response.headers, json: JSON.parse(text) as Record<string, unknown> };
}

function register(issuer: RunningIssuer, metadata: unknown): Promise<Answer> {
  return post(issuer, JSON.stringify(metadata));
}

async function discovery(issuer: RunningIssuer): Promise<Record<string, unknown>> {
  return (await (await fetch(new URL('.well-known/openid-configuration', issuer.url))).json()) as Record<string, unknown>;
}

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(() => redis?.stop());

const backends: [string, () => Backend][] = [
  ['sqlite', () => ({ kind: 'sqlite' })],
  ['redis', () => ({ kind: 'redis', url: redis.url, prefix: uniquePrefix('registration') })],
];

for (const [name, backend] of backends) {
  describe(`registration on ${name}`, () => {
    let issuer: RunningIssuer;
    let logs: ReturnType<typeof captureLogs>;

    before(async () => {
      logs = captureLogs();
      issuer = await startIssuer({ backend: backend(), overrides: { ...FLAG_ON, registration: { rate_limit: { per_second: 1000, burst: 1000 } } }, logger: logs.logger });
    });
    after(() => issuer.close());

    test("Auth0's documented example gets 201 with the registered metadata and a strong secret", async () => {
      const { status, headers, json } = await register(issuer, AUTH0_EXAMPLE);
      assert.equal(status, 201);
      assert.equal(headers.get('cache-control'), 'no-store');
      assert.equal(typeof json.client_id, 'string');
      assert.equal(typeof json.client_secret, 'string');
      assert.ok(Buffer.from(json.client_secret as string, 'base64url').length >= 32, 'at least 256 bits');
      assert.equal(json.client_secret_expires_at, 0);
      assert.equal(json.client_name, AUTH0_EXAMPLE.client_name);
      assert.deepEqual(json.redirect_uris, AUTH0_EXAMPLE.redirect_uris);
      assert.equal(json.token_endpoint_auth_method, 'client_secret_post');
      assert.deepEqual([...(json.grant_types as string[])].sort(), ['authorization_code', 'implicit']);
      assert.ok((json.response_types as string[]).includes('token'));
      assert.ok((json.response_types as string[]).includes('id_token token'));
      assert.ok((json.response_types as string[]).includes('code'));
      assert.equal(json.registration_access_token, undefined);
      assert.equal(json.registration_client_uri, undefined);

      const line = logs.lines().find((l) => l.event === 'client_registered' && l.client_id === json.client_id);
      assert.ok(line, 'one structured line per registration');
      assert.deepEqual(line.redirect_hosts, ['application.example.com']);
      assert.equal(line.client_name, AUTH0_EXAMPLE.client_name);
      assert.equal(typeof line.ip, 'string');
      assert.ok(!logs.text().includes(json.client_secret as string), 'the secret is never logged');
    });

    test('token_endpoint_auth_method none returns no secret; other metadata is kept', async () => {
      const { status, json } = await register(issuer, { ...AUTH0_EXAMPLE, token_endpoint_auth_method: 'none', logo_uri: 'https://application.example.com/logo.png', contacts: ['ops@example.com'] });
      assert.equal(status, 201);
      assert.equal(json.client_secret, undefined);
      assert.equal(json.token_endpoint_auth_method, 'none');
      assert.equal(json.logo_uri, 'https://application.example.com/logo.png');
      assert.deepEqual(json.contacts, ['ops@example.com']);
    });

    test('response types name their parts in any order: token id_token is id_token token', async () => {
      const { status, json } = await register(issuer, { ...AUTH0_EXAMPLE, response_types: ['token id_token'] });
      assert.equal(status, 201, JSON.stringify(json));
      assert.deepEqual(json.response_types, ['id_token token']);
      assert.deepEqual(json.grant_types, ['implicit']);
    });

    const refusals: [string, number, string, string | Buffer, string?][] = [
      ['missing redirect_uris', 400, 'invalid_redirect_uri', JSON.stringify({ client_name: 'x' })],
      ['empty redirect_uris', 400, 'invalid_redirect_uri', JSON.stringify({ redirect_uris: [] })],
      ['non-array redirect_uris', 400, 'invalid_redirect_uri', JSON.stringify({ redirect_uris: 'https://a.example.com/cb' })],
      ['relative redirect URI', 400, 'invalid_redirect_uri', JSON.stringify({ redirect_uris: ['/callback'] })],
      ['malformed redirect URI', 400, 'invalid_redirect_uri', JSON.stringify({ redirect_uris: ['https://exa mple.com:99999/'] })],
      ['redirect URI with a fragment', 400, 'invalid_redirect_uri', JSON.stringify({ redirect_uris: ['https://a.example.com/cb#frag'] })],
      ['non-string redirect URI', 400, 'invalid_redirect_uri', JSON.stringify({ redirect_uris: [42] })],
      ['wrong type for client_name', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], client_name: 7 })],
      ['wrong type for grant_types', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], grant_types: 'implicit' })],
      ['unknown auth method', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], token_endpoint_auth_method: 'magic' })],
      ['inconsistent grant and response types', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], grant_types: ['authorization_code'], response_types: ['id_token token'] })],
      ['client_credentials for a registered client', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], grant_types: ['client_credentials'] })],
      ['a client_name that is too long', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], client_name: 'n'.repeat(201) })],
      ['too many redirect URIs', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: Array.from({ length: 21 }, (_, i) => `https://a.example.com/cb${i}`) })],
      // The library would fetch these URLs (any host and port) on the registrant's behalf.
      ['a sector_identifier_uri', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], sector_identifier_uri: 'http://127.0.0.1:6379/' })],
      ['a jwks_uri', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], jwks_uri: 'http://127.0.0.1:6379/' })],
      ['request_uris', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], request_uris: ['http://127.0.0.1:6379/'] })],
      ['a relative post_logout_redirect_uri', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], post_logout_redirect_uris: ['/bye'] })],
      ['a post_logout_redirect_uri with a fragment', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], post_logout_redirect_uris: ['https://a.example.com/bye#x'] })],
      ['too many post_logout_redirect_uris', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], post_logout_redirect_uris: Array.from({ length: 21 }, (_, i) => `https://a.example.com/bye${i}`) })],
      ['an http post_logout_redirect_uri off loopback for an implicit client', 400, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], post_logout_redirect_uris: ['http://a.example.com/bye'] })],
      ['a body that is not JSON', 400, 'invalid_client_metadata', '{"redirect_uris": ['],
      ['a JSON array', 400, 'invalid_client_metadata', '[]'],
      ['JSON null', 400, 'invalid_client_metadata', 'null'],
      ['another content type', 415, 'invalid_client_metadata', 'redirect_uris=https://a.example.com/cb', 'application/x-www-form-urlencoded'],
      ['a body over max_body_bytes', 413, 'invalid_client_metadata', JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], client_uri: `https://a.example.com/${'x'.repeat(40_000)}` })],
    ];
    for (const [what, status, error, body, contentType] of refusals) {
      test(`refuses ${what}: ${status} ${error}, nothing stored`, async () => {
        const before = await issuer.store.countClients();
        const answer = await post(issuer, body, contentType);
        assert.equal(answer.status, status, JSON.stringify(answer.json));
        assert.equal(answer.json.error, error);
        assert.equal(typeof answer.json.error_description, 'string');
        if (/sector_identifier_uri|jwks_uri|request_uris/.test(what)) assert.match(answer.json.error_description as string, /is not supported/);
        // Refused before the body was read: the connection closes rather than carry its rest.
        if (status === 413 || status === 415) assert.equal(answer.headers.get('connection'), 'close');
        assert.equal(await issuer.store.countClients(), before);
      });
    }

    test('a client with only client_name and redirect_uris completes response_type=token and the code flow', async () => {
      const { json } = await register(issuer, { client_name: 'Minimal', redirect_uris: ['https://minimal.example.com/cb'] });
      const clientId = json.client_id as string;
      const agent = new UserAgent(issuer.url);
      const authorize = new URL('authorize', issuer.url);
      authorize.search = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://minimal.example.com/cb', response_type: 'token', state: 'st' }).toString();
      const done = await loginAndConsent(agent, await agent.navigate(authorize.href), ALICE);
      const fragment = redirectParams(done.location);
      assert.ok(fragment.get('access_token'), done.location);
      assert.equal(fragment.get('token_type'), 'Bearer');
      assert.equal(fragment.get('state'), 'st');

      authorize.search = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://minimal.example.com/cb', response_type: 'code', scope: 'openid', state: 'st2' }).toString();
      const code = await agent.navigate(authorize.href);
      assert.ok(redirectParams(code.location, 'search').get('code'), code.location);
    });
  });
}

describe('the tenant flag', () => {
  test('off by default: 403 access_denied, discovery without registration_endpoint, nothing stored', async () => {
    const issuer = await startIssuer();
    try {
      assert.equal(issuer.config.tenant.flags.enable_dynamic_client_registration, false);
      const before = await issuer.store.countClients();
      const answer = await register(issuer, AUTH0_EXAMPLE);
      assert.equal(answer.status, 403);
      assert.equal(answer.json.error, 'access_denied');
      assert.match(answer.json.error_description as string, /disabled/);
      assert.equal(answer.headers.get('connection'), 'close', 'refused unread: the body is not left on a kept-alive connection');
      assert.equal(await issuer.store.countClients(), before);
      assert.equal((await discovery(issuer)).registration_endpoint, undefined);
    } finally {
      await issuer.close();
    }
  });

  test('turned on through the store, a second instance follows within 1 s', async () => {
    const prefix = uniquePrefix('flag');
    const a = await startIssuer({ backend: { kind: 'redis', url: redis.url, prefix } });
    const b = await startIssuer({ backend: { kind: 'redis', url: redis.url, prefix } });
    try {
      assert.equal((await register(b, AUTH0_EXAMPLE)).status, 403);
      await a.tenant.updateFlags({ enable_dynamic_client_registration: true });
      await waitFor(async () => (await register(b, AUTH0_EXAMPLE)).status === 201, 1000);
      assert.equal((await discovery(b)).registration_endpoint, `${b.url}oidc/register`);
      await a.tenant.updateFlags({ enable_dynamic_client_registration: false });
      await waitFor(async () => (await register(b, AUTH0_EXAMPLE)).status === 403, 1000);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('abuse limits', () => {
  test('the rate limit holds across two instances sharing Redis: 429 with Retry-After', async () => {
    const prefix = uniquePrefix('ratelimit');
    const overrides = { ...FLAG_ON, registration: { rate_limit: { per_second: 0.5, burst: 3 } } };
    const a = await startIssuer({ backend: { kind: 'redis', url: redis.url, prefix }, overrides });
    const b = await startIssuer({ backend: { kind: 'redis', url: redis.url, prefix }, overrides });
    try {
      const statuses: number[] = [];
      let limited: Answer | undefined;
      for (const issuer of [a, b, a, b, a]) {
        const answer = await register(issuer, AUTH0_EXAMPLE);
        statuses.push(answer.status);
        if (answer.status === 429) limited ??= answer;
      }
      // Three in one window in all, whichever instance served them; a window boundary may let one more through.
      assert.ok(statuses.filter((s) => s === 201).length <= 4, JSON.stringify(statuses));
      assert.ok(limited, `expected a 429 in ${JSON.stringify(statuses)}`);
      assert.equal(limited.json.error, 'too_many_requests');
      assert.equal(limited.headers.get('connection'), 'close');
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 6, `Retry-After ${retryAfter}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('behind a proxy the limit keys on the address the proxy saw, not on forged X-Forwarded-For entries', async () => {
    const issuer = await startIssuer({ overrides: { ...FLAG_ON, proxy: true, registration: { rate_limit: { per_second: 0.01, burst: 1 } } } });
    try {
      const via = (xff: string) => post(issuer, JSON.stringify(AUTH0_EXAMPLE), 'application/json', { 'x-forwarded-for': xff });
      assert.equal((await via('198.51.100.1, 203.0.113.7')).status, 201);
      const forged = await via('198.51.100.2, 203.0.113.7');
      assert.equal(forged.status, 429, 'a new leftmost entry is not a new client');
      assert.equal((await via('198.51.100.1, 203.0.113.8')).status, 201, 'another address the proxy saw is another client');
      // One IPv6 host holds a whole /64.
      assert.equal((await via('2001:db8:1:2::1')).status, 201);
      assert.equal((await via('2001:db8:1:2:ffff::9')).status, 429);
      assert.equal((await via('2001:db8:1:3::1')).status, 201);
    } finally {
      await issuer.close();
    }
  });

  test('the cap on registered clients refuses with 403 once reached', async () => {
    const issuer = await startIssuer({ overrides: { ...FLAG_ON, registration: { max_clients: 3, rate_limit: { per_second: 100, burst: 100 } } } });
    try {
      const existing = await issuer.store.countClients();
      for (let i = existing; i < 3; i++) assert.equal((await register(issuer, AUTH0_EXAMPLE)).status, 201);
      const refused = await register(issuer, AUTH0_EXAMPLE);
      assert.equal(refused.status, 403);
      assert.equal(refused.json.error, 'access_denied');
      assert.match(refused.json.error_description as string, /limit of 3/);
      assert.equal(await issuer.store.countClients(), 3);
    } finally {
      await issuer.close();
    }
  });
});

describe('browsers', () => {
  test('CORS preflight and requests from any origin, without credentials', async () => {
    const issuer = await startIssuer({ overrides: FLAG_ON });
    try {
      const preflight = await fetch(new URL('oidc/register', issuer.url), {
        method: 'OPTIONS',
        headers: { origin: 'https://spa.example.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
      assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /content-type/i);
      assert.equal(preflight.headers.get('access-control-allow-credentials'), null);

      const answer = await post(issuer, JSON.stringify(AUTH0_EXAMPLE), 'application/json', { origin: 'https://spa.example.org' });
      assert.equal(answer.status, 201);
      assert.equal(answer.headers.get('access-control-allow-origin'), '*');
    } finally {
      await issuer.close();
    }
  });
});

describe('local development redirect URIs', () => {
  const local = { client_name: 'Local SPA', redirect_uris: ['http://localhost:8080/callback', 'http://127.0.0.1:5173/callback'] };

  test('development accepts http://localhost and http://127.0.0.1 for implicit clients, not other http hosts', async () => {
    const issuer = await startIssuer({ overrides: FLAG_ON });
    try {
      const accepted = await register(issuer, local);
      assert.equal(accepted.status, 201, JSON.stringify(accepted.json));
      assert.ok((accepted.json.response_types as string[]).includes('token'));
      const refused = await register(issuer, { redirect_uris: ['http://app.example.com/callback'] });
      assert.equal(refused.status, 400);
      assert.equal(refused.json.error, 'invalid_redirect_uri');
      // The code flow alone may use any http redirect URI, as the library allows.
      assert.equal((await register(issuer, { redirect_uris: ['http://app.example.com/callback'], grant_types: ['authorization_code'] })).status, 201);
    } finally {
      await issuer.close();
    }
  });

  test('production keeps implicit redirect URIs https-only', async () => {
    const issuer = await startIssuer({
      overrides: { ...FLAG_ON, env: 'production', cookies: { keys: ['a-production-cookie-key-of-32-characters!'] }, users: [{ email: 'carol@example.com', password: 'a-real-password' }] },
    });
    try {
      const refused = await register(issuer, local);
      assert.equal(refused.status, 400);
      assert.equal(refused.json.error, 'invalid_redirect_uri');
      assert.match(refused.json.error_description as string, /https/);
      assert.equal((await register(issuer, AUTH0_EXAMPLE)).status, 201);
    } finally {
      await issuer.close();
    }
  });
});
