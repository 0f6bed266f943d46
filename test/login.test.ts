import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ALICE, startIssuer } from './support/issuer.ts';
import type { Backend, RunningIssuer } from './support/issuer.ts';
import { startRedis } from './support/redis.ts';
import { loginAndConsent, redirectParams, UserAgent } from './support/user_agent.ts';

const SPA_CALLBACK = 'https://spa.example.com/callback';

function authorizeUrl(issuer: RunningIssuer, clientId: string, redirectUri: string, extra: Record<string, string> = {}): string {
  const url = new URL('authorize', issuer.url);
  url.search = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'id_token token', scope: 'openid profile email', nonce: 'n-1', state: 's-1', ...extra }).toString();
  return url.href;
}

describe('login and consent pages', () => {
  let issuer: RunningIssuer;

  before(async () => {
    issuer = await startIssuer({
      overrides: {
        tenant: { flags: { enable_dynamic_client_registration: true } },
        clients: [{ client_id: 'first-party-spa', name: 'First-party SPA', grant_types: ['implicit'], token_endpoint_auth_method: 'none', redirect_uris: [SPA_CALLBACK] }],
        client_grants: [],
      },
    });
  });
  after(() => issuer.close());

  test('the login page is HTML with email and password fields and names the client', async () => {
    const agent = new UserAgent(issuer.url);
    const page = await agent.navigate(authorizeUrl(issuer, 'first-party-spa', SPA_CALLBACK));
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.body, /<input[^>]*name="email"/);
    assert.match(page.body, /<input[^>]*name="password"[^>]*type="password"|<input[^>]*type="password"[^>]*name="password"/);
    assert.match(page.body, /First-party SPA/);
    assert.doesNotMatch(page.body, /<script/i);
  });

  test('a wrong password shows the form again with a message that does not say which part was wrong', async () => {
    const agent = new UserAgent(issuer.url);
    const page = await agent.navigate(authorizeUrl(issuer, 'first-party-spa', SPA_CALLBACK));
    for (const credentials of [{ email: ALICE.email, password: 'not-her-password' }, { email: 'nobody@example.com', password: ALICE.password }]) {
      const again = await agent.submit(UserAgent.formAction(page.body), credentials);
      assert.equal(again.status, 401);
      assert.match(again.body, /Wrong email or password\./);
      assert.match(again.body, /name="password"/);
      assert.doesNotMatch(again.body, new RegExp(credentials.password));
    }
  });

  test('a first-party client gets tokens after login, without a consent page', async () => {
    const agent = new UserAgent(issuer.url);
    const page = await agent.navigate(authorizeUrl(issuer, 'first-party-spa', SPA_CALLBACK));
    const step = await agent.submit(UserAgent.formAction(page.body), { email: ALICE.email, password: ALICE.password });
    assert.equal(step.status, 302);
    assert.ok(step.location?.startsWith(`${SPA_CALLBACK}#`), step.location);
    const params = redirectParams(step.location);
    assert.ok(params.get('access_token'));
    assert.ok(params.get('id_token'));
    assert.equal(params.get('state'), 's-1');
  });

  test('a registered (third-party) client needs consent once per user; deny gives access_denied', async () => {
    const registered = await fetch(new URL('oidc/register', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Third-party app', redirect_uris: ['https://third.example.com/cb'], response_types: ['id_token token'], grant_types: ['implicit'], token_endpoint_auth_method: 'none' }),
    });
    assert.equal(registered.status, 201, await registered.clone().text());
    const { client_id: clientId } = (await registered.json()) as { client_id: string };

    const denying = new UserAgent(issuer.url);
    const deniedPage = await denying.navigate(authorizeUrl(issuer, clientId, 'https://third.example.com/cb'));
    const consentPage = await denying.submit(UserAgent.formAction(deniedPage.body), { email: ALICE.email, password: ALICE.password });
    assert.equal(consentPage.status, 200);
    assert.match(consentPage.body, /Third-party app/);
    assert.match(consentPage.body, /<code>email<\/code>/);
    const denied = await denying.submit(UserAgent.formAction(consentPage.body), { decision: 'deny' });
    assert.equal(redirectParams(denied.location).get('error'), 'access_denied');
    assert.equal(redirectParams(denied.location).get('state'), 's-1');

    const allowing = new UserAgent(issuer.url);
    const allowed = await loginAndConsent(allowing, await allowing.navigate(authorizeUrl(issuer, clientId, 'https://third.example.com/cb')), ALICE);
    assert.ok(redirectParams(allowed.location).get('access_token'), allowed.location);

    // A new browser (new session) logs in again but is not asked for consent a second time.
    const later = new UserAgent(issuer.url);
    const page = await later.navigate(authorizeUrl(issuer, clientId, 'https://third.example.com/cb', { state: 's-2', nonce: 'n-2' }));
    const step = await later.submit(UserAgent.formAction(page.body), { email: ALICE.email, password: ALICE.password });
    assert.equal(step.status, 302, step.body.slice(0, 300));
    assert.equal(redirectParams(step.location).get('state'), 's-2');
    assert.ok(redirectParams(step.location).get('access_token'));
  });

  test('an interaction page without its cookie is refused with an error page', async () => {
    const agent = new UserAgent(issuer.url);
    const page = await agent.navigate(authorizeUrl(issuer, 'first-party-spa', SPA_CALLBACK));
    const stranger = new UserAgent(issuer.url);
    const step = await stranger.submit(UserAgent.formAction(page.body), { email: ALICE.email, password: ALICE.password });
    assert.equal(step.status, 400);
    assert.match(step.body, /expired or is not valid/);
  });
});

