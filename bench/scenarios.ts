// The benchmark scenarios (the hot paths users pay for) and the one-off setup they need on a
// fresh server: a registered client, a user who logged in and consented once (session cookies
// kept), that user's access token, and a refresh token of a second, confidential client.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { loginAndConsent, redirectParams, UserAgent } from '../test/support/user_agent.ts';
import { CONTACTS_API, ISSUER_USER, OFFLINE_REGISTRATION_BODY, OPS_CLIENT, REDIRECT_URI, REGISTRATION_BODY } from './fixtures.ts';
import type { Context, Headers, RequestSpec } from './load.ts';

export type ScenarioId = 'register' | 'authorize' | 'token' | 'userinfo' | 'code' | 'refresh' | 'well_known';

type ClientCredentials = { clientId: string; clientSecret: string };

/** What the scenarios need from a server that was set up. */
export type Session = ClientCredentials & {
  cookie: string;
  accessToken: string;
  /** The confidential client of the refresh scenario, and the refresh token it got in the code flow. */
  offline: ClientCredentials & { refreshToken: string };
};

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

// One PKCE pair for every request: the server checks S256 against the code's challenge each time,
// which is its whole work; a fresh verifier per request would only cost the load generator.
const CODE_VERIFIER = 'bench-code-verifier-0123456789abcdefghijklmnopqrstuvwxyz';
const CODE_CHALLENGE = createHash('sha256').update(CODE_VERIFIER).digest('base64url');

function codeAuthorizePath(clientId: string, scope: string, extra: Record<string, string> = {}): string {
  const query = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT_URI, response_type: 'code', scope, state: 'bench-state', code_challenge: CODE_CHALLENGE, code_challenge_method: 'S256', ...extra });
  return `/authorize?${query}`;
}

/** The code in a redirect to the client (302 from the issuer, 303 from the library), if any. */
function codeOf(status: number, headers: Headers): string | undefined {
  const location = headers.location ?? '';
  if ((status !== 302 && status !== 303) || !location.startsWith(`${REDIRECT_URI}?`)) return undefined;
  return new URL(location).searchParams.get('code') ?? undefined;
}

function codeExchangeBody(client: ClientCredentials, code: string): string {
  return new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: CODE_VERIFIER, client_id: client.clientId, client_secret: client.clientSecret }).toString();
}

const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };

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
    id: 'code',
    title: 'code exchange: silent /authorize (code, PKCE) + POST /oauth/token, per request',
    requests: (session) => [
      {
        method: 'GET',
        path: codeAuthorizePath(session.clientId, 'openid profile email', { prompt: 'none' }),
        headers: { cookie: session.cookie },
        check: (status, headers) => codeOf(status, headers) !== undefined,
        remember: (headers, _body, context) => {
          context.code = new URL(headers.location!).searchParams.get('code')!;
        },
      },
      {
        method: 'POST',
        path: '/oauth/token',
        headers: FORM_HEADERS,
        build: (context: Context) => (context.code ? { body: codeExchangeBody(session, context.code) } : undefined),
        check: (status, _h, body) => status === 200 && body.includes('"access_token"') && body.includes('"id_token"'),
      },
    ],
  },
  {
    id: 'refresh',
    title: 'POST /oauth/token (refresh_token, confidential client, no rotation)',
    requests: (session) => [{
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_HEADERS,
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session.offline.refreshToken, client_id: session.offline.clientId, client_secret: session.offline.clientSecret }).toString(),
      // The same refresh token comes back (or none): a rotation would make every later request fail.
      check: (status, _h, body) => status === 200 && body.includes('"access_token"') && (!body.includes('"refresh_token"') || body.includes(`"${session.offline.refreshToken}"`)),
    }],
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

async function register(url: string, body: string): Promise<ClientCredentials> {
  const registered = await fetch(new URL('oidc/register', url), { method: 'POST', headers: JSON_HEADERS, body, signal: AbortSignal.timeout(5000) });
  const client = (await registered.json()) as { client_id?: string; client_secret?: string };
  assert.equal(registered.status, 201, `registration: ${JSON.stringify(client)}`);
  assert.ok(client.client_id && client.client_secret, `registration: no client_id or client_secret in ${JSON.stringify(client)}`);
  return { clientId: client.client_id, clientSecret: client.client_secret };
}

