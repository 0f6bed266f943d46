// Management API tokens (and machine-to-machine tokens for the user's APIs) from POST
// /oauth/token with client_credentials, as Auth0 issues them: form, JSON and Basic, scopes from
// client_grants, Auth0's refusals. Also guards two bends of oidc-provider 9.13.3: JSON bodies at
// the token endpoint (src/provider/token_json_body.ts) and Auth0's client_credentials rules
// (src/provider/client_credentials.ts). If an upgrade breaks either, these tests fail.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

import { CONTACTS_API, OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { managementAudience, tokenRequest } from './support/management.ts';
import type { Answer } from './support/management.ts';

const ALL_MANAGEMENT_SCOPES = 'read:tenant_settings update:tenant_settings';

function assertDenied(result: Answer, description: string | RegExp): void {
  assert.equal(result.status, 403, JSON.stringify(result.json));
  assert.equal(result.json.error, 'access_denied');
  if (typeof description === 'string') assert.equal(result.json.error_description, description);
  else assert.match(String(result.json.error_description), description);
}

describe('client_credentials tokens at /oauth/token', () => {
  let issuer: RunningIssuer;
  let audience: string;
  const credentials = { grant_type: 'client_credentials', client_id: OPS.client_id, client_secret: OPS.client_secret };

  before(async () => {
    issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
    audience = managementAudience(issuer.url);
  });
  after(() => issuer.close());

  async function verify(token: string, expectedAudience: string) {
    const jwks = createRemoteJWKSet(new URL('.well-known/jwks.json', issuer.url));
    assert.equal(decodeProtectedHeader(token).alg, 'RS256');
    return (await jwtVerify(token, jwks, { issuer: issuer.url, audience: expectedAudience, algorithms: ['RS256'] })).payload;
  }

  test('a form body gives an Auth0-shaped answer and an RS256 JWT with Auth0 claims', async () => {
    const result = await tokenRequest(issuer.url, { ...credentials, audience });
    assert.equal(result.status, 200, JSON.stringify(result.json));
    assert.equal(result.json.token_type, 'Bearer');
    assert.equal(result.json.expires_in, 86400);
    assert.equal(result.json.scope, ALL_MANAGEMENT_SCOPES);
    assert.equal(result.headers.get('cache-control'), 'no-store');
    const claims = await verify(result.json.access_token as string, audience);
    assert.equal(claims.iss, issuer.url);
    assert.equal(claims.sub, `${OPS.client_id}@clients`);
    assert.equal(claims.aud, audience);
    assert.equal(claims.azp, OPS.client_id);
    assert.equal(claims.gty, 'client-credentials');
    assert.equal(claims.scope, ALL_MANAGEMENT_SCOPES);
    assert.equal(typeof claims.iat, 'number');
    assert.equal(claims.exp, (claims.iat as number) + 86400);
  });

  test('a JSON body works as Auth0 accepts it (bend: token_json_body)', async () => {
    const result = await tokenRequest(issuer.url, { ...credentials, audience }, { json: true });
    assert.equal(result.status, 200, JSON.stringify(result.json));
    assert.equal(result.json.scope, ALL_MANAGEMENT_SCOPES);
    assert.equal((await verify(result.json.access_token as string, audience)).sub, `${OPS.client_id}@clients`);
  });

  test('HTTP Basic client authentication, with a form or a JSON body', async () => {
    const basic = `Basic ${Buffer.from(`${OPS.client_id}:${OPS.client_secret}`).toString('base64')}`;
    for (const json of [false, true]) {
      const result = await tokenRequest(issuer.url, { grant_type: 'client_credentials', audience }, { json, headers: { authorization: basic } });
      assert.equal(result.status, 200, JSON.stringify(result.json));
      assert.equal(result.json.scope, ALL_MANAGEMENT_SCOPES);
    }
  });

  test('a subset of the granted scopes is granted as asked', async () => {
    const result = await tokenRequest(issuer.url, { ...credentials, audience, scope: 'read:tenant_settings' });
    assert.equal(result.status, 200, JSON.stringify(result.json));
    assert.equal(result.json.scope, 'read:tenant_settings');
    assert.equal((await verify(result.json.access_token as string, audience)).scope, 'read:tenant_settings');
  });

  test('scopes that were not granted are refused with Auth0\'s access_denied (bend: client_credentials)', async () => {
    assertDenied(await tokenRequest(issuer.url, { ...credentials, audience, scope: 'read:tenant_settings read:users' }), 'Client has not been granted scopes: read:users');
    assertDenied(await tokenRequest(issuer.url, { ...credentials, audience, scope: 'read:users delete:users' }, { json: true }), 'Client has not been granted scopes: read:users, delete:users');
    assertDenied(await tokenRequest(issuer.url, { ...credentials, audience, scope: 'openid' }), 'Client has not been granted scopes: openid');
  });

  test('without an audience, or for an API that does not exist, the request is refused', async () => {
    assertDenied(await tokenRequest(issuer.url, credentials), /^No audience parameter was provided/);
    assertDenied(await tokenRequest(issuer.url, { ...credentials, audience: 'https://nowhere.example.com/' }), 'Service not enabled within domain: https://nowhere.example.com/');
  });

  test('a wrong secret is invalid_client; nothing about the secret is echoed', async () => {
    const result = await tokenRequest(issuer.url, { ...credentials, client_secret: 'not-the-secret-at-all', audience }, { json: true });
    assert.equal(result.status, 401);
    assert.equal(result.json.error, 'invalid_client');
    assert.doesNotMatch(JSON.stringify(result.json), /not-the-secret-at-all/);
  });

  test('machine-to-machine tokens for the user\'s own APIs follow client_grants too', async () => {
    const result = await tokenRequest(issuer.url, { ...credentials, audience: CONTACTS_API });
    assert.equal(result.status, 200, JSON.stringify(result.json));
    assert.equal(result.json.scope, 'read:contacts');
    assert.equal(result.json.expires_in, 7200);
    const claims = await verify(result.json.access_token as string, CONTACTS_API);
    assert.equal(claims.gty, 'client-credentials');
    assert.equal(claims.sub, `${OPS.client_id}@clients`);
    assertDenied(await tokenRequest(issuer.url, { ...credentials, audience: CONTACTS_API, scope: 'write:contacts' }), 'Client has not been granted scopes: write:contacts');
  });

  test('a client created by registration never gets a Management API token', async () => {
    // Through the front door: registration refuses client_credentials, and a registered web app
    // cannot use the grant.
    const registered = await fetch(new URL('oidc/register', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Machine', redirect_uris: ['https://machine.example.com/cb'], grant_types: ['client_credentials', 'authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' }),
    });
    // The gate's documented answer (README, registration errors), and nothing stored.
    assert.equal(registered.status, 400);
    assert.deepEqual(await registered.json(), { error: 'invalid_client_metadata', error_description: 'registered clients cannot use the client_credentials grant' });
    const webApp = await fetch(new URL('oidc/register', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Web app', redirect_uris: ['https://web.example.com/cb'], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' }),
    });
    assert.equal(webApp.status, 201, await webApp.clone().text());
    const clients = [(await webApp.json()) as { client_id: string; client_secret: string }];

    // Even a stored (registered) client allowed the grant has no client grant, so no token.
    const stored = { client_id: 'registered-machine-client', client_secret: 'registered-machine-secret-0123456789' };
    await issuer.store.adapterFor('Client').upsert(stored.client_id, { ...stored, client_name: 'Stored machine', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_post' });
    clients.push(stored);

    for (const client of clients) {
      const asked = { grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret };
      for (const fields of [{ ...asked, audience }, { ...asked, audience, scope: 'read:tenant_settings' }, { ...asked, resource: audience }, { ...asked, audience: CONTACTS_API }]) {
        const result = await tokenRequest(issuer.url, fields);
        assert.ok([400, 401, 403].includes(result.status), JSON.stringify(result.json));
        assert.equal(result.json.access_token, undefined);
      }
    }
    const refused = await tokenRequest(issuer.url, { grant_type: 'client_credentials', ...stored, audience });
    assertDenied(refused, `Client is not authorized to access "${audience}". You need to create a client grant associated to this API.`);
  });

  test('bad JSON bodies are 400 invalid_request, never a 5xx', async () => {
    const cases: [string, RegExp][] = [
      ['{"grant_type": "client_credentials",', /not valid JSON/],
      ['["client_credentials"]', /must be a JSON object/],
      ['null', /must be a JSON object/],
      ['"client_credentials"', /must be a JSON object/],
      ['{"grant_type": "client_credentials", "audience": {"x": 1}}', /audience must be a string/],
      [JSON.stringify({ grant_type: 'client_credentials', padding: 'x'.repeat(60 * 1024) }), /at most/],
    ];
    for (const [body, description] of cases) {
      const response = await fetch(new URL('oauth/token', issuer.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const json = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 400, `${body.slice(0, 60)} → ${JSON.stringify(json)}`);
      assert.equal(json.error, 'invalid_request');
      assert.match(String(json.error_description), description);
    }
  });

  test('other content types still reach the library unchanged', async () => {
    const response = await fetch(new URL('oauth/token', issuer.url), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'grant_type=client_credentials' });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
  });
});
