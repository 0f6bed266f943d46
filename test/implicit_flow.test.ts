// The implicit flow over real HTTP, as a browser app registered at /oidc/register uses it:
// tokens in the fragment, ID tokens and API access tokens checked with jose against the JWKS,
// /userinfo with both kinds of access token, and every refusal.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { createRemoteJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import type { JWTPayload } from 'jose';

import { MAX_STATE_LENGTH } from '../src/provider/state_limit.ts';
import { assertErrorPage, authorize, authorizeUrl, registerClient } from './support/implicit.ts';
import type { RegisteredClient } from './support/implicit.ts';
import { ALICE, CONTACTS_API, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';
import type { Step } from './support/user_agent.ts';

const CALLBACK = 'https://spa.example.com/callback';
const OTHER_CALLBACK = 'https://spa.example.com/other';
const ALL_SCOPES = 'openid profile email read:contacts';

let issuer: RunningIssuer;
let spa: RegisteredClient;
let jwks: ReturnType<typeof createRemoteJWKSet>;
let alice: UserAgent;

before(async () => {
  issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
  jwks = createRemoteJWKSet(new URL('.well-known/jwks.json', issuer.url));
  // A browser app: no secret, two callbacks, the grant and response types of the defaults.
  spa = await registerClient(issuer.url, { client_name: 'Contacts SPA', redirect_uris: [CALLBACK, OTHER_CALLBACK], token_endpoint_auth_method: 'none' });
  alice = new UserAgent(issuer.url);
});
after(() => issuer?.close());

function url(params: Record<string, string>, client: RegisteredClient = spa): string {
  return authorizeUrl(issuer.url, { client_id: client.client_id, redirect_uri: CALLBACK, ...params });
}

/** The fragment of a successful redirect to the callback, with Auth0's status and headers. */
function success(step: Step, callback = CALLBACK): URLSearchParams {
  assert.equal(step.status, 302, `expected 302 to the callback, got ${step.status} ${step.location ?? step.body.slice(0, 300)}`);
  assert.ok(step.location?.startsWith(`${callback}#`), step.location);
  assert.equal(step.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(step.headers.get('cache-control'), 'no-store');
  const fragment = redirectParams(step.location);
  assert.equal(fragment.get('error'), null, step.location);
  assert.equal(fragment.get('refresh_token'), null, 'the implicit flow never hands out refresh tokens');
  return fragment;
}

/** An error redirect to the callback, in the fragment unless `part` says otherwise. */
function errorRedirect(step: Step, error: string, part: 'hash' | 'search' = 'hash'): URLSearchParams {
  assert.equal(step.status, 302, `expected an error redirect, got ${step.status} ${step.location ?? step.body.slice(0, 300)}`);
  assert.ok(step.location?.startsWith(CALLBACK), step.location);
  const params = redirectParams(step.location, part);
  assert.equal(params.get('error'), error, step.location);
  assert.equal(params.get('access_token'), null);
  assert.equal(new URL(step.location!).hash.includes('access_token'), false);
  return params;
}

function atHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');
}

async function userinfo(token: string, init: { method?: string; origin?: string } = {}): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (init.origin) headers.origin = init.origin;
  const response = await fetch(new URL('userinfo', issuer.url), { method: init.method ?? 'GET', headers, signal: AbortSignal.timeout(5000) });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, unknown> };
}

async function verifyApiToken(token: string): Promise<JWTPayload> {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: issuer.url, audience: CONTACTS_API, typ: 'at+jwt', algorithms: ['RS256'] });
  assert.equal(protectedHeader.typ, 'at+jwt');
  return payload;
}

