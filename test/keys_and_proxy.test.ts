// Signing keys from a JWKS file, and the issuer behind a TLS-terminating reverse proxy.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, jwtVerify, createLocalJWKSet } from 'jose';

import { startIssuer } from './support/issuer.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';

test('keys.jwks_file: the issuer publishes and signs with the given key, never its private part', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'issuer-jwks-'));
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  const file = join(dir, 'jwks.json');
  writeFileSync(file, JSON.stringify({ keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] }));
  const issuer = await startIssuer({
    overrides: {
      keys: { jwks_file: file },
      clients: [{ client_id: 'spa', name: 'SPA', grant_types: ['implicit'], token_endpoint_auth_method: 'none', redirect_uris: ['https://spa.example.com/cb'] }],
      client_grants: [],
    },
  });
  try {
    const jwks = (await (await fetch(new URL('.well-known/jwks.json', issuer.url))).json()) as { keys: Record<string, unknown>[] };
    assert.deepEqual(jwks.keys.map((k) => k.kid), [kid]);
    assert.equal(jwks.keys[0]?.d, undefined);

    const agent = new UserAgent(issuer.url);
    const authorize = new URL('authorize', issuer.url);
    authorize.search = new URLSearchParams({ client_id: 'spa', redirect_uri: 'https://spa.example.com/cb', response_type: 'id_token token', scope: 'openid', nonce: 'n' }).toString();
    const page = await agent.navigate(authorize.href);
    const done = await agent.submit(UserAgent.formAction(page.body), { email: 'alice@example.com', password: 'alice-password-1' });
    const idToken = redirectParams(done.location).get('id_token');
    assert.ok(idToken, done.location);
    const { protectedHeader } = await jwtVerify(idToken, createLocalJWKSet(jwks as never), { issuer: issuer.url, audience: 'spa' });
    assert.equal(protectedHeader.kid, kid);
  } finally {
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('proxy: true honours X-Forwarded-Proto and X-Forwarded-Host (secure cookies behind TLS termination)', async () => {
  const issuer = await startIssuer({
    overrides: {
      issuer: 'https://issuer.example.com/',
      proxy: true,
      clients: [{ client_id: 'spa', name: 'SPA', grant_types: ['implicit'], token_endpoint_auth_method: 'none', redirect_uris: ['https://spa.example.com/cb'] }],
      client_grants: [],
    },
  });
  try {
    const authorize = new URL('authorize', issuer.url);
    authorize.search = new URLSearchParams({ client_id: 'spa', redirect_uri: 'https://spa.example.com/cb', response_type: 'id_token token', scope: 'openid', nonce: 'n' }).toString();
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'issuer.example.com' };
    const response = await fetch(authorize, { headers: forwarded, redirect: 'manual' });
    assert.equal(response.status, 303);
    const cookies = response.headers.getSetCookie();
    assert.ok(cookies.length > 0);
    for (const cookie of cookies) assert.match(cookie, /;\s*secure/i, `cookie without Secure: ${cookie}`);

    const meta = (await (await fetch(new URL('.well-known/openid-configuration', issuer.url), { headers: forwarded })).json()) as Record<string, string>;
    assert.equal(meta.issuer, 'https://issuer.example.com/');
    assert.equal(meta.authorization_endpoint, 'https://issuer.example.com/authorize');
  } finally {
    await issuer.close();
  }
});
