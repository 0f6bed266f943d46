// Many processes, one issuer: two `node src/main.ts` processes share one Redis (same URL, same
// prefix, same issuer identifier, as behind a load balancer). A client registered on one
// authorizes on the other, a login started on one finishes on the other and its session
// holds on both, and a settings change on one applies on the other within a second.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { decodeJwt } from 'jose';

import { ALICE, OPS } from './support/issuer.ts';
import { managementToken, registrationStatus, setRegistrationFlag } from './support/management.ts';
import { waitFor } from './support/wait.ts';
import { freePort, startIssuerProcess } from './support/process.ts';
import type { IssuerProcess } from './support/process.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';
import type { Step } from './support/user_agent.ts';

const CALLBACK = 'https://spa.example.com/callback';
const WITHIN_MS = 1000;

/** The same URL on another instance: what a load balancer does when it picks another process. */
function on(instance: IssuerProcess, url: string): string {
  const moved = new URL(url);
  const target = new URL(instance.url);
  moved.host = target.host;
  return moved.href;
}

/** Follow redirects while they stay on the issuer (either instance), sending each hop to `instance`. */
async function followOn(agent: UserAgent, instance: IssuerProcess, step: Step, issuer: string): Promise<Step> {
  const own = (location: string) => /^http:\/\/127\.0\.0\.1:\d+\//.test(location) && !location.startsWith(CALLBACK);
  for (let hops = 0; step.location && (step.location.startsWith(issuer) || own(step.location)); hops++) {
    assert.ok(hops < 10, 'too many redirects');
    step = await agent.request(on(instance, step.location));
  }
  return step;
}

describe('two issuer processes sharing one Redis', () => {
  let dir: string;
  let redis: TestRedis;
  let a: IssuerProcess;
  let b: IssuerProcess;
  let issuer: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'issuer-instances-'));
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, [
      'tenant: { flags: { enable_dynamic_client_registration: true } }',
      'registration: { rate_limit: { per_second: 1000, burst: 1000 } }',
      `clients: [{ client_id: ${OPS.client_id}, client_secret: ${OPS.client_secret}, name: Ops console, grant_types: [client_credentials] }]`,
      `client_grants: [{ client_id: ${OPS.client_id}, audience: /api/v2/, scope: [read:tenant_settings, update:tenant_settings] }]`,
      '',
    ].join('\n'));
    redis = await startRedis();
    const portA = await freePort();
    issuer = `http://127.0.0.1:${portA}/`;
    // One issuer identifier for both, as two processes behind one load balancer have.
    const env = { CONFIG_FILE: configFile, REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('instances'), ISSUER: issuer };
    const portB = await freePort();
    [a, b] = await Promise.all([startIssuerProcess({ ...env, PORT: String(portA) }), startIssuerProcess({ ...env, PORT: String(portB) })]);
    // Its url names the shared issuer; where B itself listens:
    b.url = `http://127.0.0.1:${portB}/`;
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a client registered on A authorizes on B; a login started on A finishes on B; the session holds on both', async () => {
    const registered = await fetch(new URL('oidc/register', a.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Two instances SPA', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(registered.status, 201, await registered.clone().text());
    const { client_id: clientId } = (await registered.json()) as { client_id: string };

    const authorize = new URL('authorize', issuer);
    authorize.search = new URLSearchParams({ client_id: clientId, redirect_uri: CALLBACK, response_type: 'id_token token', scope: 'openid profile email', nonce: 'n-2', state: 's-2' }).toString();

    // /authorize on A (it reads the client A stored), the login page from A...
    const agent = new UserAgent(issuer);
    const loginPage = await followOn(agent, a, await agent.request(on(a, authorize.href)), issuer);
    assert.equal(loginPage.status, 200, loginPage.body.slice(0, 300));
    assert.match(loginPage.body, /name="password"/);
    // ...submitted to B, consent on B, and the resume lands wherever the balancer sends it.
    let step = await agent.request(on(b, new URL(UserAgent.formAction(loginPage.body), issuer).href), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: ALICE.email, password: ALICE.password }).toString(),
    });
    step = await followOn(agent, b, step, issuer);
    assert.equal(step.status, 200, `expected the consent page, got ${step.status} ${step.location ?? step.body.slice(0, 300)}`);
    assert.match(step.body, /name="decision"/);
    step = await agent.request(on(a, new URL(UserAgent.formAction(step.body), issuer).href), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ decision: 'allow' }).toString(),
    });
    step = await followOn(agent, b, step, issuer);
    assert.ok(step.location?.startsWith(`${CALLBACK}#`), `${step.status} ${step.location ?? step.body.slice(0, 300)}`);
    const fragment = redirectParams(step.location);
    assert.ok(fragment.get('access_token'));
    assert.equal(fragment.get('state'), 's-2');
    const idToken = decodeJwt(fragment.get('id_token')!);
    assert.equal(idToken.iss, issuer);
    assert.equal(idToken.aud, clientId);
    assert.equal(idToken.nonce, 'n-2');

    // The session made across A and B is known to each: prompt=none needs no page on either.
    for (const instance of [a, b]) {
      authorize.searchParams.set('prompt', 'none');
      authorize.searchParams.set('state', `silent-${instance === a ? 'a' : 'b'}`);
      const silent = await followOn(agent, instance, await agent.request(on(instance, authorize.href)), issuer);
      const params = redirectParams(silent.location);
      assert.equal(params.get('error'), null, silent.location);
      assert.ok(params.get('id_token'), silent.location);
    }

    // The access token from the implicit flow works at /userinfo on both.
    for (const instance of [a, b]) {
      const userinfo = await fetch(new URL('userinfo', instance.url), { headers: { authorization: `Bearer ${fragment.get('access_token')}` }, signal: AbortSignal.timeout(5000) });
      assert.equal(userinfo.status, 200, await userinfo.clone().text());
      assert.equal(((await userinfo.json()) as { email: string }).email, ALICE.email);
    }
  });

  test('PATCH /api/v2/tenants/settings on one applies to /oidc/register on the other within 1 s, both ways', async (t) => {
    assert.equal(await registrationStatus(b.url), 201);
    await setRegistrationFlag(a.url, await managementToken(a.url, { issuer }), false);
    const closed = await waitFor(async () => (await registrationStatus(b.url)) === 403, WITHIN_MS, 'registration closed on B');

    assert.equal(await registrationStatus(a.url), 403);
    await setRegistrationFlag(b.url, await managementToken(b.url, { issuer }), true);
    const opened = await waitFor(async () => (await registrationStatus(a.url)) === 201, WITHIN_MS, 'registration opened on A');
    t.diagnostic(`B followed A's PATCH after ${Math.round(closed)} ms; A followed B's after ${Math.round(opened)} ms`);
  });

  test('both instances sign with the same keys', async () => {
    const [jwksA, jwksB] = await Promise.all([a, b].map(async (instance) => (await fetch(new URL('.well-known/jwks.json', instance.url))).json()));
    assert.deepEqual(jwksA, jwksB);
  });
});