describe('success', () => {
  test('id_token token with audience: an ID token and an API JWT, both verified with jose against the JWKS', async () => {
    const step = await authorize(alice, url({ response_type: 'id_token token', scope: ALL_SCOPES, audience: CONTACTS_API, nonce: 'nonce-1', state: 'state-1' }));
    const fragment = success(step);
    assert.equal(fragment.get('token_type'), 'Bearer');
    assert.equal(fragment.get('state'), 'state-1');
    assert.equal(fragment.get('expires_in'), '7200');
    assert.equal(fragment.get('scope'), ALL_SCOPES, 'the scope the access token carries');
    const accessToken = fragment.get('access_token')!;
    const idToken = fragment.get('id_token')!;

    const id = await jwtVerify(idToken, jwks, { issuer: issuer.url, audience: spa.client_id, algorithms: ['RS256'] });
    const kids = ((await (await fetch(new URL('.well-known/jwks.json', issuer.url))).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    assert.ok(kids.includes(id.protectedHeader.kid!), 'the ID token names a key of /.well-known/jwks.json');
    assert.ok(issuer.url.endsWith('/') && id.payload.iss === issuer.url, 'iss is the issuer with its trailing slash');
    assert.equal(id.payload.nonce, 'nonce-1');
    assert.equal(id.payload.at_hash, atHash(accessToken));
    assert.equal(typeof id.payload.sub, 'string');
    assert.equal(typeof id.payload.iat, 'number');
    assert.ok((id.payload.exp as number) > (id.payload.iat as number));
    assert.equal(id.payload.name, ALICE.name);
    assert.equal(id.payload.email, ALICE.email);
    assert.equal(id.payload.email_verified, true);

    const at = await verifyApiToken(accessToken);
    assert.deepEqual(at.aud, [CONTACTS_API, `${issuer.url}userinfo`]);
    assert.equal(at.iss, issuer.url);
    assert.equal(at.sub, id.payload.sub);
    assert.equal(at.azp, spa.client_id);
    assert.equal(at.client_id, spa.client_id);
    assert.equal(at.scope, ALL_SCOPES, "Auth0's shape: the granted OIDC scopes, then the API's");
    assert.equal((at.exp as number) - (at.iat as number), 7200, "the API's token lifetime");

    // Auth0's API token with openid works at /userinfo, GET and POST, with the granted claims.
    for (const method of ['GET', 'POST']) {
      const info = await userinfo(accessToken, { method });
      assert.equal(info.status, 200, JSON.stringify(info.json));
      assert.deepEqual(info.json, { sub: id.payload.sub, name: ALICE.name, nickname: 'alice', email: ALICE.email, email_verified: true });
    }
  });

  test('id_token token without audience: an opaque access token that works at /userinfo', async () => {
    const step = await authorize(alice, url({ response_type: 'id_token token', scope: 'openid email offline_access', nonce: 'nonce-2', state: 'state-2' }));
    const fragment = success(step);
    const accessToken = fragment.get('access_token')!;
    assert.equal(accessToken.split('.').length, 1, 'opaque, not a JWT');
    const id = await jwtVerify(fragment.get('id_token')!, jwks, { issuer: issuer.url, audience: spa.client_id, algorithms: ['RS256'] });
    assert.equal(id.payload.nonce, 'nonce-2');
    assert.equal(id.payload.at_hash, atHash(accessToken));
    assert.equal(id.payload.email, ALICE.email);
    assert.equal(id.payload.name, undefined, 'profile was not asked for');
    const info = await userinfo(accessToken);
    assert.equal(info.status, 200);
    assert.deepEqual(info.json, { sub: id.payload.sub, email: ALICE.email, email_verified: true });
  });

  test('token with audience: the API JWT has the requested API scope; without openid it is for the API alone', async () => {
    const step = await authorize(alice, url({ response_type: 'token', scope: 'read:contacts', audience: CONTACTS_API, state: 'state-3' }));
    const fragment = success(step);
    assert.equal(fragment.get('id_token'), null);
    assert.equal(fragment.get('state'), 'state-3');
    const at = await verifyApiToken(fragment.get('access_token')!);
    assert.equal(at.aud, CONTACTS_API);
    assert.equal(at.scope, 'read:contacts');
    assert.equal(fragment.get('scope'), 'read:contacts');
    assert.equal(at.azp, spa.client_id);
    const info = await userinfo(fragment.get('access_token')!);
    assert.equal(info.status, 401);
    assert.equal(info.json.error, 'invalid_token');
    assert.match(info.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+", error="invalid_token"/);
  });

  test('token with audience and openid: aud lists the API and /userinfo, and /userinfo answers', async () => {
    const fragment = success(await authorize(alice, url({ response_type: 'token', scope: 'openid profile read:contacts', audience: CONTACTS_API, state: 'state-4' })));
    const at = await verifyApiToken(fragment.get('access_token')!);
    assert.deepEqual(at.aud, [CONTACTS_API, `${issuer.url}userinfo`]);
    assert.equal(at.scope, 'openid profile read:contacts');
    assert.equal(fragment.get('scope'), 'openid profile read:contacts');
    const info = await userinfo(fragment.get('access_token')!);
    assert.deepEqual(info.json, { sub: at.sub, name: ALICE.name, nickname: 'alice' });
  });

  test('token without audience (no scope means openid): an opaque token for /userinfo', async () => {
    const fragment = success(await authorize(alice, url({ response_type: 'token', state: 'state-5' })));
    assert.equal(fragment.get('token_type'), 'Bearer');
    assert.equal(fragment.get('expires_in'), '7200');
    assert.equal(fragment.get('scope'), 'openid');
    const info = await userinfo(fragment.get('access_token')!);
    assert.equal(info.status, 200);
    assert.deepEqual(Object.keys(info.json), ['sub']);
  });

  test("Auth0's audience=<issuer>userinfo asks for a /userinfo token: opaque, no API", async () => {
    const fragment = success(await authorize(alice, url({ response_type: 'token', scope: 'openid email', audience: `${issuer.url}userinfo`, state: 's' })));
    assert.equal(fragment.get('access_token')!.split('.').length, 1);
    assert.equal((await userinfo(fragment.get('access_token')!)).json.email, ALICE.email);
  });

  test('scope says what was granted when it differs from the request', async () => {
    // read:contacts belongs to an API; without an audience the token carries the OIDC scopes only.
    let fragment = success(await authorize(alice, url({ response_type: 'token', scope: 'openid profile read:contacts', state: 's' })));
    assert.equal(fragment.get('scope'), 'openid profile');
    // Scopes the API does not define are not granted for it.
    fragment = success(await authorize(alice, url({ response_type: 'token', scope: 'openid read:contacts delete:everything', audience: CONTACTS_API, state: 's' })));
    assert.equal(fragment.get('scope'), 'openid read:contacts');
    assert.equal((await verifyApiToken(fragment.get('access_token')!)).scope, 'openid read:contacts');
  });

  test('state comes back unchanged, whatever its characters, up to the documented limit', async () => {
    for (const state of ['a b&c=d/é~+%#?', 'x'.repeat(MAX_STATE_LENGTH)]) {
      const fragment = success(await authorize(alice, url({ response_type: 'token', state })));
      assert.equal(fragment.get('state'), state);
    }
  });

  test('auth_time is in the ID token when max_age is asked', async () => {
    const fragment = success(await authorize(alice, url({ response_type: 'id_token token', nonce: 'n', max_age: '3600', state: 's' })));
    const id = await jwtVerify(fragment.get('id_token')!, jwks, { issuer: issuer.url, audience: spa.client_id });
    assert.equal(typeof id.payload.auth_time, 'number');
    assert.ok(Math.abs((id.payload.auth_time as number) - Date.now() / 1000) < 120);
  });

  test('a client that registered id_token_signed_response_alg HS256 gets ID tokens signed with its client_secret', async () => {
    const hs = await registerClient(issuer.url, { client_name: 'HS256 app', redirect_uris: [CALLBACK], id_token_signed_response_alg: 'HS256' });
    assert.equal(typeof hs.client_secret, 'string');
    const fragment = success(await authorize(alice, url({ response_type: 'id_token token', nonce: 'hs', scope: 'openid email', state: 's' }, hs)));
    const idToken = fragment.get('id_token')!;
    assert.equal(decodeProtectedHeader(idToken).alg, 'HS256');
    const { payload } = await jwtVerify(idToken, new TextEncoder().encode(hs.client_secret), { issuer: issuer.url, audience: hs.client_id, algorithms: ['HS256'] });
    assert.equal(payload.nonce, 'hs');
    assert.equal(payload.at_hash, atHash(fragment.get('access_token')!));
  });

  test('prompt=none with a session and a grant: tokens without any page (silent authentication)', async () => {
    const fragment = success(await alice.navigate(url({ response_type: 'id_token token', scope: ALL_SCOPES, audience: CONTACTS_API, nonce: 'silent', prompt: 'none', state: 'silent' })));
    assert.equal(fragment.get('state'), 'silent');
    assert.ok(fragment.get('id_token'));
  });

  test('a client with one registered redirect_uri may leave it out', async () => {
    const single = await registerClient(issuer.url, { client_name: 'Single callback', redirect_uris: ['https://single.example.com/cb'], token_endpoint_auth_method: 'none' });
    const step = await authorize(alice, authorizeUrl(issuer.url, { client_id: single.client_id, response_type: 'token', state: 'single' }));
    assert.equal(success(step, 'https://single.example.com/cb').get('state'), 'single');
  });

  test('the code flow gives the API token the same shape at /oauth/token', async () => {
    const verifier = 'v'.repeat(64);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const step = await authorize(alice, url({ response_type: 'code', scope: ALL_SCOPES, audience: CONTACTS_API, state: 'code', code_challenge: challenge, code_challenge_method: 'S256' }));
    assert.equal(step.status, 302, step.location);
    const code = redirectParams(step.location, 'search').get('code')!;
    const response = await fetch(new URL('oauth/token', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: spa.client_id, code, redirect_uri: CALLBACK, code_verifier: verifier }).toString(),
    });
    const body = (await response.json()) as Record<string, string>;
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.scope, ALL_SCOPES);
    const at = await verifyApiToken(body.access_token!);
    assert.deepEqual(at.aud, [CONTACTS_API, `${issuer.url}userinfo`]);
    assert.equal(at.scope, ALL_SCOPES);
    assert.equal((await userinfo(body.access_token!)).json.email, ALICE.email);
  });

  test('the other registered redirect_uri works too, matched exactly', async () => {
    const step = await authorize(alice, url({ response_type: 'token', redirect_uri: OTHER_CALLBACK, state: 'other' }));
    assert.equal(success(step, OTHER_CALLBACK).get('state'), 'other');
  });
});

