// GET and PATCH /api/v2/tenants/settings behind scoped Bearer tokens, with Auth0's error bodies
// for every failure: bad tokens (401), missing scopes (403), bad bodies and queries (400),
// unknown routes (404) and methods (405). Every change leaves one audit line.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { decodeProtectedHeader, importJWK, SignJWT } from 'jose';
import type { JWK } from 'jose';

import { captureLogs } from './support/log_capture.ts';
import { CONTACTS_API, OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { management, managementAudience, managementToken, SETTINGS_PATH, tokenRequest } from './support/management.ts';
import type { Answer } from './support/management.ts';

function assertAuth0Error(result: Answer, status: number, errorCode: string, message?: string | RegExp): void {
  assert.equal(result.status, status, JSON.stringify(result.json));
  assert.deepEqual(Object.keys(result.json).sort(), ['error', 'errorCode', 'message', 'statusCode']);
  assert.equal(result.json.statusCode, status);
  assert.equal(result.json.errorCode, errorCode);
  assert.equal(typeof result.json.error, 'string');
  if (typeof message === 'string') assert.equal(result.json.message, message);
  else if (message) assert.match(String(result.json.message), message);
}

describe('Management API: tenant settings', () => {
  let issuer: RunningIssuer;
  let logs: ReturnType<typeof captureLogs>;
  let token: string;
  let readOnly: string;
  let updateOnly: string;
  let audience: string;

  /** A token signed with the issuer's own private key, with any claims and header. */
  async function forge(claims: Record<string, unknown>, header: Record<string, unknown> = {}, key?: JWK): Promise<string> {
    const signingKeys = (await issuer.store.getDocument('signing_keys')) as { keys: JWK[] };
    const jwk = key ?? signingKeys.keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: `${OPS.client_id}@clients`, azp: OPS.client_id, gty: 'client-credentials', scope: 'read:tenant_settings update:tenant_settings', iss: issuer.url, aud: audience, iat: now, exp: now + 600, ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk.kid, ...header })
      .sign(await importJWK(jwk, 'RS256'));
  }

  const get = (options: { token?: string; headers?: Record<string, string> } = {}, query = '') => management(issuer.url, 'GET', `${SETTINGS_PATH}${query}`, options);
  const patch = (body: unknown, options: { token?: string; headers?: Record<string, string> } = { token }) => management(issuer.url, 'PATCH', SETTINGS_PATH, { ...options, body });

  before(async () => {
    logs = captureLogs();
    issuer = await startIssuer({ logger: logs.logger });
    audience = managementAudience(issuer.url);
    token = await managementToken(issuer.url);
    readOnly = await managementToken(issuer.url, { scope: 'read:tenant_settings' });
    updateOnly = await managementToken(issuer.url, { scope: 'update:tenant_settings' });
  });
  after(() => issuer.close());

  test('GET answers the settings with the registration flag', async () => {
    const result = await get({ token });
    assert.equal(result.status, 200);
    assert.deepEqual(result.json, { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } });
    assert.equal(result.headers.get('cache-control'), 'no-store');
  });

  test('GET supports fields and include_fields like Auth0', async () => {
    assert.deepEqual((await get({ token }, '?fields=flags')).json, { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } });
    assert.deepEqual((await get({ token }, '?fields=flags&include_fields=true')).json, { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } });
    assert.deepEqual((await get({ token }, '?fields=flags&include_fields=false')).json, {});
    assert.deepEqual((await get({ token }, '?fields=friendly_name')).json, {});
    assert.deepEqual((await get({ token }, '?fields=friendly_name&include_fields=false')).json, { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } });
    assert.deepEqual((await get({ token }, '?fields=')).json, { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } });
    assertAuth0Error(await get({ token }, '?include_fields=maybe'), 400, 'invalid_query_string', /include_fields/);
    assertAuth0Error(await get({ token }, '?fields=flags&fields=x'), 400, 'invalid_query_string', /fields/);
    assertAuth0Error(await get({ token }, `?fields=${encodeURIComponent('flags,"><script>')}`), 400, 'invalid_query_string');
  });

  test('PATCH merges the flag, answers the whole object, and every instance reads it back', async () => {
    const changed = await patch({ flags: { enable_dynamic_client_registration: true } });
    assert.equal(changed.status, 200, JSON.stringify(changed.json));
    assert.deepEqual(changed.json, { flags: { enable_dynamic_client_registration: true, enable_client_id_metadata_document: false } });
    assert.deepEqual((await get({ token })).json, changed.json);
    assert.deepEqual(await issuer.tenant.read(), changed.json);

    const unchanged = await patch({});
    assert.equal(unchanged.status, 200);
    assert.deepEqual(unchanged.json, changed.json);

    const back = await patch({ flags: { enable_dynamic_client_registration: false } });
    assert.deepEqual(back.json, { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } });
  });

  test('each change logs one audit line: client, setting, old and new value, time; never the token', async () => {
    const before = logs.lines().length;
    await patch({ flags: { enable_dynamic_client_registration: true } });
    await patch({ flags: { enable_dynamic_client_registration: true } });
    await patch({ flags: { enable_dynamic_client_registration: false } });
    const audit = logs.lines().slice(before).filter((line) => line.audit === 'tenant_settings');
    assert.equal(audit.length, 2, JSON.stringify(audit));
    assert.deepEqual(audit.map(({ actor, setting, old_value: oldValue, new_value: newValue }) => ({ actor, setting, oldValue, newValue })), [
      { actor: OPS.client_id, setting: 'flags.enable_dynamic_client_registration', oldValue: false, newValue: true },
      { actor: OPS.client_id, setting: 'flags.enable_dynamic_client_registration', oldValue: true, newValue: false },
    ]);
    for (const line of audit) assert.ok(Math.abs(Date.parse(String(line.at)) - Date.now()) < 10_000, String(line.at));
    assert.ok(!logs.text().includes(token.split('.')[2]!), 'a token reached the log');
    assert.ok(!logs.text().includes(OPS.client_secret), 'the client secret reached the log');
  });

  test('bad PATCH bodies are 400 invalid_body and change nothing', async () => {
    const cases: [unknown, RegExp][] = [
      ['flags=true', /^Invalid request payload JSON format$/],
      ['{"flags": {"enable_dynamic_client_registration": true}', /^Invalid request payload JSON format$/],
      ['', /^Invalid request payload JSON format$/],
      [{ flags: { enable_dynamic_client_registration: 'true' } }, /Expected type boolean but found type string' on property flags\.enable_dynamic_client_registration/],
      [{ flags: { enable_dynamic_client_registration: 1 } }, /Expected type boolean but found type integer/],
      [{ flags: { enable_dynamic_client_registration: null } }, /Expected type boolean but found type null/],
      [{ flags: { enable_dynamic_client_registration: true, enable_sso: true } }, /Additional properties not allowed: enable_sso' on property flags/],
      [{ flags: true }, /Expected type object but found type boolean' on property flags/],
      [{ friendly_name: 'Acme', flags: { enable_dynamic_client_registration: true } }, /Additional properties not allowed: friendly_name/],
      [[{ flags: { enable_dynamic_client_registration: true } }], /Expected type object but found type array/],
      ['null', /Expected type object but found type null/],
      ['{"__proto__": {"enable_dynamic_client_registration": true}}', /Additional properties not allowed: __proto__/],
    ];
    for (const [body, message] of cases) {
      assertAuth0Error(await patch(body), 400, 'invalid_body', message);
    }
    assertAuth0Error(await patch({ flags: { enable_dynamic_client_registration: true }, padding: 'x'.repeat(20_000) }), 413, 'payload_too_large');
    assert.deepEqual((await get({ token })).json, { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } });
  });

  test('401 in Auth0\'s shape for a missing or malformed Authorization header', async () => {
    assertAuth0Error(await get(), 401, 'invalid_token', 'Missing authentication');
    assertAuth0Error(await patch({ flags: { enable_dynamic_client_registration: true } }, {}), 401, 'invalid_token', 'Missing authentication');
    assertAuth0Error(await get({ headers: { authorization: `Basic ${Buffer.from('ops-console:x').toString('base64')}` } }), 401, 'invalid_token', 'Bad HTTP authentication header format');
    assertAuth0Error(await get({ headers: { authorization: 'Bearer' } }), 401, 'invalid_token', 'Bad HTTP authentication header format');
    for (const bad of ['not-a-jwt', 'a.b.c', 'eyJhbGciOiJSUzI1NiJ9.e30.', `${token.split('.').slice(0, 2).join('.')}.`, `${token}x`]) {
      const result = await get({ headers: { authorization: `Bearer ${bad}` } });
      assertAuth0Error(result, 401, 'invalid_token');
      assert.ok(!String(result.json.message).includes(bad), 'the token is echoed');
    }
    const result = await get({ headers: { authorization: 'Bearer x' } });
    assert.match(result.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
  });

  test('401 for a token signed by another key, with alg none or HS256, expired, early, foreign or for another audience', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = { ...(privateKey.export({ format: 'jwk' }) as JWK) };
    const ownKid = decodeProtectedHeader(token).kid;
    assertAuth0Error(await get({ token: await forge({}, {}, { ...foreign, kid: ownKid }) }), 401, 'invalid_token', 'Invalid signature received for JSON Web Token validation');
    assertAuth0Error(await get({ token: await forge({}, {}, { ...foreign, kid: 'another-key' }) }), 401, 'invalid_token', 'Invalid signature received for JSON Web Token validation');

    const [header, payload] = token.split('.');
    const none = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header!, 'base64url').toString()), alg: 'none' })).toString('base64url')}.${payload}.`;
    assertAuth0Error(await get({ token: none }), 401, 'invalid_token', 'Invalid token');
    const signingKeys = (await issuer.store.getDocument('signing_keys')) as { keys: JWK[] };
    const hs256 = await new SignJWT(JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: ownKid })
      .sign(new TextEncoder().encode(signingKeys.keys[0]!.n));
    assertAuth0Error(await get({ token: hs256 }), 401, 'invalid_token', 'Invalid token');

    const now = Math.floor(Date.now() / 1000);
    assertAuth0Error(await get({ token: await forge({ iat: now - 7200, exp: now - 3600 }) }), 401, 'invalid_token', 'Expired token received for JSON Web Token validation');
    assertAuth0Error(await get({ token: await forge({ nbf: now + 3600 }) }), 401, 'invalid_token', 'Invalid token');
    assertAuth0Error(await get({ token: await forge({ iss: 'https://another-tenant.example.com/' }) }), 401, 'invalid_token', 'Invalid token');
    assertAuth0Error(await get({ token: await forge({ aud: 'https://another-tenant.example.com/api/v2/' }) }), 401, 'invalid_token', 'Bad audience: https://another-tenant.example.com/api/v2/');
    assertAuth0Error(await get({ token: await forge({}, { typ: 'JWT' }) }), 401, 'invalid_token', 'Invalid token');
    assertAuth0Error(await get({ token: await forge({ exp: undefined }) }), 401, 'invalid_token', 'Invalid token');

    // A real token of this issuer, for another API.
    const contacts = await tokenRequest(issuer.url, { grant_type: 'client_credentials', client_id: OPS.client_id, client_secret: OPS.client_secret, audience: CONTACTS_API });
    assertAuth0Error(await get({ token: contacts.json.access_token as string }), 401, 'invalid_token', `Bad audience: ${CONTACTS_API}`);
    // The control: the same forging with the right claims is accepted.
    assert.equal((await get({ token: await forge({}) })).status, 200);
  });

  test('a token outlives no change of the configuration: a client no longer granted, or a scope taken away, is refused', async () => {
    // Signed by the issuer with every claim right, for clients and scopes the configuration does not grant (any more).
    const stranger = await forge({ sub: 'old-client@clients', azp: 'old-client' });
    assertAuth0Error(await get({ token: stranger }), 401, 'invalid_token');
    const widened = await forge({ scope: 'read:tenant_settings update:tenant_settings delete:tenants' });
    assert.equal((await get({ token: widened })).status, 200);
    const onlyTaken = await forge({ scope: 'delete:tenants' });
    assertAuth0Error(await get({ token: onlyTaken }), 403, 'insufficient_scope');
    const notMachine = await forge({ gty: 'password' });
    assertAuth0Error(await get({ token: notMachine }), 401, 'invalid_token');
  });

  test('403 insufficient_scope with Auth0\'s message when the token lacks the scope', async () => {
    const refused = await patch({ flags: { enable_dynamic_client_registration: true } }, { token: readOnly });
    assertAuth0Error(refused, 403, 'insufficient_scope', 'Insufficient scope, expected any of: update:tenant_settings');
    assert.equal(refused.json.error, 'Forbidden');
    assertAuth0Error(await get({ token: updateOnly }), 403, 'insufficient_scope', 'Insufficient scope, expected any of: read:tenant_settings');
    assertAuth0Error(await get({ token: await forge({ scope: undefined }) }), 403, 'insufficient_scope');
    assert.equal((await get({ token: readOnly })).status, 200);
    assert.equal((await patch({}, { token: updateOnly })).status, 200);
    assert.equal((await issuer.tenant.read()).flags.enable_dynamic_client_registration, false);
  });

  test('unknown routes are 404 and wrong methods 405, in Auth0\'s shape', async () => {
    for (const path of ['api/v2/users', 'api/v2', 'api/v2/', 'api/v2/tenants/settings/extra', 'api/v2/tenants']) {
      assertAuth0Error(await management(issuer.url, 'GET', path, { token }), 404, 'not_found', 'Not Found');
    }
    for (const method of ['DELETE', 'POST', 'PUT']) {
      const result = await management(issuer.url, method, SETTINGS_PATH, { token, body: {} });
      assertAuth0Error(result, 405, 'method_not_allowed');
      assert.match(result.headers.get('allow') ?? '', /GET.*PATCH|PATCH.*GET/);
    }
  });

  test('the requests of Auth0\'s Management API SDK work unchanged', async () => {
    // What node-auth0 sends: a JSON token request, then JSON calls with its telemetry header.
    const sdkToken = await tokenRequest(issuer.url, { grant_type: 'client_credentials', client_id: OPS.client_id, client_secret: OPS.client_secret, audience }, { json: true, headers: { 'auth0-client': Buffer.from('{"name":"node-auth0","version":"4.0.0"}').toString('base64') } });
    assert.equal(sdkToken.status, 200);
    const headers = { 'auth0-client': 'eyJuYW1lIjoibm9kZS1hdXRoMCJ9', accept: 'application/json' };
    const read = await management(issuer.url, 'GET', `${SETTINGS_PATH}?fields=flags&include_fields=true`, { token: sdkToken.json.access_token as string, headers });
    assert.deepEqual(read.json, { flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } });
    const update = await management(issuer.url, 'PATCH', SETTINGS_PATH, { token: sdkToken.json.access_token as string, headers: { ...headers, 'content-type': 'application/json; charset=utf-8' }, body: { flags: { enable_dynamic_client_registration: true } } });
    assert.deepEqual(update.json, { flags: { enable_dynamic_client_registration: true, enable_client_id_metadata_document: false } });
    await patch({ flags: { enable_dynamic_client_registration: false } });
  });
});