/**
 * The offline client's refresh token, through the code flow of the user already logged in. The
 * request carries prompt=consent: the library drops offline_access without it (the issuer keeps
 * it either way, src/provider/refresh_tokens.ts), so both sides do the same and both show their
 * consent step (the issuer's page, the baseline's headless grant) for this new client.
 */
async function refreshTokenFor(url: string, agent: UserAgent, client: ClientCredentials): Promise<string> {
  let step = await agent.navigate(new URL(codeAuthorizePath(client.clientId, 'openid profile email offline_access', { prompt: 'consent' }), url).href);
  if (step.status === 200 && step.body.includes('name="decision"')) step = await agent.submit(UserAgent.formAction(step.body), { decision: 'allow' });
  const code = step.location?.startsWith(`${REDIRECT_URI}?`) ? redirectParams(step.location, 'search').get('code') : undefined;
  assert.ok(code, `offline client: expected a redirect with a code, got ${step.status} ${step.location ?? ''} ${step.body.slice(0, 300)}`);
  const response = await fetch(new URL('oauth/token', url), { method: 'POST', headers: FORM_HEADERS, body: codeExchangeBody(client, code), signal: AbortSignal.timeout(5000) });
  const tokens = (await response.json()) as { refresh_token?: string };
  assert.ok(response.status === 200 && tokens.refresh_token, `offline client: no refresh token from the code exchange: ${response.status} ${JSON.stringify(tokens)}`);
  return tokens.refresh_token;
}

/** Send a scenario's requests once, in order, with one context as a load connection has. */
async function sendOnce(url: string, scenario: Scenario, session: Session): Promise<void> {
  const context: Context = {};
  for (const spec of scenario.requests(session)) {
    const built = spec.build ? spec.build(context) : {};
    assert.ok(built, `${scenario.id}: ${spec.method} ${spec.path} could not be built from ${JSON.stringify(context)}`);
    const path = built.path ?? spec.path;
    const response = await fetch(new URL(path, url), { method: spec.method, headers: spec.headers, body: built.body ?? spec.body, redirect: 'manual', signal: AbortSignal.timeout(5000) });
    const body = await response.text();
    const headers = Object.fromEntries([...response.headers].map(([k, v]) => [k.toLowerCase(), v]));
    assert.ok(spec.check(response.status, headers, body), `${scenario.id}: ${spec.method} ${path} answered ${response.status} ${headers.location ?? ''} ${body.slice(0, 300)}`);
    spec.remember?.(headers, body, context);
  }
}

/**
 * Register a client, log in once through the server's own pages (the issuer's login and
 * consent forms, or the baseline's headless interaction), get a refresh token for a second,
 * confidential client, and check each scenario's requests once, so that a broken setup fails
 * here with a message rather than as a wall of errors.
 */
export async function prepareSession(url: string): Promise<Session> {
  const client = await register(url, REGISTRATION_BODY);

  const agent = new UserAgent(url);
  const first = await agent.navigate(new URL(authorizePath(client.clientId), url).href);
  const credentials = { email: ISSUER_USER.email, password: ISSUER_USER.password };
  const done = first.status === 200 ? await loginAndConsent(agent, first, credentials) : first;
  assert.ok(done.location?.startsWith(`${REDIRECT_URI}#`), `login: expected a redirect to the client, got ${done.status} ${done.location ?? ''} ${done.body.slice(0, 300)}`);
  const accessToken = redirectParams(done.location).get('access_token');
  assert.ok(accessToken, `login: no access_token in ${done.location}`);

  const offline = await register(url, OFFLINE_REGISTRATION_BODY);
  const refreshToken = await refreshTokenFor(url, agent, offline);

  const session: Session = { ...client, cookie: agent.cookieHeader(), accessToken, offline: { ...offline, refreshToken } };
  for (const scenario of SCENARIOS.filter((s) => s.id !== 'register')) await sendOnce(url, scenario, session);
  return session;
}