describe('first-party clients (declared in the configuration, no consent page)', () => {
  let firstParty: RunningIssuer;
  before(async () => {
    firstParty = await startIssuer({ overrides: { clients: [{ client_id: 'first-party-spa', name: 'First-party SPA', grant_types: ['implicit'], response_types: ['token', 'id_token token'], token_endpoint_auth_method: 'none', redirect_uris: [CALLBACK] }], client_grants: [] } });
  });
  after(() => firstParty?.close());

  test('an API token with openid works at /userinfo, an API token without it does not', async () => {
    const agent = new UserAgent(firstParty.url);
    const base = { client_id: 'first-party-spa', redirect_uri: CALLBACK, response_type: 'token', audience: CONTACTS_API, state: 's' };
    const withOpenid = success(await authorize(agent, authorizeUrl(firstParty.url, { ...base, scope: 'openid email read:contacts' })));
    const info = await fetch(new URL('userinfo', firstParty.url), { headers: { authorization: `Bearer ${withOpenid.get('access_token')}` } });
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as { email: string }).email, ALICE.email);
    const apiOnly = success(await authorize(agent, authorizeUrl(firstParty.url, { ...base, scope: 'read:contacts' })));
    const refused = await fetch(new URL('userinfo', firstParty.url), { headers: { authorization: `Bearer ${apiOnly.get('access_token')}` } });
    assert.equal(refused.status, 401);
  });
});

