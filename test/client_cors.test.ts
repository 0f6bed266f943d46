// CORS for browser clients (src/provider/client_cors.ts): /oauth/token and /oauth/revoke allow a
// client's redirect URI origins (public clients), web_origins and allowed_origins; discovery and
// the JWKS allow any origin without credentials; any other origin gets no
// Access-Control-Allow-Origin, at the preflight as at the request itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ConfigError } from '../src/config.ts';
import { registerClient } from './support/implicit.ts';
import type { RegisteredClient } from './support/implicit.ts';
import { startIssuer, testConfig } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';

const EVIL = 'http://evil.example';
const APP = 'https://app.example.com';
const WEB = 'https://web.example.com';
const ALLOWED = 'https://allowed.example.com';
const FIRST_PARTY = 'https://console.example.com';

async function preflight(issuer: RunningIssuer, path: string, origin: string): Promise<Response> {
  return fetch(new URL(path, issuer.url), {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,auth0-client' },
    signal: AbortSignal.timeout(5000),
  });
}

async function post(issuer: RunningIssuer, path: string, origin: string, form: Record<string, string>): Promise<Response> {
  return fetch(new URL(path, issuer.url), { method: 'POST', headers: { origin }, body: new URLSearchParams(form), signal: AbortSignal.timeout(5000) });
}

