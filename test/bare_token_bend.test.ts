// The bend that enables bare `response_type=token` (src/provider/bare_token_response_type.ts)
// reaches into oidc-provider's private state. These tests fail loudly when an upgrade of the
// library moves what it relies on, or makes it unnecessary.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import Provider from 'oidc-provider';

import { allowBareTokenResponseType, BARE_TOKEN_BEND_VERSION } from '../src/provider/bare_token_response_type.ts';
import { authorize, authorizeUrl, registerClient } from './support/implicit.ts';
import { startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';

function readJson(url: URL): Record<string, unknown> {
  return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;
}

describe('the bare token bend is pinned to one oidc-provider version', () => {
  test('the installed oidc-provider is the version the bend was written for, pinned exactly in package.json', () => {
    const installed = readJson(new URL(import.meta.resolve('oidc-provider/package.json'))).version;
    const pinned = (readJson(new URL('../package.json', import.meta.url)).dependencies as Record<string, string>)['oidc-provider'];
    assert.equal(installed, BARE_TOKEN_BEND_VERSION, `oidc-provider ${String(installed)} is installed but the bare token bend was written for ${BARE_TOKEN_BEND_VERSION}: check src/provider/bare_token_response_type.ts against the new version, then update BARE_TOKEN_BEND_VERSION`);
    assert.equal(pinned, BARE_TOKEN_BEND_VERSION, 'package.json must pin oidc-provider to the exact version (no ^ or ~): the bend relies on its private state');
  });

  test('the library itself still refuses "token" at construction (else the bend can go)', () => {
    assert.throws(() => new Provider('http://127.0.0.1/', { responseTypes: ['token' as never] }), /unsupported response type: token/,
      'oidc-provider now accepts responseTypes ["token"]: remove src/provider/bare_token_response_type.ts and list "token" in src/provider/create_provider.ts');
  });

  test('the bend throws, naming the version, when the private state it edits is gone', () => {
    assert.throws(() => allowBareTokenResponseType({} as Provider), new RegExp(`no longer fits oidc-provider \\(written for ${BARE_TOKEN_BEND_VERSION.replaceAll('.', '\\.')}\\)`));
  });
});

describe('bare response_type=token works end to end', () => {
  let issuer: RunningIssuer;

  before(async () => {
    issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
  });
  after(() => issuer?.close());

  test('discovery lists token in response_types_supported', async () => {
    const discovery = (await (await fetch(new URL('.well-known/openid-configuration', issuer.url))).json()) as { response_types_supported: string[] };
    assert.ok(discovery.response_types_supported.includes('token'), JSON.stringify(discovery.response_types_supported));
    assert.ok(discovery.response_types_supported.includes('id_token token'));
  });

  test('a client registered for response_types [token] only gets an access token in the fragment', async () => {
    const client = await registerClient(issuer.url, { client_name: 'Token only', redirect_uris: ['https://token-only.example.com/cb'], response_types: ['token'], grant_types: ['implicit'], token_endpoint_auth_method: 'none' });
    assert.deepEqual(client.response_types, ['token']);
    const agent = new UserAgent(issuer.url);
    const step = await authorize(agent, authorizeUrl(issuer.url, { client_id: client.client_id, redirect_uri: 'https://token-only.example.com/cb', response_type: 'token', scope: 'openid', state: 'bare' }));
    assert.equal(step.status, 302, step.body.slice(0, 300));
    const fragment = redirectParams(step.location);
    assert.ok(fragment.get('access_token'), step.location);
    assert.equal(fragment.get('token_type'), 'Bearer');
    assert.equal(fragment.get('state'), 'bare');
    assert.equal(fragment.get('id_token'), null);
  });

  test('a client registered with only client_name and redirect_uris completes response_type=token', async () => {
    const client = await registerClient(issuer.url, { client_name: 'Minimal', redirect_uris: ['https://minimal.example.com/cb'] });
    const agent = new UserAgent(issuer.url);
    const step = await authorize(agent, authorizeUrl(issuer.url, { client_id: client.client_id, redirect_uri: 'https://minimal.example.com/cb', response_type: 'token' }));
    assert.equal(step.status, 302, step.body.slice(0, 300));
    const fragment = redirectParams(step.location);
    const userinfo = await fetch(new URL('userinfo', issuer.url), { headers: { authorization: `Bearer ${fragment.get('access_token')}` } });
    assert.equal(userinfo.status, 200);
    assert.equal(typeof ((await userinfo.json()) as { sub?: unknown }).sub, 'string');
  });
});
