// The implicit flow as a browser app drives it, without a browser: register at /oidc/register,
// send the user to /authorize, log in and consent when asked, read the redirect's fragment.
import assert from 'node:assert/strict';

import { ALICE, CONTACTS_API } from './issuer.ts';
import { UserAgent } from './user_agent.ts';
import type { Step } from './user_agent.ts';

export type RegisteredClient = { client_id: string; client_secret?: string; [field: string]: unknown };

/** POST /oidc/register; fails the test unless the client is created. */
export async function registerClient(issuerUrl: string, metadata: Record<string, unknown>): Promise<RegisteredClient> {
  const response = await fetch(new URL('oidc/register', issuerUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  assert.equal(response.status, 201, text);
  return JSON.parse(text) as RegisteredClient;
}

/** An /authorize URL on the issuer with exactly these parameters. */
export function authorizeUrl(issuerUrl: string, params: Record<string, string>): string {
  const url = new URL('authorize', issuerUrl);
  url.search = new URLSearchParams(params).toString();
  return url.href;
}

/**
 * Go to `url` with the agent's session; log in as Alice when the login page shows, and answer
 * the consent page when it shows. Returns the step that leaves the issuer (or the last page).
 */
export async function authorize(agent: UserAgent, url: string, decision: 'allow' | 'deny' = 'allow'): Promise<Step> {
  let step = await agent.navigate(url);
  if (step.status === 200 && /name="password"/.test(step.body)) {
    step = await agent.submit(UserAgent.formAction(step.body), { email: ALICE.email, password: ALICE.password });
  }
  if (step.status === 200 && step.body.includes('name="decision"')) {
    step = await agent.submit(UserAgent.formAction(step.body), { decision });
  }
  return step;
}

/** The step is an error page of the issuer: HTML, 4xx, no redirect anywhere. */
export function assertErrorPage(step: Step, error: string): void {
  assert.ok(step.status >= 400 && step.status < 500, `expected a 4xx error page, got ${step.status} ${step.location ?? ''}`);
  assert.equal(step.location, undefined, 'an error page never redirects');
  assert.match(step.headers.get('content-type') ?? '', /text\/html/);
  assert.match(step.body, new RegExp(`<strong>${error}</strong>`));
}

/**
 * Alice's API JWT (`openid profile email read:contacts` for `audience`) from the implicit flow,
 * through a client registered for it (registration must be on).
 */
export async function implicitApiToken(issuerUrl: string, audience = CONTACTS_API): Promise<string> {
  const redirectUri = 'http://localhost:8080/callback';
  const client = await registerClient(issuerUrl, { client_name: 'API token helper', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' });
  const step = await authorize(new UserAgent(issuerUrl), authorizeUrl(issuerUrl, { client_id: client.client_id, response_type: 'token', redirect_uri: redirectUri, scope: 'openid profile email read:contacts', audience, state: 's' }));
  const fragment = new URLSearchParams(URL.parse(step.location ?? '')?.hash.slice(1));
  const token = fragment.get('access_token');
  assert.ok(token, `no access token: ${step.status} ${step.location ?? step.body.slice(0, 200)}`);
  return token;
}