describe('CORS at /oauth/token and /oauth/revoke', () => {
  let issuer: RunningIssuer;
  let spa: RegisteredClient;
  let confidential: RegisteredClient;

  before(async () => {
    issuer = await startIssuer({
      overrides: {
        tenant: { flags: { enable_dynamic_client_registration: true } },
        clients: [{ client_id: 'console', name: 'Console', grant_types: ['authorization_code'], redirect_uris: [`${FIRST_PARTY}/cb`], token_endpoint_auth_method: 'none', web_origins: ['https://console-web.example.com'] }],
        client_grants: [],
      },
    });
    spa = await registerClient(issuer.url, { client_name: 'SPA', redirect_uris: [`${APP}/callback`], web_origins: [WEB], allowed_origins: [ALLOWED], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' });
    confidential = await registerClient(issuer.url, { client_name: 'Server', redirect_uris: ['https://server.example.com/cb'], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' });
  });
  after(() => issuer?.close());

  test('the preflight allows the origins of registered and configured clients, in any spelling of the path', async () => {
    for (const path of ['oauth/token', 'oauth/revoke', 'OAUTH/TOKEN', 'oauth/token/']) {
      for (const origin of [APP, WEB, ALLOWED, FIRST_PARTY, 'https://console-web.example.com']) {
        const answer = await preflight(issuer, path, origin);
        assert.equal(answer.status, 204, `${path} ${origin}`);
        assert.equal(answer.headers.get('access-control-allow-origin'), origin, `${path} ${origin}`);
        assert.match(answer.headers.get('access-control-allow-methods') ?? '', /POST/);
        assert.equal(answer.headers.get('access-control-allow-credentials'), null);
      }
    }
  });

  test('the preflight gives an unrelated origin no Access-Control-Allow-Origin', async () => {
    for (const path of ['oauth/token', 'oauth/revoke', 'Oauth/Token/']) {
      for (const origin of [EVIL, 'null', `${APP}:8443`, 'https://server.example.com']) {
        const answer = await preflight(issuer, path, origin);
        assert.equal(answer.headers.get('access-control-allow-origin'), null, `${path} ${origin}`);
        assert.equal(answer.headers.get('access-control-allow-methods'), null, `${path} ${origin}`);
      }
    }
  });

  test('the token request answers the client\'s origins, and no other origin, even for a valid request', async () => {
    const form = { grant_type: 'authorization_code', client_id: spa.client_id, code: 'not-a-code', redirect_uri: `${APP}/callback`, code_verifier: 'v'.repeat(43) };
    for (const origin of [APP, WEB, ALLOWED]) {
      const answer = await post(issuer, 'oauth/token', origin, form);
      assert.equal(answer.status, 400, origin);
      assert.equal(((await answer.json()) as { error: string }).error, 'invalid_grant', origin);
      assert.equal(answer.headers.get('access-control-allow-origin'), origin, origin);
    }
    // Another client's origin, or an unrelated one: refused with no Access-Control-Allow-Origin.
    for (const origin of [EVIL, FIRST_PARTY]) {
      const answer = await post(issuer, 'oauth/token', origin, form);
      assert.equal(answer.status, 400);
      assert.equal(answer.headers.get('access-control-allow-origin'), null, origin);
    }
    // An unknown client: the library answered before it knew a client; the echo is taken back.
    const unknown = await post(issuer, 'oauth/token', EVIL, { ...form, client_id: 'nobody' });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.headers.get('access-control-allow-origin'), null);
  });

  test('a confidential client\'s redirect URI origin is not a browser origin of it', async () => {
    const answer = await post(issuer, 'oauth/token', 'https://server.example.com', { grant_type: 'authorization_code', client_id: confidential.client_id, client_secret: String(confidential.client_secret), code: 'x', redirect_uri: 'https://server.example.com/cb' });
    assert.equal(answer.headers.get('access-control-allow-origin'), null);
  });

  test('revocation follows the same origins', async () => {
    const allowed = await post(issuer, 'oauth/revoke', WEB, { client_id: spa.client_id, token: 'not-a-token' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('access-control-allow-origin'), WEB);
    const refused = await post(issuer, 'oauth/revoke', EVIL, { client_id: spa.client_id, token: 'not-a-token' });
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });

  test('discovery and the JWKS allow any origin, without credentials', async () => {
    for (const path of ['.well-known/openid-configuration', '.well-known/oauth-authorization-server', '.well-known/jwks.json']) {
      const answer = await fetch(new URL(path, issuer.url), { headers: { origin: EVIL } });
      assert.equal(answer.status, 200, path);
      assert.ok([EVIL, '*'].includes(answer.headers.get('access-control-allow-origin') ?? ''), path);
      assert.equal(answer.headers.get('access-control-allow-credentials'), null, path);
      const pre = await fetch(new URL(path, issuer.url), { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'GET' } });
      assert.ok([EVIL, '*'].includes(pre.headers.get('access-control-allow-origin') ?? ''), path);
    }
  });
});

describe('web_origins and allowed_origins are validated', () => {
  let issuer: RunningIssuer;
  before(async () => {
    issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } }, registration: { rate_limit: { per_second: 1000, burst: 1000 } } } });
  });
  after(() => issuer?.close());

  test('registration refuses anything but a list of origins, and stores nothing', async () => {
    const before = await issuer.store.countClients();
    for (const [field, value] of [
      ['web_origins', ['https://app.example.com/path']],
      ['web_origins', 'https://app.example.com'],
      ['allowed_origins', ['not a url']],
      ['allowed_origins', ['javascript://x']],
      ['web_origins', [42]],
      ['web_origins', ['https://app.example.com?x=1']],
      ['allowed_origins', Array.from({ length: 21 }, (_, i) => `https://a${i}.example.com`)],
    ] as const) {
      const answer = await fetch(new URL('oidc/register', issuer.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['https://a.example.com/cb'], [field]: value }) });
      assert.equal(answer.status, 400, `${field} ${JSON.stringify(value)}`);
      const body = (await answer.json()) as { error: string; error_description: string };
      assert.equal(body.error, 'invalid_client_metadata');
      assert.match(body.error_description, new RegExp(field));
    }
    assert.equal(await issuer.store.countClients(), before);
  });

  test('registration stores valid origins as sent', async () => {
    const client = await registerClient(issuer.url, { redirect_uris: ['https://a.example.com/cb'], web_origins: ['https://a.example.com', 'http://localhost:3001'], allowed_origins: ['https://b.example.com'] });
    assert.deepEqual(client.web_origins, ['https://a.example.com', 'http://localhost:3001']);
    assert.deepEqual(client.allowed_origins, ['https://b.example.com']);
  });

  test('the config\'s clients refuse a web origin with a path, naming it', () => {
    assert.throws(() => testConfig('http://127.0.0.1:1/', { clients: [{ client_id: 'x', name: 'X', grant_types: ['authorization_code'], redirect_uris: ['https://x.example.com/cb'], token_endpoint_auth_method: 'none', web_origins: ['https://x.example.com/app'] }], client_grants: [] }),
      (error: unknown) => error instanceof ConfigError && error.problems.some((p) => p.startsWith('clients[0].web_origins[0]: must be an origin')));
  });
});
