// A standard relying-party library discovers the issuer and registers itself.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import * as oidc from 'openid-client';

import { startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';

let issuer: RunningIssuer;
before(async () => {
  issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
});
after(() => issuer.close());

test("openid-client v6 discovers the issuer and registers with dynamicClientRegistration", async () => {
  const configuration = await oidc.dynamicClientRegistration(
    new URL(issuer.url),
    { client_name: 'openid-client app', redirect_uris: ['https://rp.example.com/cb'] },
    undefined,
    // The test issuer is plain http on loopback.
    { execute: [oidc.allowInsecureRequests] },
  );
  const server = configuration.serverMetadata();
  assert.equal(server.issuer, issuer.url);
  assert.equal(server.registration_endpoint, `${issuer.url}oidc/register`);
  const metadata = configuration.clientMetadata();
  assert.equal(typeof metadata.client_id, 'string');
  assert.equal(typeof metadata.client_secret, 'string');
  assert.equal(metadata.client_name, 'openid-client app');
  assert.ok(await issuer.provider.Client.find(metadata.client_id), 'the client is stored');

  // The registered client is usable with the library's own helpers.
  const url = oidc.buildAuthorizationUrl(configuration, { redirect_uri: 'https://rp.example.com/cb', scope: 'openid', response_type: 'code', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
  const response = await fetch(url, { redirect: 'manual' });
  assert.equal(response.status, 303);
  assert.match(response.headers.get('location') ?? '', /\/u\//);
});