describe('password guessing on the login page', () => {
  let issuer: RunningIssuer;

  before(async () => {
    issuer = await startIssuer({
      overrides: { clients: [{ client_id: 'first-party-spa', name: 'First-party SPA', grant_types: ['implicit'], token_endpoint_auth_method: 'none', redirect_uris: [SPA_CALLBACK] }], client_grants: [] },
    });
  });
  after(() => issuer.close());

  test('successful logins do not count: the 11th in a row still logs in', async () => {
    for (let login = 1; login <= 11; login++) {
      const agent = new UserAgent(issuer.url);
      const page = await agent.navigate(authorizeUrl(issuer, 'first-party-spa', SPA_CALLBACK));
      const step = await agent.submit(UserAgent.formAction(page.body), { email: ALICE.email, password: ALICE.password });
      assert.equal(step.status, 302, `login ${login}`);
    }
  });

  test('the 11th attempt for one email within 5 minutes gets 429 and the page, even with the right password', async () => {
    const agent = new UserAgent(issuer.url);
    const page = await agent.navigate(authorizeUrl(issuer, 'first-party-spa', SPA_CALLBACK));
    const action = UserAgent.formAction(page.body);
    for (let attempt = 1; attempt <= 10; attempt++) {
      const wrong = await agent.submit(action, { email: ALICE.email, password: `guess-${attempt}` });
      assert.equal(wrong.status, 401, `attempt ${attempt}`);
    }
    // Counted per email, not per spelling of it, and before the password is looked at.
    const refused = await agent.submit(action, { email: ` ${ALICE.email.toUpperCase()}`, password: ALICE.password });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0 && Number(refused.headers.get('retry-after')) <= 300, `Retry-After: ${refused.headers.get('retry-after')}`);
    assert.match(refused.body, /Too many attempts\. Try again in [1-5] minutes?\./);
    assert.match(refused.body, /name="password"/);
    assert.equal(refused.location, undefined, 'no login happened');
  });
});

describe('password guessing in parallel (issue 10, finding 4)', () => {
  const GUESSES = 200;

  /** Every guess at once on one login page (one address), then what answered and what was checked. */
  async function storm(emailOf: (i: number) => string, backend?: Backend): Promise<{ answers: Record<string, number>; checked: Record<string, number> }> {
    const issuer = await startIssuer({
      backend,
      overrides: { clients: [{ client_id: 'first-party-spa', name: 'First-party SPA', grant_types: ['implicit'], token_endpoint_auth_method: 'none', redirect_uris: [SPA_CALLBACK] }], client_grants: [] },
    });
    try {
      const agent = new UserAgent(issuer.url);
      const page = await agent.navigate(authorizeUrl(issuer, 'first-party-spa', SPA_CALLBACK));
      const action = UserAgent.formAction(page.body);
      const steps = await Promise.all(Array.from({ length: GUESSES }, (_, i) => agent.submit(action, { email: emailOf(i), password: `guess-${i}` })));
      const answers: Record<string, number> = {};
      for (const step of steps) answers[step.status] = (answers[step.status] ?? 0) + 1;
      // What the password check itself counted, from the issuer's metrics.
      const metrics = await (await fetch(new URL('metrics', issuer.url))).text();
      const checked: Record<string, number> = {};
      for (const [, outcome, value] of metrics.matchAll(/^issuer_logins_total\{outcome="(\w+)"\} (\d+)$/gm)) checked[outcome!] = Number(value);
      return { answers, checked };
    } finally {
      await issuer.close();
    }
  }

  test(`${GUESSES} wrong passwords at once for one email: only 10 reach the password check`, async () => {
    const { answers, checked } = await storm(() => ALICE.email);
    assert.deepEqual(answers, { 401: 10, 429: GUESSES - 10 });
    assert.deepEqual(checked, { wrong_credentials: 10, rate_limited: GUESSES - 10 });
  });

  test(`the same on Redis: ${GUESSES} wrong passwords at once for one email, only 10 checked`, async () => {
    const redis = await startRedis();
    try {
      const { answers, checked } = await storm(() => ALICE.email, { kind: 'redis', url: redis.url });
      assert.deepEqual(answers, { 401: 10, 429: GUESSES - 10 });
      assert.deepEqual(checked, { wrong_credentials: 10, rate_limited: GUESSES - 10 });
    } finally {
      await redis.stop();
    }
  });

  test(`${GUESSES} wrong passwords at once for ${GUESSES} emails from one address: only 30 reach the password check`, async () => {
    const { answers, checked } = await storm((i) => `user-${i}@example.com`);
    assert.deepEqual(answers, { 401: 30, 429: GUESSES - 30 });
    assert.deepEqual(checked, { wrong_credentials: 30, rate_limited: GUESSES - 30 });
  });
});
