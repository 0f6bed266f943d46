// Logout the Auth0 way (src/provider/auth0_logout.ts): /v2/logout?client_id&returnTo ends the
// session and goes back to an allowed logout URL without asking; OIDC RP-initiated logout keeps
// working, also at /oidc/logout. Issue 10 finding 8: a registered client's logout URL is followed
// silently only when the request proves the client; otherwise the page says the user is signed out
// and links to the destination's host.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { authorize, authorizeUrl, registerClient } from './support/implicit.ts';
import type { RegisteredClient } from './support/implicit.ts';
import { ALICE, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';
import type { Step } from './support/user_agent.ts';

const BOB = { email: 'bob@example.com', password: 'bob-password-1', name: 'Bob Example' };
const EVIL_BYE = 'https://evil.example/bye';
const APP_CB = 'https://app.example.com/cb';
const APP_BYE = 'https://app.example.com/bye';
const CONSOLE_BYE = 'https://console.example.com/signed-out';

function hiddenInputs(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)) out[match[1]!] = match[2]!;
  return out;
}

/**
 * Run a logout as a browser does: the issuer's page submits its form at once (a browser runs the
 * page's script); follow the issuer's own redirects. Returns every step, the last one leaving the
 * issuer or showing its final page.
 */
async function logout(agent: UserAgent, url: string, init: RequestInit = {}): Promise<Step[]> {
  const steps = [await agent.request(url, init)];
  let step = steps[0]!;
  if (step.status === 200 && /action="[^"]*\/v2\/logout\/confirm"/.test(step.body)) {
    assert.doesNotMatch(step.body, /Do you want to log out/);
    step = await agent.request(UserAgent.formAction(step.body), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(hiddenInputs(step.body)).toString() });
    steps.push(step);
  }
  while (step.location && new URL(step.location).origin === agent.origin) {
    assert.ok(steps.length < 10);
    step = await agent.request(step.location);
    steps.push(step);
  }
  return steps;
}

function logoutUrl(issuer: RunningIssuer, params: Record<string, string>, path = 'v2/logout'): string {
  const url = new URL(path, issuer.url);
  url.search = new URLSearchParams(params).toString();
  return url.href;
}

/** No step redirected off the issuer: the user sees the signed-out page, with a link naming `host`. */
function assertNotFollowed(steps: Step[], host: string): void {
  for (const step of steps) assert.ok(!step.location || new URL(step.location).origin !== `https://${host}`, `redirected to ${step.location}`);
  const last = steps.at(-1)!;
  assert.equal(last.status, 200, last.body.slice(0, 300));
  assert.match(last.body, /You are logged out/);
  assert.match(last.body, new RegExp(`<a href="https://${host.replaceAll('.', '\\.')}/[^"]*">Continue to ${host.replaceAll('.', '\\.')}</a>`));
}

