// Generated bodies thrown at POST /oidc/register: never a 5xx, every refusal is JSON with an
// RFC 7591 error code, and a refusal stores nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import fc from 'fast-check';

import { startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';

const RFC7591_ERRORS = new Set(['invalid_redirect_uri', 'invalid_client_metadata', 'invalid_software_statement', 'unapproved_software_statement']);
const RUNS = 1000;

let issuer: RunningIssuer;
before(async () => {
  issuer = await startIssuer({
    overrides: {
      tenant: { flags: { enable_dynamic_client_registration: true } },
      registration: { rate_limit: { per_second: 100_000, burst: 100_000 }, max_clients: 100_000 },
    },
  });
});
after(() => issuer.close());

const junkUri = fc.oneof(
  fc.webUrl({ withFragments: true, withQueryParameters: true }),
  fc.constantFrom('/relative', '', 'not a uri', 'https://exa mple.com/', 'https://a.example.com/cb#frag', 'javascript:alert(1)'),
  fc.string({ maxLength: 40 }),
);
const goodUri = fc.oneof(
  fc.webUrl({ validSchemes: ['https'], withQueryParameters: true }),
  fc.constantFrom('https://app.example.com/callback', 'http://localhost:3000/cb', 'https://application.example.com/callback2'),
);
const anyJson = fc.jsonValue({ maxDepth: 2 });
/** Mostly valid values, sometimes junk: both sides of the endpoint get exercised. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, junk: fc.Arbitrary<U>) => fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: junk });
const metadataField = fc.record(
  {
    redirect_uris: mostly(fc.array(goodUri, { minLength: 1, maxLength: 4 }), fc.oneof(fc.array(junkUri, { maxLength: 4 }), anyJson)),
    client_name: mostly(fc.string({ minLength: 1, maxLength: 80 }), fc.oneof(fc.string({ maxLength: 250 }), anyJson)),
    token_endpoint_auth_method: mostly(fc.constantFrom('none', 'client_secret_post', 'client_secret_basic'), fc.oneof(fc.constantFrom('private_key_jwt', 'bogus'), anyJson)),
    grant_types: mostly(fc.subarray(['authorization_code', 'implicit']), fc.oneof(fc.subarray(['refresh_token', 'client_credentials', 'password', 'implicit']), anyJson)),
    response_types: mostly(fc.subarray(['code', 'token', 'id_token', 'id_token token']), fc.oneof(fc.subarray(['code id_token', 'none', 'bogus']), anyJson)),
    logo_uri: mostly(goodUri, fc.oneof(junkUri, anyJson)),
    client_uri: mostly(goodUri, junkUri),
    policy_uri: mostly(goodUri, junkUri),
    tos_uri: mostly(goodUri, junkUri),
    contacts: mostly(fc.array(fc.emailAddress(), { maxLength: 3 }), anyJson),
    id_token_signed_response_alg: mostly(fc.constantFrom('RS256', 'HS256'), fc.oneof(fc.constantFrom('none', 'ES256', 'bogus'), anyJson)),
    application_type: mostly(fc.constant('web'), fc.constantFrom('native', 'bogus')),
    jwks: mostly(fc.constant(undefined), anyJson),
    software_statement: mostly(fc.constant(undefined), fc.string({ maxLength: 30 })),
    extra: anyJson,
  },
  { requiredKeys: ['redirect_uris'] },
);
const body = fc.oneof(
  { weight: 8, arbitrary: metadataField.map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: anyJson.map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
);

test(`${RUNS} generated bodies: no 5xx, RFC 7591 errors, nothing stored on refusal`, async () => {
  let accepted = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(body, async (text) => {
      const before = await issuer.store.countClients();
      const response = await fetch(new URL('oidc/register', issuer.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: text, signal: AbortSignal.timeout(5000) });
      const answer = await response.text();
      assert.ok(response.status < 500, `${response.status} for ${text}: ${answer}`);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/);
      const json = JSON.parse(answer) as Record<string, unknown>;
      const after = await issuer.store.countClients();
      if (response.status === 201) {
        accepted++;
        assert.equal(after, before + 1);
        assert.equal(typeof json.client_id, 'string');
      } else {
        refused++;
        assert.equal(response.status, 400, `${response.status} for ${text}: ${answer}`);
        assert.ok(RFC7591_ERRORS.has(json.error as string), `error ${String(json.error)} for ${text}: ${answer}`);
        assert.equal(typeof json.error_description, 'string');
        assert.equal(after, before, `stored a client on a refusal: ${text}`);
      }
    }),
    { numRuns: RUNS },
  );
  // The generators must reach both sides, or the property says little.
  assert.ok(accepted > 20, `only ${accepted} accepted`);
  assert.ok(refused > 200, `only ${refused} refused`);
});
