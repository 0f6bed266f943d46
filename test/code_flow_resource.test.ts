// Issue 11 items 5 and 6: a registration's `scope` keeps the OIDC scopes and the configured APIs'
// scopes and drops the rest (an MCP client copies its resource's `mcp:tools`), and the code flow
// with `resource` (RFC 8707, MCP clients) or `audience` (Auth0) returns an RS256 JWT for that API.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';

import { CONTACTS_API, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { authorizeCode, codeFrom, decodeJwt, pkcePair, tokenRequest } from './support/code_flow.ts';
import { authorize, registerClient } from './support/implicit.ts';
import { UserAgent } from './support/user_agent.ts';
import { API_SCOPES_BEND_VERSION } from '../src/provider/api_scopes_in_client_metadata.ts';

// An MCP server's own URL is an API identifier like any other.
const MCP_SERVER = 'http://127.0.0.1:6274/mcp';
const REDIRECT = 'http://127.0.0.1:7777/callback';

let issuer: RunningIssuer;
before(async () => {
  issuer = await startIssuer({
    overrides: {
      tenant: { flags: { enable_dynamic_client_registration: true } },
      registration: { rate_limit: { per_second: 1000, burst: 1000 } },
      apis: [
        { identifier: CONTACTS_API, name: 'Contacts API', scopes: ['read:contacts', 'write:contacts'] },
        { identifier: MCP_SERVER, name: 'Notes MCP server', scopes: ['mcp:tools'] },
      ],
    },
  });
});
after(() => issuer.close());

async function register(metadata: Record<string, unknown>): Promise<Response> {
  return fetch(new URL('oidc/register', issuer.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata), signal: AbortSignal.timeout(5000) });
}

function publicClient(extra: Record<string, unknown> = {}) {
  return registerClient(issuer.url, { client_name: 'MCP client', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', ...extra });
}

test('the scope bend is written for the pinned oidc-provider', async () => {
  const { createRequire } = await import('node:module');
  const version = (createRequire(import.meta.url)('oidc-provider/package.json') as { version: string }).version;
  assert.equal(version, API_SCOPES_BEND_VERSION, 'oidc-provider changed: check src/provider/api_scopes_in_client_metadata.ts still fits, then update API_SCOPES_BEND_VERSION');
});

test('registration keeps OIDC and API scopes in `scope` and drops unknown values, as stored', async () => {
  const client = await publicClient({ scope: 'openid mcp:tools read:contacts bogus:scope mcp:tools offline_access' });
  const words = (scope: unknown) => String(scope).split(' ').sort();
  assert.deepEqual(words(client.scope), ['mcp:tools', 'offline_access', 'openid', 'read:contacts']);
  const stored = await issuer.provider.Client.find(client.client_id);
  assert.deepEqual(words(stored?.scope), ['mcp:tools', 'offline_access', 'openid', 'read:contacts']);

  const onlyApi = await publicClient({ scope: 'mcp:tools' });
  assert.equal(onlyApi.scope, 'mcp:tools');

  const unknown = await publicClient({ scope: 'admin:everything root' });
  assert.equal(unknown.scope, undefined);
  assert.equal((await issuer.provider.Client.find(unknown.client_id))?.scope, undefined);
});

test('a scope that is not a string is refused and nothing is stored', async () => {
  const before = await issuer.store.countClients();
  for (const scope of [['openid'], 42, { a: 1 }]) {
    const response = await register({ redirect_uris: [REDIRECT], scope });
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { error: 'invalid_client_metadata', error_description: 'scope must be a string' });
  }
  assert.equal(await issuer.store.countClients(), before);
});

test('code + PKCE with `resource` (RFC 8707): an RS256 JWT for the MCP server with the granted scope', async () => {
  const client = await publicClient({ scope: 'mcp:tools' });
  const pkce = pkcePair();
  const code = codeFrom(await authorizeCode(issuer.url, { client_id: client.client_id, redirect_uri: REDIRECT, scope: 'mcp:tools', resource: MCP_SERVER }, pkce));
  const { status, body } = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code, client_id: client.client_id, redirect_uri: REDIRECT, code_verifier: pkce.verifier, resource: MCP_SERVER });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.scope, 'mcp:tools');
  assert.equal(body.token_type, 'Bearer');
  const { payload, protectedHeader } = await jwtVerify(body.access_token as string, createRemoteJWKSet(new URL('.well-known/jwks.json', issuer.url)), { issuer: issuer.url, audience: MCP_SERVER });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(payload.aud, MCP_SERVER);
  assert.equal(payload.scope, 'mcp:tools');
  assert.equal(payload.client_id, client.client_id);
});

