// API access tokens (JWTs) at /userinfo after a logout (issue 10, finding 2): a JWT cannot be
// deleted, so it counts only while the consent grant that issued it lives. A logout destroys
// that grant; a new consent creates another under the same id, which must not revive the old
// token, least of all with claims the user no longer grants.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { decodeJwt } from 'jose';

import { authorize, authorizeUrl, registerClient } from './support/implicit.ts';
import type { RegisteredClient } from './support/implicit.ts';
import { ALICE, CONTACTS_API, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';

const CALLBACK = 'https://spa.example.com/callback';

let issuer: RunningIssuer;
let spa: RegisteredClient;

before(async () => {
  issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
  spa = await registerClient(issuer.url, { client_name: 'Contacts SPA', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' });
});
after(() => issuer?.close());

/** An API access token for the contacts API from the implicit flow, consenting when asked. */
async function apiToken(agent: UserAgent, scope: string): Promise<string> {
  const step = await authorize(agent, authorizeUrl(issuer.url, { client_id: spa.client_id, redirect_uri: CALLBACK, response_type: 'token', scope, audience: CONTACTS_API, state: 's' }));
  assert.equal(step.status, 302, `${step.status} ${step.location ?? step.body.slice(0, 300)}`);
  const token = redirectParams(step.location).get('access_token');
  assert.ok(token, step.location);
  assert.deepEqual(decodeJwt(token).aud, [CONTACTS_API, `${issuer.url}userinfo`]);
  return token;
}

async function userinfo(token: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(new URL('userinfo', issuer.url), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** Log out at /v2/logout, confirming on the page as a user does. */
async function logout(agent: UserAgent): Promise<void> {
  const page = await agent.navigate(new URL('v2/logout', issuer.url).href);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(xsrf, 'the logout page carries its form');
  const done = await agent.submit(UserAgent.formAction(page.body), { xsrf, logout: 'yes' });
  assert.equal(done.status, 200, done.body.slice(0, 300));
  assert.match(done.body, /logged out/i);
}

describe('API tokens at /userinfo after logout', () => {
  test('a token revoked by logout stays refused after the user consents again, and new tokens get only the new grant', async () => {
    const first = new UserAgent(issuer.url);
    const old = await apiToken(first, 'openid email read:contacts');
    assert.deepEqual(await userinfo(old), { status: 200, json: { sub: decodeJwt(old).sub, email: ALICE.email, email_verified: true } });

    await logout(first);
    assert.equal((await userinfo(old)).status, 401, 'logout revoked the grant behind the token');

    // Elsewhere, the user signs in again and consents to openid only (a new grant, same id).
    const second = new UserAgent(issuer.url);
    const narrow = await apiToken(second, 'openid');
    const refused = await userinfo(old);
    assert.equal(refused.status, 401, `the revoked token came back: ${JSON.stringify(refused.json)}`);
    assert.deepEqual(refused.json, { error: 'invalid_token', error_description: 'invalid token provided' });
    // The new grant's own token works, with what the new grant allows, within the same second.
    assert.deepEqual(await userinfo(narrow), { status: 200, json: { sub: decodeJwt(old).sub } });

    // Consenting to email again widens the same grant: its tokens keep working, the old one does not come back.
    const wide = await apiToken(second, 'openid email');
    assert.deepEqual((await userinfo(wide)).json, { sub: decodeJwt(old).sub, email: ALICE.email, email_verified: true });
    assert.equal((await userinfo(narrow)).status, 200);
    assert.equal((await userinfo(old)).status, 401);
  });
});
