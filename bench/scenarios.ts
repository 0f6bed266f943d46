// The benchmark scenarios (the hot paths users pay for) and the one-off setup they need on a
// fresh server: a registered client, a user who logged in and consented once (session cookies
// kept), and that user's access token.
import assert from 'node:assert/strict';

import { loginAndConsent, redirectParams, UserAgent } from '../test/support/user_agent.ts';
import { CONTACTS_API, ISSUER_USER, OPS_CLIENT, REDIRECT_URI, REGISTRATION_BODY } from './fixtures.ts';
import type { Headers, RequestSpec } from './load.ts';

export type ScenarioId = 'register' | 'authorize' | 'token' | 'userinfo' | 'well_known';

/** What the scenarios need from a server that was set up. */
export type Session = { clientId: string; cookie: string; accessToken: string };

export type Scenario = { id: ScenarioId; title: string; requests(session: Session): RequestSpec[] };

const JSON_HEADERS = { 'content-type': 'application/json' };

function authorizePath(clientId: string): string {
  const query = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT_URI, response_type: 'id_token token', scope: 'openid profile email', nonce: 'bench-nonce', state: 'bench-state' });
  return `/authorize?${query}`;
}

/** A redirect to the client with both tokens in the fragment (302 from the issuer, 303 from the library). */
function tokensInFragment(status: number, headers: Headers): boolean {
  const location = headers.location ?? '';
  return (status === 302 || status === 303) && location.startsWith(`${REDIRECT_URI}#`) && location.includes('access_token=') && location.includes('id_token=');
}

const basic = `Basic ${Buffer.from(`${encodeURIComponent(OPS_CLIENT.client_id)}:${encodeURIComponent(OPS_CLIENT.client_secret)}`).toString('base64')}`;

export const SCENARIOS: Scenario[] = [
  {
    id: 'register',
    title: 'POST /oidc/register',
    requests: () => [{ method: 'POST', path: '/oidc/register', headers: JSON_HEADERS, body: REGISTRATION_BODY, check: (status, _h, body) => status === 201 && body.includes('"client_id"') }],
  },
  {
    id: 'authorize',
    title: 'silent /authorize (id_token token, prompt=none)',
    requests: (session) => [{ method: 'GET', path: `${authorizePath(session.clientId)}&prompt=none`, headers: { cookie: session.cookie }, check: tokensInFragment }],
  },
  {
    id: 'token',
    title: 'POST /oauth/token (client_credentials)',
    requests: () => [{
      method: 'POST',
      path: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: CONTACTS_API, scope: 'read:contacts' }).toString(),
      check: (status, _h, body) => status === 200 && body.includes('"access_token"'),
    }],
  },
  {
    id: 'userinfo',
    title: 'GET /userinfo (Bearer)',
    requests: (session) => [{ method: 'GET', path: '/userinfo', headers: { authorization: `Bearer ${session.accessToken}` }, check: (status, _h, body) => status === 200 && body.includes('"sub"') }],
  },
  {
    id: 'well_known',
    title: 'GET discovery + JWKS (alternating)',
    requests: () => [
      { method: 'GET', path: '/.well-known/openid-configuration', check: (status, _h, body) => status === 200 && body.includes('"issuer"') },
      { method: 'GET', path: '/.well-known/jwks.json', check: (status, _h, body) => status === 200 && body.includes('"keys"') },
    ],
  },
];

/**
 * Register a client, log in once through the server's own pages (the issuer's login and
 * consent forms, or the baseline's headless interaction), and check each scenario's request
 * once, so that a broken setup fails here with a message rather than as a wall of errors.
 */
export async function prepareSession(url: string): Promise<Session> {
  const registered = await fetch(new URL('oidc/register', url), { method: 'POST', headers: JSON_HEADERS, body: REGISTRATION_BODY, signal: AbortSignal.timeout(5000) });
  const client = (await registered.json()) as { client_id?: string };
  assert.equal(registered.status, 201, `registration: ${JSON.stringify(client)}`);
  const clientId = client.client_id!;

  const agent = new UserAgent(url);
  const first = await agent.navigate(new URL(authorizePath(clientId), url).href);
  const credentials = { email: ISSUER_USER.email, password: ISSUER_USER.password };
  const done = first.status === 200 ? await loginAndConsent(agent, first, credentials) : first;
  assert.ok(done.location?.startsWith(`${REDIRECT_URI}#`), `login: expected a redirect to the client, got ${done.status} ${done.location ?? ''} ${done.body.slice(0, 300)}`);
  const accessToken = redirectParams(done.location).get('access_token');
  assert.ok(accessToken, `login: no access_token in ${done.location}`);

  const session = { clientId, cookie: agent.cookieHeader(), accessToken };
  for (const scenario of SCENARIOS.filter((s) => s.id !== 'register')) {
    for (const spec of scenario.requests(session)) {
      const response = await fetch(new URL(spec.path, url), { method: spec.method, headers: spec.headers, body: spec.body, redirect: 'manual', signal: AbortSignal.timeout(5000) });
      const body = await response.text();
      const headers = Object.fromEntries([...response.headers].map(([k, v]) => [k.toLowerCase(), v]));
      assert.ok(spec.check(response.status, headers, body), `${scenario.id}: ${spec.method} ${spec.path} answered ${response.status} ${headers.location ?? ''} ${body.slice(0, 300)}`);
    }
  }
  return session;
}
