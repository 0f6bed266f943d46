// The registration gate and every other bend hold for each spelling of a path the library routes.
// oidc-provider's router folds case and accepts a trailing slash; an earlier gate compared the
// exact string, and `POST /OIDC/REGISTER` stored a client with the flag off. Requests here are
// sent with node:http so the path goes on the wire exactly as written (fetch would normalise it).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import fc from 'fast-check';

import { OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { implicitApiToken } from './support/implicit.ts';
import { managementToken, setRegistrationFlag } from './support/management.ts';
import { BARE_TOKEN_BEND_VERSION } from '../src/provider/bare_token_response_type.ts';
import { createRouteResolver, LIBRARY_ROUTER_VERSION } from '../src/provider/routes.ts';

type Raw = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** One request with `path` sent byte for byte; bounded at 5 s. */
function raw(baseUrl: string, method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<Raw> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers: { connection: 'close', ...options.headers }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A registration body that every check of the gate refuses, but the library alone would store. */
const FORBIDDEN_CLIENT = JSON.stringify({
  client_name: 'x'.repeat(5000),
  redirect_uris: ['https://attacker.example.com/cb'],
  jwks_uri: 'http://127.0.0.1:9/jwks',
  token_endpoint_auth_method: 'private_key_jwt',
  grant_types: ['client_credentials'],
  response_types: [],
});
const GOOD_CLIENT = JSON.stringify({ client_name: 'Spelled', redirect_uris: ['https://app.example.com/cb'] });
const JSON_TYPE = { 'content-type': 'application/json' };

/** Spellings of /oidc/register that real clients, proxies and attackers send. */
const REGISTER_SPELLINGS = [
  '/oidc/register', '/oidc/register/', '/OIDC/REGISTER', '/OIDC/REGISTER/', '/Oidc/Register', '/oIdC/rEgIsTeR/',
  '/oidc/regist%65r', '/oidc/%72egister', '/%6Fidc/register', '/oidc%2Fregister', '/oidc%2fregister', '/oidc/register%2F',
  '//oidc/register', '/oidc//register', '/oidc/register//', '/oidc/./register', '/oidc/x/../register', '/./oidc/register',
  '/oidc/register;x=1', '/oidc/register;', '/oidc/register?x=1', '/oidc/register/?x=1', '/OIDC/REGISTER?', '/oidc/register#frag',
  '/oidc/register%20', '/oidc/register%00', '/oidc/register%3F', '/oıdc/register', '/oidc/regiſter', '/oidc/register\t',
];
const METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'GET', 'HEAD', 'OPTIONS'];

function isJsonError(response: Raw, error: string): boolean {
  try {
    return (JSON.parse(response.body) as { error?: string }).error === error;
  } catch {
    return false;
  }
}

describe('registration with the flag off: no spelling stores a client', () => {
  let issuer: RunningIssuer;
  before(async () => {
    issuer = await startIssuer({ overrides: { registration: { rate_limit: { per_second: 10_000, burst: 10_000 } } } });
  });
  after(() => issuer.close());

  test('the table: every spelling and method, with a body every check refuses and with a valid one', async () => {
    const routes = createRouteResolver(issuer.provider);
    let routedToRegistration = 0;
    for (const path of REGISTER_SPELLINGS) {
      for (const method of METHODS) {
        for (const body of [FORBIDDEN_CLIENT, GOOD_CLIENT]) {
          // A path node:http itself refuses to send (a tab) is refused before it leaves: nothing to test.
          let response: Raw;
          try {
            response = await raw(issuer.url, method, path, { headers: JSON_TYPE, body: method === 'GET' || method === 'HEAD' ? undefined : body });
          } catch (error) {
            assert.match(String(error), /Request path contains unescaped characters|Invalid character/, `${method} ${path}: ${String(error)}`);
            continue;
          }
          assert.notEqual(response.status, 201, `${method} ${path} answered 201: ${response.body.slice(0, 200)}`);
          assert.ok(response.status < 500, `${method} ${path} answered ${response.status}`);
          if (routes.nameFor('POST', path.split('?')[0]!.split('#')[0]!) === 'registration' && method === 'POST') {
            routedToRegistration += 1;
            assert.equal(response.status, 403, `${method} ${path}`);
            assert.ok(isJsonError(response, 'access_denied'), `${method} ${path}: ${response.body}`);
          }
        }
      }
    }
    // The table holds spellings the library does route to registration (case, one trailing slash, queries).
    assert.ok(routedToRegistration >= 2 * 8, `only ${routedToRegistration} POSTs were spellings the library routes to registration`);
    assert.equal(await issuer.store.countClients(), 0);
  });

  test('property: 600 generated spellings and methods store nothing', async () => {
    const routes = createRouteResolver(issuer.provider);
    // Weighted towards what the library does route (plain letters in any case, one slash), so
    // that both sides of the gate's decision are well represented.
    const weighted = (common: string[], rare: string[]) => fc.oneof({ arbitrary: fc.constantFrom(...common), weight: 6 }, { arbitrary: fc.constantFrom(...rare), weight: 1 });
    const hex = (c: string) => c.charCodeAt(0).toString(16);
    const letter = (c: string) => weighted([c.toLowerCase(), c.toUpperCase()], [`%${hex(c)}`, `%${hex(c).toUpperCase()}`]);
    const word = (w: string) => fc.tuple(...[...w].map(letter)).map((parts) => parts.join(''));
    const slash = weighted(['/'], ['//', '%2F', '%2f', '/./', '/;/']);
    const suffix = weighted(['', '/', '?a=b', '/?a=b'], ['//', ';p=1', '/;p', '?', '%2F', '/.', '%20', '%09']);
    const spelling = fc.tuple(weighted(['/'], ['//', '/%2F']), word('oidc'), slash, word('register'), suffix).map((parts) => parts.join(''));
    const method = fc.oneof({ arbitrary: fc.constant('POST'), weight: 3 }, { arbitrary: fc.constantFrom(...METHODS), weight: 1 });
    let routed = 0;
    await fc.assert(
      fc.asyncProperty(spelling, method, fc.constantFrom(FORBIDDEN_CLIENT, GOOD_CLIENT), async (path, verb, body) => {
        const response = await raw(issuer.url, verb, path, { headers: JSON_TYPE, body: verb === 'GET' || verb === 'HEAD' ? undefined : body });
        assert.notEqual(response.status, 201, `${verb} ${path}`);
        assert.ok(response.status < 500, `${verb} ${path} answered ${response.status}`);
        if (verb === 'POST' && routes.nameFor('POST', path.split('?')[0]!) === 'registration') {
          routed += 1;
          assert.equal(response.status, 403, `${verb} ${path}`);
        }
      }),
      { numRuns: 600, seed: 20261129 },
    );
    assert.ok(routed >= 20, `only ${routed} generated POSTs were spellings the library routes to registration`);
    assert.equal(await issuer.store.countClients(), 0);
  });

  test("the library's own registration route refuses a request that did not pass the gate", async () => {
    // The provider's own Koa app, mounted alone: no gate in front, as after a mis-ordered mount.
    const server = createServer(issuer.provider.callback());
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      for (const path of ['/oidc/register', '/OIDC/REGISTER/']) {
        const response = await raw(url, 'POST', path, { headers: JSON_TYPE, body: GOOD_CLIENT });
        assert.equal(response.status, 403, `${path}: ${response.body}`);
        assert.ok(isJsonError(response, 'access_denied'));
      }
      assert.equal(await issuer.store.countClients(), 0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('registration with the flag on: every spelling meets every check', () => {
  let issuer: RunningIssuer;
  before(async () => {
    issuer = await startIssuer({ overrides: { registration: { rate_limit: { per_second: 10_000, burst: 10_000 } } } });
    await setRegistrationFlag(issuer.url, await managementToken(issuer.url), true);
  });
  after(() => issuer.close());

  test('jwks_uri, private_key_jwt, client_credentials and a 5,000-character name are refused under any spelling', async () => {
    for (const path of ['/oidc/register', '/oidc/register/', '/OIDC/REGISTER', '/Oidc/Register/?x=1']) {
      for (const field of [{ jwks_uri: 'http://127.0.0.1:9/jwks' }, { token_endpoint_auth_method: 'private_key_jwt' }, { grant_types: ['client_credentials'] }, { client_name: 'x'.repeat(5000) }]) {
        const body = JSON.stringify({ client_name: 'Probe', redirect_uris: ['https://app.example.com/cb'], ...field });
        const response = await raw(issuer.url, 'POST', path, { headers: JSON_TYPE, body });
        assert.equal(response.status, 400, `${path} ${JSON.stringify(field).slice(0, 60)}: ${response.body.slice(0, 200)}`);
        assert.ok(isJsonError(response, 'invalid_client_metadata'), response.body.slice(0, 200));
      }
    }
    assert.equal(await issuer.store.countClients(), 0);
  });

  test('the body limit and the media type hold under another spelling', async () => {
    const big = JSON.stringify({ client_name: 'Big', redirect_uris: ['https://app.example.com/cb'], padding: 'x'.repeat(200_000) });
    assert.equal((await raw(issuer.url, 'POST', '/OIDC/REGISTER/', { headers: JSON_TYPE, body: big })).status, 413);
    assert.equal((await raw(issuer.url, 'POST', '/Oidc/Register', { headers: { 'content-type': 'text/plain' }, body: GOOD_CLIENT })).status, 415);
  });

  test('a valid client registers under every spelling the library routes', async () => {
    for (const path of ['/oidc/register/', '/OIDC/REGISTER']) {
      const response = await raw(issuer.url, 'POST', path, { headers: JSON_TYPE, body: GOOD_CLIENT });
      assert.equal(response.status, 201, `${path}: ${response.body.slice(0, 200)}`);
    }
  });
});

describe('discovery: registration_endpoint follows the flag in both metadata documents, and every URL the issuer', () => {
  const DOCUMENTS = [
    '/.well-known/openid-configuration', '/.well-known/openid-configuration/', '/.WELL-KNOWN/OPENID-CONFIGURATION',
    '/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/', '/.Well-Known/OAuth-Authorization-Server?x=1',
  ];
  let issuer: RunningIssuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  async function metadata(path: string, headers: Record<string, string> = {}, url = issuer.url): Promise<Record<string, unknown>> {
    const response = await raw(url, 'GET', path, { headers });
    assert.equal(response.status, 200, `${path}: ${response.body.slice(0, 200)}`);
    return JSON.parse(response.body) as Record<string, unknown>;
  }

  test('hidden in every spelling while the flag is off, listed once it is on', async () => {
    for (const path of DOCUMENTS) assert.equal((await metadata(path)).registration_endpoint, undefined, path);
    await setRegistrationFlag(issuer.url, await managementToken(issuer.url), true);
    try {
      for (const path of DOCUMENTS) assert.equal((await metadata(path)).registration_endpoint, `${issuer.url}oidc/register`, path);
    } finally {
      await setRegistrationFlag(issuer.url, await managementToken(issuer.url), false);
    }
    // HEAD answers like GET, without a body to filter.
    assert.equal((await raw(issuer.url, 'HEAD', DOCUMENTS[0]!)).status, 200);
  });

  /** Every string value that is a URL, anywhere in the document. */
  function urls(document: Record<string, unknown>): string[] {
    return Object.values(document).flatMap((value) => (typeof value === 'string' && /^https?:/.test(value) ? [value] : []));
  }

  test('a forged Host header changes no URL', async () => {
    for (const path of DOCUMENTS) {
      const document = await metadata(path, { host: 'evil.example' });
      assert.equal(document.issuer, issuer.url);
      assert.ok(urls(document).length >= 5, path);
      for (const url of urls(document)) assert.ok(url.startsWith(issuer.url), `${path}: ${url}`);
    }
  });

  test('behind a trusted proxy, X-Forwarded-Host and X-Forwarded-Proto change no URL either', async () => {
    const proxied = await startIssuer({ overrides: { proxy: true } });
    try {
      for (const path of DOCUMENTS) {
        const document = await metadata(path, { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }, proxied.url);
        for (const url of urls(document)) assert.ok(url.startsWith(proxied.url), `${path}: ${url}`);
      }
      // The login redirect the library builds is the issuer's too.
      const authorize = await raw(proxied.url, 'GET', '/authorize?client_id=none&response_type=token&redirect_uri=https%3A%2F%2Fa.example%2F', { headers: { 'x-forwarded-host': 'evil.example' } });
      assert.ok(!String(authorize.headers.location ?? '').includes('evil.example'), String(authorize.headers.location));
    } finally {
      await proxied.close();
    }
  });
});

describe('the other bends hold under the spellings the library routes', () => {
  let issuer: RunningIssuer;
  before(async () => {
    issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
  });
  after(() => issuer.close());

  test('the bends are pinned to the router they were written for', () => {
    assert.equal(LIBRARY_ROUTER_VERSION, BARE_TOKEN_BEND_VERSION);
  });

  test('token endpoint JSON bodies: /oauth/token, /OAUTH/TOKEN and /oauth/token/', async () => {
    for (const path of ['/oauth/token', '/OAUTH/TOKEN', '/oauth/token/']) {
      const body = JSON.stringify({ grant_type: 'client_credentials', client_id: OPS.client_id, client_secret: OPS.client_secret, audience: `${issuer.url}api/v2/` });
      const response = await raw(issuer.url, 'POST', path, { headers: JSON_TYPE, body });
      assert.equal(response.status, 200, `${path}: ${response.body.slice(0, 200)}`);
    }
  });

  test('/userinfo with an API token: /userinfo, /USERINFO and /userinfo/', async () => {
    const token = await implicitApiToken(issuer.url);
    for (const path of ['/userinfo', '/USERINFO', '/userinfo/']) {
      const response = await raw(issuer.url, 'GET', path, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200, `${path}: ${response.body.slice(0, 200)}`);
      assert.equal((JSON.parse(response.body) as { email?: string }).email, 'alice@example.com');
    }
  });

  test('/authorize: the default scope and the 302 with no-referrer under /AUTHORIZE and /authorize/', async () => {
    const client = JSON.parse((await raw(issuer.url, 'POST', '/oidc/register', { headers: JSON_TYPE, body: GOOD_CLIENT })).body) as { client_id: string };
    for (const path of ['/authorize', '/AUTHORIZE', '/authorize/']) {
      // Without a scope the library would refuse at once (no scope granted); with the default it sends the user to log in.
      const response = await raw(issuer.url, 'GET', `${path}?client_id=${client.client_id}&response_type=token&redirect_uri=${encodeURIComponent('https://app.example.com/cb')}&nonce=n`);
      assert.equal(response.status, 303, `${path}: ${response.status} ${String(response.headers.location)}`);
      assert.match(String(response.headers.location), /\/u\//, path);
      assert.equal(response.headers['referrer-policy'], 'no-referrer', path);
      assert.equal(response.headers['cache-control'], 'no-store', path);
    }
  });

  test('the Management API answers only its own spelling; others never reach a handler without a token', async () => {
    for (const path of ['/API/V2/tenants/settings', '/api/v2//tenants/settings', '/api/v2/tenants/settings/', '/api/v2/TENANTS/SETTINGS', '/api/v2/tenants/settings;x', '/api%2Fv2/tenants/settings']) {
      const response = await raw(issuer.url, 'PATCH', path, { headers: JSON_TYPE, body: JSON.stringify({ flags: { enable_dynamic_client_registration: false } }) });
      assert.ok([401, 404, 405].includes(response.status), `${path}: ${response.status} ${response.body.slice(0, 200)}`);
    }
    // The flag is still on: no spelling changed it.
    const response = await raw(issuer.url, 'POST', '/oidc/register', { headers: JSON_TYPE, body: GOOD_CLIENT });
    assert.equal(response.status, 201);
  });
});