describe('refusals', () => {
  test('a redirect_uri that does not match exactly shows an error page and never redirects', async () => {
    for (const redirectUri of ['https://evil.example.com/callback', `${CALLBACK}/`, `${CALLBACK}?x=1`, CALLBACK.toUpperCase(), 'https://spa.example.com/callback#frag']) {
      assertErrorPage(await alice.request(url({ response_type: 'token', redirect_uri: redirectUri, state: 's' })), 'invalid_redirect_uri');
    }
  });

  test('an unknown client shows an error page and never redirects', async () => {
    assertErrorPage(await alice.request(authorizeUrl(issuer.url, { client_id: 'no-such-client', redirect_uri: CALLBACK, response_type: 'token', state: 's' })), 'invalid_client');
  });

  test('a missing redirect_uri when several are registered shows an error page', async () => {
    assertErrorPage(await alice.request(authorizeUrl(issuer.url, { client_id: spa.client_id, response_type: 'token', state: 's' })), 'invalid_request');
  });

  test('nonce is required whenever an ID token is asked for: an error redirect with invalid_request', async () => {
    for (const responseType of ['id_token token', 'id_token']) {
      const params = errorRedirect(await alice.request(url({ response_type: responseType, scope: 'openid', state: 'no-nonce' })), 'invalid_request');
      assert.match(params.get('error_description') ?? '', /nonce/);
      assert.equal(params.get('state'), 'no-nonce');
    }
  });

  test('response_mode=query is refused for responses that carry tokens', async () => {
    for (const responseType of ['token', 'id_token token']) {
      const params = errorRedirect(await alice.request(url({ response_type: responseType, response_mode: 'query', nonce: 'n', state: 'q' })), 'invalid_request', 'search');
      assert.match(params.get('error_description') ?? '', /response_mode/);
      assert.equal(params.get('state'), 'q');
    }
  });

  test('an unknown audience is an error redirect naming the problem', async () => {
    const params = errorRedirect(await alice.request(url({ response_type: 'token', audience: 'https://unknown.example.com/', state: 'aud' })), 'invalid_target');
    assert.match(params.get('error_description') ?? '', /unknown audience: https:\/\/unknown\.example\.com\//);
    assert.equal(params.get('state'), 'aud');
  });

  test('a state longer than the limit is an error redirect with invalid_request', async () => {
    const params = errorRedirect(await alice.request(url({ response_type: 'token', state: 'x'.repeat(MAX_STATE_LENGTH + 1) })), 'invalid_request');
    assert.equal(params.get('error_description'), `state must be at most ${MAX_STATE_LENGTH} characters`);
    // Past Node's header limit the request is refused before it reaches the issuer: still no 5xx.
    const huge = await alice.request(url({ response_type: 'token', state: 'x'.repeat(20_000) }));
    assert.equal(huge.status, 431);
  });

  test('prompt=none without a session gives login_required (silent authentication)', async () => {
    const params = errorRedirect(await new UserAgent(issuer.url).request(url({ response_type: 'id_token token', nonce: 'n', prompt: 'none', state: 'silent' })), 'login_required');
    assert.equal(params.get('state'), 'silent');
  });

  test('a denied consent gives access_denied with the state', async () => {
    const fresh = await registerClient(issuer.url, { client_name: 'Denied app', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' });
    const params = errorRedirect(await authorize(new UserAgent(issuer.url), url({ response_type: 'token', audience: CONTACTS_API, scope: ALL_SCOPES, state: 'denied' }, fresh), 'deny'), 'access_denied');
    assert.equal(params.get('state'), 'denied');
  });

  test('bad input at /authorize never gives a 5xx', async () => {
    const cases: Record<string, string>[] = [
      { response_type: 'token', scope: '\u0000\u00ff"<>' },
      { response_type: 'token', audience: '' },
      { response_type: 'token', audience: 'not a uri' },
      { response_type: 'token', prompt: 'none login' },
      { response_type: 'token', response_mode: 'web_message' },
      { response_type: 'token', response_mode: 'nonsense' },
      { response_type: 'code token id_token banana' },
      { response_type: '' },
      { response_type: 'token', max_age: '-1' },
      { response_type: 'token', nonce: 'x'.repeat(5000) },
    ];
    for (const params of cases) {
      const step = await alice.request(url({ state: 's', ...params }));
      assert.ok(step.status < 500, `${JSON.stringify(params)}: ${step.status}`);
    }
  });
});

describe('/userinfo and /.well-known/jwks.json for browser apps', () => {
  test('without a token, or with a bad one, 401 with WWW-Authenticate; a forged JWT gets the library\'s own answer', async () => {
    const none = await fetch(new URL('userinfo', issuer.url));
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm=/);

    const opaque = await userinfo('not-a-token');
    // Signed by another key under the issuer's kid, with every claim the issuer would put in.
    const { keys } = (await (await fetch(new URL('.well-known/jwks.json', issuer.url))).json()) as { keys: { kid: string }[] };
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ scope: 'openid email', azp: spa.client_id })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: keys[0]!.kid })
      .setIssuer(issuer.url).setAudience([CONTACTS_API, `${issuer.url}userinfo`]).setSubject('auth0|someone').setIssuedAt().setExpirationTime('1h')
      .sign(privateKey);
    for (const token of [forged, `${forged.slice(0, -4)}AAAA`, 'a.b.c']) {
      const bad = await userinfo(token);
      assert.equal(bad.status, 401);
      assert.deepEqual(bad.json, opaque.json, 'the same body as for a bad opaque token');
      assert.equal(bad.headers.get('www-authenticate'), opaque.headers.get('www-authenticate'));
    }
    assert.deepEqual(opaque.json, { error: 'invalid_token', error_description: 'invalid token provided' });
  });

  test('CORS for any origin on /userinfo (both kinds of token, and preflight) and on the JWKS', async () => {
    const origin = 'https://anywhere.example.net';
    const preflight = await fetch(new URL('userinfo', issuer.url), { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), origin);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/i);

    const opaque = success(await authorize(alice, url({ response_type: 'token', state: 's' }))).get('access_token')!;
    const jwt = success(await authorize(alice, url({ response_type: 'token', scope: ALL_SCOPES, audience: CONTACTS_API, state: 's' }))).get('access_token')!;
    for (const token of [opaque, jwt, 'bad']) {
      const answer = await userinfo(token, { origin });
      assert.equal(answer.headers.get('access-control-allow-origin'), origin);
      if (answer.status === 401) assert.match(answer.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/);
    }
    const keys = await fetch(new URL('.well-known/jwks.json', issuer.url), { headers: { origin } });
    assert.equal(keys.status, 200);
    assert.equal(keys.headers.get('access-control-allow-origin'), origin);
    const { keys: published } = (await keys.json()) as { keys: Record<string, unknown>[] };
    assert.ok(published.length > 0 && published.every((key) => key.d === undefined && key.kty === 'RSA' && typeof key.kid === 'string'));
  });
});