describe('logout', () => {
  let issuer: RunningIssuer;
  let attacker: RegisteredClient;
  let app: RegisteredClient;

  before(async () => {
    issuer = await startIssuer({
      overrides: {
        tenant: { flags: { enable_dynamic_client_registration: true } },
        registration: { rate_limit: { per_second: 1000, burst: 1000 } },
        users: [ALICE, BOB],
        clients: [{ client_id: 'console', name: 'Console', grant_types: ['implicit'], redirect_uris: ['https://console.example.com/cb'], token_endpoint_auth_method: 'none', allowed_logout_urls: [CONSOLE_BYE] }],
        client_grants: [],
      },
    });
    attacker = await registerClient(issuer.url, { client_name: 'Attacker', redirect_uris: ['https://evil.example/cb'], post_logout_redirect_uris: [EVIL_BYE], token_endpoint_auth_method: 'none' });
    app = await registerClient(issuer.url, { client_name: 'App', redirect_uris: [APP_CB], post_logout_redirect_uris: [APP_BYE], token_endpoint_auth_method: 'none' });
  });
  after(() => issuer?.close());

  async function signIn(client: RegisteredClient, credentials = ALICE): Promise<{ agent: UserAgent; idToken: string }> {
    const agent = new UserAgent(issuer.url);
    let step = await agent.navigate(authorizeUrl(issuer.url, { client_id: client.client_id, redirect_uri: String((client.redirect_uris as string[])[0]), response_type: 'id_token', scope: 'openid', nonce: 'n', state: 's' }));
    step = await agent.submit(UserAgent.formAction(step.body), { email: credentials.email, password: credentials.password });
    if (step.body.includes('name="decision"')) step = await agent.submit(UserAgent.formAction(step.body), { decision: 'allow' });
    const idToken = redirectParams(step.location).get('id_token');
    assert.ok(idToken, `${step.status} ${step.location ?? step.body.slice(0, 200)}`);
    return { agent, idToken };
  }

  async function stillSignedIn(agent: UserAgent, client: RegisteredClient): Promise<boolean> {
    const step = await agent.navigate(authorizeUrl(issuer.url, { client_id: client.client_id, redirect_uri: String((client.redirect_uris as string[])[0]), response_type: 'id_token', scope: 'openid', nonce: 'n', prompt: 'none' }));
    return !redirectParams(step.location).has('error');
  }

  test('finding 8: without a session, an attacker\'s registered client gets no silent redirect, in any spelling', async () => {
    const cases: [string, RequestInit?][] = [
      [logoutUrl(issuer, { client_id: attacker.client_id, post_logout_redirect_uri: EVIL_BYE })],
      [logoutUrl(issuer, { client_id: attacker.client_id, returnTo: EVIL_BYE })],
      [logoutUrl(issuer, { client_id: attacker.client_id, returnTo: EVIL_BYE, state: 'x' }, 'oidc/logout')],
      [logoutUrl(issuer, { client_id: attacker.client_id, returnTo: EVIL_BYE }, 'OIDC/LOGOUT/')],
      [logoutUrl(issuer, { client_id: attacker.client_id, post_logout_redirect_uri: EVIL_BYE }, 'V2/Logout/')],
    ];
    for (const [url, init] of cases) assertNotFollowed(await logout(new UserAgent(issuer.url), url, init), 'evil.example');
    // POST is not served at the logout endpoint (the library's GET only), so it cannot walk around either.
    for (const path of ['v2/logout', 'oidc/logout']) {
      const post = await new UserAgent(issuer.url).request(new URL(path, issuer.url).href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: attacker.client_id, post_logout_redirect_uri: EVIL_BYE }).toString() });
      assert.equal(post.status, 404, path);
      assert.equal(post.location, undefined);
    }
  });

  test('a session in which only another client was authorized does not prove the attacker\'s client', async () => {
    const { agent } = await signIn(app);
    const steps = await logout(agent, logoutUrl(issuer, { client_id: attacker.client_id, returnTo: EVIL_BYE }));
    assertNotFollowed(steps, 'evil.example');
    assert.equal(await stillSignedIn(agent, app), false, 'the user asked to log out: the session ends anyway');
  });

  test('Auth0\'s /v2/logout?client_id&returnTo: no question, the session ends, back to the client', async () => {
    const { agent } = await signIn(app);
    assert.equal(await stillSignedIn(agent, app), true);
    const steps = await logout(agent, logoutUrl(issuer, { client_id: app.client_id, returnTo: APP_BYE }));
    assert.equal(steps.at(-1)!.status, 303);
    assert.equal(steps.at(-1)!.location, APP_BYE);
    assert.equal(await stillSignedIn(agent, app), false);
  });

  test('OIDC RP-initiated logout with id_token_hint, also at /oidc/logout and without a session', async () => {
    for (const path of ['v2/logout', 'oidc/logout']) {
      const { agent, idToken } = await signIn(app);
      const steps = await logout(agent, logoutUrl(issuer, { id_token_hint: idToken, post_logout_redirect_uri: APP_BYE, state: 'st' }, path));
      assert.equal(steps.at(-1)!.location, `${APP_BYE}?state=st`, path);
      assert.equal(await stillSignedIn(agent, app), false);
      // The session is gone; the same hint from a browser without a session still proves the client.
      const again = await logout(new UserAgent(issuer.url), logoutUrl(issuer, { id_token_hint: idToken, post_logout_redirect_uri: APP_BYE }, path));
      assert.equal(again.at(-1)!.location, APP_BYE, path);
    }
  });

  test('an id_token_hint for another user does not prove the client to this session', async () => {
    const bob = await signIn(attacker, BOB);
    const alice = await signIn(app);
    const steps = await logout(alice.agent, logoutUrl(issuer, { id_token_hint: bob.idToken, post_logout_redirect_uri: EVIL_BYE }));
    assertNotFollowed(steps, 'evil.example');
  });

  test('a session in which that client was authorized proves it', async () => {
    const { agent } = await signIn(attacker, BOB);
    const steps = await logout(agent, logoutUrl(issuer, { client_id: attacker.client_id, returnTo: EVIL_BYE }));
    assert.equal(steps.at(-1)!.location, EVIL_BYE);
  });

  test('a configured (first-party) client\'s allowed_logout_urls are followed without a session', async () => {
    const steps = await logout(new UserAgent(issuer.url), logoutUrl(issuer, { client_id: 'console', returnTo: CONSOLE_BYE }));
    assert.equal(steps.at(-1)!.location, CONSOLE_BYE);
  });

  test('a returnTo that is not an allowed logout URL of the client is an error page, never a redirect', async () => {
    const { agent } = await signIn(app);
    for (const returnTo of [EVIL_BYE, `${APP_BYE}/more`, 'javascript:alert(1)']) {
      const steps = await logout(agent, logoutUrl(issuer, { client_id: app.client_id, returnTo }));
      assert.equal(steps.length, 1);
      assert.equal(steps[0]!.status, 400, returnTo);
      assert.equal(steps[0]!.location, undefined);
      assert.match(steps[0]!.body, /post_logout_redirect_uri not registered/);
    }
  });

  test('markup in a registered logout URL is escaped on the signed-out page', async () => {
    const tricky = 'https://evil.example/bye?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E&x="><b>';
    const client = await registerClient(issuer.url, { client_name: 'Tricky', redirect_uris: ['https://evil.example/cb'], post_logout_redirect_uris: [tricky], token_endpoint_auth_method: 'none' });
    const steps = await logout(new UserAgent(issuer.url), logoutUrl(issuer, { client_id: client.client_id, returnTo: tricky }));
    const page = steps.at(-1)!.body;
    assert.match(page, /Continue to evil\.example<\/a>/);
    assert.doesNotMatch(page, /<script>alert|<b>/);
  });
});