test('code + PKCE with `audience` (Auth0): a JWT for that API, also without `resource` at the token endpoint', async () => {
  const client = await publicClient();
  const pkce = pkcePair();
  const code = codeFrom(await authorizeCode(issuer.url, { client_id: client.client_id, redirect_uri: REDIRECT, scope: 'openid read:contacts', audience: CONTACTS_API }, pkce));
  const { status, body } = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code, client_id: client.client_id, redirect_uri: REDIRECT, code_verifier: pkce.verifier });
  assert.equal(status, 200, JSON.stringify(body));
  const { header, payload } = decodeJwt(body.access_token);
  assert.equal(header.alg, 'RS256');
  assert.deepEqual(payload.aud, [CONTACTS_API, new URL('userinfo', issuer.url).href]);
  assert.equal(payload.scope, 'openid read:contacts');
  assert.equal(typeof body.id_token, 'string');
});

test('an API that is not configured gets invalid_target, at /authorize and at the token endpoint', async () => {
  const client = await publicClient();
  for (const param of ['resource', 'audience']) {
    const step = await authorizeCode(issuer.url, { client_id: client.client_id, redirect_uri: REDIRECT, scope: 'openid', [param]: 'https://unknown.example.com/api' });
    const params = new URL(step.location!).searchParams;
    assert.equal(params.get('error'), 'invalid_target', `${param}: ${step.location}`);
    assert.equal(params.get('code'), null);
  }
  // A code granted for one API cannot be exchanged for another.
  const pkce = pkcePair();
  const code = codeFrom(await authorizeCode(issuer.url, { client_id: client.client_id, redirect_uri: REDIRECT, scope: 'read:contacts', resource: CONTACTS_API }, pkce));
  const { status, body } = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code, client_id: client.client_id, redirect_uri: REDIRECT, code_verifier: pkce.verifier, resource: MCP_SERVER });
  assert.equal(status, 400);
  assert.equal(body.error, 'invalid_target');
  assert.equal(body.access_token, undefined);
});

test('PKCE with S256 is required for public clients', async () => {
  const client = await publicClient();
  const base = { client_id: client.client_id, redirect_uri: REDIRECT, scope: 'openid' };
  const missing = new URL((await authorizeCode(issuer.url, base, null)).location!).searchParams;
  assert.equal(missing.get('error'), 'invalid_request');
  assert.match(missing.get('error_description') ?? '', /requires PKCE/);

  const plain = new URL((await authorizeCode(issuer.url, { ...base, code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }, null)).location!).searchParams;
  assert.equal(plain.get('error'), 'invalid_request');
  assert.equal(plain.get('code'), null);

  const pkce = pkcePair();
  const code = codeFrom(await authorizeCode(issuer.url, base, pkce));
  const wrong = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code, client_id: client.client_id, redirect_uri: REDIRECT, code_verifier: pkcePair().verifier });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.error, 'invalid_grant');
});

test('a client registered with API scopes only may not ask for OIDC scopes it did not register', async () => {
  const client = await publicClient({ scope: 'mcp:tools' });
  const step = await authorizeCode(issuer.url, { client_id: client.client_id, redirect_uri: REDIRECT, scope: 'openid email mcp:tools', resource: MCP_SERVER });
  const params = new URL(step.location!).searchParams;
  assert.equal(params.get('error'), 'invalid_scope');
});

test('a regular web app on openid-client: a confidential client, the code flow with its secret, a JWT for the API named by audience', async () => {
  const config = await oidc.dynamicClientRegistration(
    new URL(issuer.url),
    { client_name: 'Server-side web app', redirect_uris: ['https://web.example.com/callback'], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
    undefined,
    { execute: [oidc.allowInsecureRequests] },
  );
  assert.equal(typeof config.clientMetadata().client_secret, 'string');
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: 'https://web.example.com/callback', scope: 'openid profile read:contacts', audience: CONTACTS_API, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'web-state-1' });
  const step = await authorize(new UserAgent(issuer.url), url.href);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(step.location!), { pkceCodeVerifier: verifier, expectedState: 'web-state-1' });
  assert.equal(tokens.claims()?.name, 'Alice Example');
  const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL('.well-known/jwks.json', issuer.url)), { issuer: issuer.url, audience: CONTACTS_API });
  assert.equal(payload.scope, 'openid profile read:contacts');
  // The same code exchange without the secret is refused.
  const pkce = pkcePair();
  const code = codeFrom(await authorizeCode(issuer.url, { client_id: config.clientMetadata().client_id, redirect_uri: 'https://web.example.com/callback', scope: 'openid' }, pkce));
  const anonymous = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code, client_id: config.clientMetadata().client_id, redirect_uri: 'https://web.example.com/callback', code_verifier: pkce.verifier });
  assert.equal(anonymous.body.error, 'invalid_client');
});
