// /api/v2/keys/signing through Auth0's own SDK (auth0 v7): list, get, rotate and revoke, with
// Auth0's lifecycle (current, next, previous, revoked), the JWKS following it, tokens signed
// before a rotation still accepted, a revoked key's tokens refused everywhere (the Management
// API, /userinfo's API JWTs), cookie keys rotating without ending sessions, and keys from a
// JWKS file refusing rotation. Also pins the library internals the rotation bend relies on.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { ManagementClient } from 'auth0';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JWK } from 'jose';

import { LIBRARY_KEYSTORE_VERSION } from '../src/provider/live_keystore.ts';
import { authorize, authorizeUrl, registerClient } from './support/implicit.ts';
import { CONTACTS_API, OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { captureLogs } from './support/log_capture.ts';
import { management, managementToken } from './support/management.ts';
import { useTempDir } from './support/temp_dir.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';
import type { Step } from './support/user_agent.ts';

const dir = useTempDir('issuer-jwks-');
const KEY_SCOPES = ['read:signing_keys', 'create:signing_keys', 'update:signing_keys', 'read:tenant_settings'];
type SdkError = { statusCode?: number; body?: { statusCode?: number; error?: string; message?: string; errorCode?: string } };

/** Stands in for TLS termination in front of the issuer: the same request, over plain http to loopback. */
const overLoopback: typeof fetch = (input, init) => {
  const request = new Request(input, init);
  return fetch(new Request(request.url.replace(/^https:/, 'http:'), request));
};

/** A user agent for an https issuer reached over plain http on loopback (as the SDK's fetch above). */
class LoopbackAgent extends UserAgent {
  override async request(url: string, init: RequestInit = {}): Promise<Step> {
    const step = await super.request(url.replace(/^https:/, 'http:'), init);
    return { ...step, location: step.location?.replace(/^http:\/\/127\.0\.0\.1:/, 'https://127.0.0.1:') };
  }
}

async function jwksOf(url: string): Promise<{ keys: JWK[] }> {
  return (await (await fetch(new URL('.well-known/jwks.json', url), { signal: AbortSignal.timeout(5000) })).json()) as { keys: JWK[] };
}

test('the rotation bend is written for the installed oidc-provider', () => {
  const installed = JSON.parse(readFileSync(new URL('../node_modules/oidc-provider/package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(installed.version, LIBRARY_KEYSTORE_VERSION, 'oidc-provider moved: check src/provider/live_keystore.ts against its keystore internals, then update the pin');
});

describe('signing keys through the Auth0 SDK', () => {
  let issuer: RunningIssuer;
  let sdk: ManagementClient;
  let logs: ReturnType<typeof captureLogs>;

  before(async () => {
    logs = captureLogs();
    issuer = await startIssuer({
      logger: logs.logger,
      overrides: (url) => ({
        issuer: url.replace(/^http:/, 'https:'),
        tenant: { flags: { enable_dynamic_client_registration: true } },
        client_grants: [{ client_id: OPS.client_id, audience: '/api/v2/', scope: KEY_SCOPES }, { client_id: OPS.client_id, audience: CONTACTS_API, scope: ['read:contacts'] }],
      }),
    });
    sdk = new ManagementClient({ domain: new URL(issuer.url).host, clientId: OPS.client_id, clientSecret: OPS.client_secret, fetch: overLoopback, telemetry: false });
  });
  after(() => issuer?.close());

  const https = () => issuer.config.issuer;
  const tokenFor = (scope?: string) => managementToken(issuer.url, { issuer: https(), ...(scope ? { scope } : {}) });

  test('a current and a next key, both published, with Auth0\'s certificate fields', async () => {
    const keys = await sdk.keys.signing.list();
    assert.equal(keys.length, 2);
    const current = keys.find((k) => k.current)!;
    const next = keys.find((k) => k.next)!;
    assert.ok(current && next && current.kid !== next.kid);
    assert.equal(current.previous, false);
    assert.equal(current.revoked, false);
    assert.ok(current.current_since && !current.current_until);
    const jwks = await jwksOf(issuer.url);
    assert.deepEqual(jwks.keys.map((k) => k.kid), [current.kid, next.kid], 'the next key is published before anything is signed with it');
    for (const key of keys) {
      const cert = new X509Certificate(key.cert);
      const published = jwks.keys.find((k) => k.kid === key.kid)!;
      assert.equal(cert.publicKey.export({ format: 'jwk' }).n, published.n, 'the certificate holds the published key');
      assert.ok(cert.verify(cert.publicKey), 'self-signed with its own key');
      assert.equal(key.fingerprint, cert.fingerprint);
      assert.equal(key.thumbprint, cert.fingerprint.replace(/:/g, ''));
      assert.match(key.pkcs7!, /^-----BEGIN PKCS7-----\n[\s\S]+\n-----END PKCS7-----\n?$/);
      assert.deepEqual(published.x5c, [key.cert.replace(/-----[A-Z ]+-----|\n/g, '')]);
      assert.equal(published.d, undefined);
      assert.deepEqual(await sdk.keys.signing.get(key.kid), key);
    }
    // Tokens are signed with the current key.
    assert.equal(decodeProtectedHeader(await tokenFor()).kid, current.kid);
    await assert.rejects(sdk.keys.signing.get('no-such-kid'), (error: SdkError) => error.statusCode === 404 && error.body?.errorCode === 'not_found');
  });

  test('rotation: next becomes current, a new next, the old current stays as previous; tokens from before still verify', async () => {
    const [before] = [await sdk.keys.signing.list()];
    const oldCurrent = before.find((k) => k.current)!;
    const oldNext = before.find((k) => k.next)!;
    const oldToken = await tokenFor();
    const registered = await registerClient(issuer.url, { client_name: 'Key watcher', redirect_uris: ['http://localhost:8080/cb'], token_endpoint_auth_method: 'none' });
    const alice = new LoopbackAgent(https());
    const api = await authorize(alice, authorizeUrl(https(), { client_id: registered.client_id, response_type: 'token', redirect_uri: 'http://localhost:8080/cb', scope: 'openid email read:contacts', audience: CONTACTS_API, state: 's' }));
    const oldApiJwt = redirectParams(api.location).get('access_token') ?? assert.fail(`no API JWT: ${api.status} ${api.location ?? api.body.slice(0, 300)}`);
    assert.equal(decodeProtectedHeader(oldApiJwt).kid, oldCurrent.kid);
    const cookieKeysBefore = (await issuer.store.getDocument('cookie_keys')) as string[];

    const rotated = await sdk.keys.signing.rotate();
    assert.equal(rotated.kid, oldNext.kid, 'the published next key signs from now on');
    assert.equal(rotated.cert, oldNext.cert);

    // A second rotation right away would sign with a next key that other instances may not
    // publish yet: refused until two key refresh periods have passed.
    const tooSoon = await management(issuer.url, 'POST', 'api/v2/keys/signing/rotate', { token: await tokenFor() });
    assert.equal(tooSoon.status, 429, JSON.stringify(tooSoon.json));
    assert.equal(tooSoon.json.errorCode, 'too_many_requests');
    assert.ok(Number(tooSoon.headers.get('retry-after')) >= 1);

    const after = await sdk.keys.signing.list();
    const byKid = new Map(after.map((k) => [k.kid, k]));
    assert.equal(byKid.get(oldNext.kid)?.current, true);
    assert.equal(byKid.get(oldCurrent.kid)?.previous, true);
    assert.ok(byKid.get(oldCurrent.kid)?.current_until);
    const newNext = after.find((k) => k.next)!;
    assert.ok(![oldCurrent.kid, oldNext.kid].includes(newNext.kid));
    assert.deepEqual((await jwksOf(issuer.url)).keys.map((k) => k.kid), [oldNext.kid, newNext.kid, oldCurrent.kid]);
    assert.equal(decodeProtectedHeader(await tokenFor()).kid, oldNext.kid);

    // Signed before the rotation: still good, with the JWKS and at the issuer itself.
    await jwtVerify(oldToken, createLocalJWKSet(await jwksOf(issuer.url)), { issuer: https() });
    assert.equal((await management(issuer.url, 'GET', 'api/v2/keys/signing', { token: oldToken })).status, 200);
    const userinfo = async (bearer: string) => fetch(new URL('userinfo', issuer.url), { headers: { authorization: `Bearer ${bearer}` } });
    assert.equal((await userinfo(oldApiJwt)).status, 200);

    // Generated cookie keys rotate too, and Alice's session survives: a silent /authorize still works.
    const cookieKeysAfter = (await issuer.store.getDocument('cookie_keys')) as string[];
    assert.equal(cookieKeysAfter.length, cookieKeysBefore.length + 1);
    assert.deepEqual(cookieKeysAfter.slice(1), cookieKeysBefore);
    const silent = await alice.navigate(authorizeUrl(https(), { client_id: registered.client_id, response_type: 'token', redirect_uri: 'http://localhost:8080/cb', scope: 'openid email', prompt: 'none', state: 'silent' }));
    assert.ok(redirectParams(silent.location).get('access_token'), `the session did not survive the rotation: ${silent.location}`);

    // Revoking: only a previous key.
    for (const kid of [oldNext.kid, newNext.kid]) {
      await assert.rejects(sdk.keys.signing.revoke(kid), (error: SdkError) => {
        assert.equal(error.statusCode, 400);
        assert.equal(error.body?.errorCode, 'operation_not_supported');
        assert.match(error.body!.message!, /previous/);
        return true;
      });
    }
    await assert.rejects(sdk.keys.signing.revoke('no-such-kid'), (error: SdkError) => error.statusCode === 404);
    const revoked = await sdk.keys.signing.revoke(oldCurrent.kid);
    assert.equal(revoked.kid, oldCurrent.kid);
    assert.equal(revoked.cert, oldCurrent.cert);
    // The SDK's cached token was signed with the key just revoked: a new client gets a new one.
    sdk = new ManagementClient({ domain: new URL(issuer.url).host, clientId: OPS.client_id, clientSecret: OPS.client_secret, fetch: overLoopback, telemetry: false });
    const listed = (await sdk.keys.signing.list()).find((k) => k.kid === oldCurrent.kid)!;
    assert.equal(listed.revoked, true);
    assert.equal(listed.previous, false);
    assert.ok(listed.revoked_at);
    assert.deepEqual((await jwksOf(issuer.url)).keys.map((k) => k.kid), [oldNext.kid, newNext.kid], 'a revoked key leaves the JWKS');
    await assert.rejects(sdk.keys.signing.revoke(oldCurrent.kid), (error: SdkError) => error.statusCode === 400);

    // Its tokens no longer verify anywhere.
    await assert.rejects(jwtVerify(oldToken, createLocalJWKSet(await jwksOf(issuer.url)), { issuer: https() }));
    const refused = await management(issuer.url, 'GET', 'api/v2/keys/signing', { token: oldToken });
    assert.equal(refused.status, 401);
    assert.equal(refused.json.errorCode, 'invalid_token');
    assert.equal((await userinfo(oldApiJwt)).status, 401);

    const events = logs.lines().filter((line) => line.audit === 'management').map((line) => [line.event, line.actor, line.kid]);
    assert.deepEqual(events, [['signing_key_rotated', OPS.client_id, oldNext.kid], ['signing_key_revoked', OPS.client_id, oldCurrent.kid]]);
    assert.ok(!logs.text().includes('"d":'), 'a private key reached the log');
  });

  test('scopes: reading does not allow rotating or revoking', async () => {
    const reader = new ManagementClient({ domain: new URL(issuer.url).host, token: await tokenFor('read:signing_keys'), fetch: overLoopback, telemetry: false });
    const kids = (await reader.keys.signing.list()).map((k) => k.kid);
    await assert.rejects(reader.keys.signing.rotate(), (error: SdkError) => {
      assert.deepEqual(error.body, { statusCode: 403, error: 'Forbidden', message: 'Insufficient scope, expected any of: create:signing_keys', errorCode: 'insufficient_scope' });
      return true;
    });
    await assert.rejects(reader.keys.signing.revoke(kids.at(-1)!), (error: SdkError) => error.statusCode === 403);
    assert.deepEqual((await reader.keys.signing.list()).map((k) => k.kid), kids, 'nothing changed');
    const settingsOnly = new ManagementClient({ domain: new URL(issuer.url).host, token: await tokenFor('read:tenant_settings'), fetch: overLoopback, telemetry: false });
    await assert.rejects(settingsOnly.keys.signing.list(), (error: SdkError) => error.statusCode === 403);
  });
});

test('keys from a JWKS file keep working; rotating and revoking them is refused with the reason', async () => {
  const keys: JWK[] = [];
  for (let i = 0; i < 2; i += 1) {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    keys.push({ ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' });
  }
  const file = dir.file('jwks.json', JSON.stringify({ keys }));
  const issuer = await startIssuer({ overrides: { keys: { jwks_file: file }, client_grants: [{ client_id: OPS.client_id, audience: '/api/v2/', scope: KEY_SCOPES }] } });
  try {
    const token = await managementToken(issuer.url);
    assert.equal(decodeProtectedHeader(token).kid, keys[0]!.kid);
    const listed = await management(issuer.url, 'GET', 'api/v2/keys/signing', { token });
    assert.deepEqual((listed.json as unknown as { kid: string; current: boolean; previous: boolean }[]).map((k) => [k.kid, k.current, k.previous]), [[keys[0]!.kid, true, false], [keys[1]!.kid, false, true]]);
    for (const [method, path] of [['POST', 'api/v2/keys/signing/rotate'], ['PUT', `api/v2/keys/signing/${keys[1]!.kid}/revoke`]] as const) {
      const refused = await management(issuer.url, method, path, { token });
      assert.equal(refused.status, 400, JSON.stringify(refused.json));
      assert.equal(refused.json.errorCode, 'operation_not_supported');
      assert.match(String(refused.json.message), /jwks_file/);
    }
    assert.deepEqual((await jwksOf(issuer.url)).keys.map((k) => k.kid), keys.map((k) => k.kid));
    assert.equal((await issuer.store.getDocument('signing_keys')), undefined, 'file keys are never copied into the store');
  } finally {
    await issuer.close();
  }
});
