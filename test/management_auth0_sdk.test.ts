// Auth0's own Management API SDK (auth0 v7), unchanged, given the issuer's host as its domain.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ManagementClient } from 'auth0';

import { OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';

let issuer: RunningIssuer;
let domain: string;

before(async () => {
  // The SDK speaks https to https://<domain>/; the issuer identifier is that URL.
  issuer = await startIssuer({ overrides: (url) => ({ issuer: url.replace(/^http:/, 'https:') }) });
  domain = new URL(issuer.url).host;
});
after(() => issuer.close());

/** Stands in for TLS termination in front of the issuer: the same request, over plain http to loopback. */
const overLoopback: typeof fetch = (input, init) => {
  const request = new Request(input, init);
  return fetch(new Request(request.url.replace(/^https:/, 'http:'), request));
};

test('ManagementClient gets its own token, reads and updates the tenant settings', async () => {
  const management = new ManagementClient({ domain, clientId: OPS.client_id, clientSecret: OPS.client_secret, fetch: overLoopback, telemetry: false });

  const settings = await management.tenants.settings.get();
  assert.equal(settings.flags?.enable_dynamic_client_registration, false);

  const only = await management.tenants.settings.get({ fields: 'flags', include_fields: true });
  assert.deepEqual(Object.keys(only), ['flags']);

  const updated = await management.tenants.settings.update({ flags: { enable_dynamic_client_registration: true } });
  assert.equal(updated.flags?.enable_dynamic_client_registration, true);
  assert.equal((await issuer.tenant.read()).flags.enable_dynamic_client_registration, true);

  await assert.rejects(
    management.tenants.settings.update({ flags: { enable_dynamic_client_registration: 'yes' } } as never),
    (error: { statusCode?: number; body?: { errorCode?: string } }) => error.statusCode === 400 && error.body?.errorCode === 'invalid_body',
  );
  assert.equal((await issuer.tenant.read()).flags.enable_dynamic_client_registration, true, 'a refused update changes nothing');
});

test('a ManagementClient with a foreign token gets the SDK error for 401', async () => {
  const management = new ManagementClient({ domain, token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', fetch: overLoopback, telemetry: false });
  await assert.rejects(management.tenants.settings.get(), (error: { statusCode?: number }) => error.statusCode === 401);
});
