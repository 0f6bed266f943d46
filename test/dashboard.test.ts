// The Dashboard in a real browser: an admin signs in through the issuer's own login page, turns
// open registration on and off; a non-admin gets the refusal page; forms without the session's
// CSRF token are refused; sessions end after 12 hours or 30 minutes idle.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { launchBrowser } from './support/browser.ts';
import { ALICE, CONTACTS_API, OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { managementToken, registrationStatus, setRegistrationFlag } from './support/management.ts';
import { authorize, authorizeUrl, registerClient } from './support/implicit.ts';
import { UserAgent } from './support/user_agent.ts';
import { createDashboardSessions, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from '../src/dashboard/session.ts';

const ADMIN = { email: 'admin@example.com', password: 'admin-password-1', name: 'Ada Admin', roles: ['admin'] };
const SCREENSHOTS = process.env.DASHBOARD_SCREENSHOTS;
const FIRST_PARTY = { client_id: 'company-portal', name: 'Company Portal', token_endpoint_auth_method: 'none', grant_types: ['implicit'], response_types: ['id_token token'], redirect_uris: ['https://portal.example.com/cb'] };

async function setFlagForTest(issuer: RunningIssuer, on: boolean): Promise<void> {
  await setRegistrationFlag(issuer.url, await managementToken(issuer.url), on);
}

async function signIn(page: Page, issuer: RunningIssuer, user: { email: string; password: string }, path = 'dashboard'): Promise<void> {
  await page.goto(new URL(path, issuer.url).href);
  await page.getByLabel('Email address').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForLoadState('load');
}

describe('the Dashboard in Chromium', () => {
  let issuer: RunningIssuer;
  let browser: Browser;
  before(async () => {
    issuer = await startIssuer({ overrides: { users: [ADMIN, ALICE], clients: [{ ...OPS, name: 'Ops console', grant_types: ['client_credentials'] }, FIRST_PARTY], registration: { rate_limit: { per_second: 1000, burst: 1000 } } } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await issuer?.close();
  });

  test('an admin signs in through the login page, turns registration on, then off; each change is shown with its actor', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await signIn(page, issuer, ADMIN);
      assert.equal(new URL(page.url()).pathname, '/dashboard/settings');
      await page.getByRole('heading', { name: /Settings › Advanced/ }).waitFor();
      const section = page.getByRole('region', { name: /OIDC Dynamic Application Registration/ });
      assert.match(await section.innerText(), /Off/);
      assert.equal(await registrationStatus(issuer.url), 403);

      await section.getByRole('button', { name: 'Turn on' }).click();
      await page.getByRole('status').waitFor();
      assert.match(await section.innerText(), /On/);
      assert.match(await section.innerText(), /Last changed by the administrator admin@example\.com/);
      assert.equal(await registrationStatus(issuer.url), 201);
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/dashboard-settings.png`, fullPage: true });

      await section.getByRole('button', { name: 'Turn off' }).click();
      await page.getByRole('status').waitFor();
      assert.match(await page.getByRole('region', { name: /OIDC Dynamic Application Registration/ }).innerText(), /Off/);
      assert.equal(await registrationStatus(issuer.url), 403);

      // The session cookie: HttpOnly, SameSite=Strict, scoped to the Dashboard (http issuer: not Secure).
      const cookie = (await context.cookies()).find((c) => c.name === 'dashboard_session');
      assert.ok(cookie);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(cookie.path, '/dashboard');

      // Keyboard: the switch is reachable with Tab and works with Enter.
      await page.keyboard.press('Tab');
      let reached = false;
      for (let i = 0; i < 10 && !reached; i++) {
        reached = (await page.evaluate('document.activeElement?.textContent ?? ""')) === 'Turn on';
        if (!reached) await page.keyboard.press('Tab');
      }
      assert.ok(reached, 'the Turn on button is reachable by keyboard');
      await page.keyboard.press('Enter');
      await page.getByRole('status').waitFor();
      assert.equal(await registrationStatus(issuer.url), 201);

      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByRole('heading', { name: 'Signed out' }).waitFor();
      assert.equal((await context.cookies()).find((c) => c.name === 'dashboard_session'), undefined);
    } finally {
      await context.close();
    }
  });

  test('an admin finds a dynamically registered application, edits it, reveals its secret on its own page, and deletes it; its tokens stop working', async () => {
    await setFlagForTest(issuer, true);
    const client = await registerClient(issuer.url, { client_name: 'Registered <b>app</b>', redirect_uris: ['https://registered.example.com/cb'] });
    // Alice uses the application: an API JWT that also works at /userinfo, until the delete.
    const step = await authorize(new UserAgent(issuer.url), authorizeUrl(issuer.url, { client_id: client.client_id, response_type: 'token', redirect_uri: 'https://registered.example.com/cb', scope: 'openid email read:contacts', audience: CONTACTS_API, state: 's' }));
    const token = new URLSearchParams(new URL(step.location!).hash.slice(1)).get('access_token')!;
    const userinfo = () => fetch(new URL('userinfo', issuer.url), { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    assert.equal(await userinfo(), 200);
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await signIn(page, issuer, ADMIN, 'dashboard/applications');
      await page.getByRole('heading', { name: 'Applications' }).waitFor();
      await page.getByLabel('Only dynamically registered applications').check();
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL(/registered=1/);
      const row = page.getByRole('row', { name: /Registered <b>app<\/b>/ });
      assert.match(await row.innerText(), /Dynamically registered/);
      assert.match(await row.innerText(), /registered\.example\.com/);
      // The first-party applications are not in the filtered list.
      assert.equal(await page.getByRole('row', { name: /Company Portal/ }).count(), 0);
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/dashboard-applications.png`, fullPage: true });

      await row.getByRole('link').first().click();
      await page.getByRole('heading', { name: 'Registered <b>app</b>' }).waitFor();
      assert.doesNotMatch(await page.content(), new RegExp(client.client_secret!));
      await page.getByLabel('Allowed callback URLs').fill('https://registered.example.com/cb\nhttps://registered.example.com/other');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('status').waitFor();
      assert.deepEqual((await issuer.store.adapterFor('Client').find(client.client_id))?.redirect_uris, ['https://registered.example.com/cb', 'https://registered.example.com/other']);

      await page.getByRole('button', { name: 'Reveal client secret' }).click();
      await page.getByRole('heading', { name: 'Client secret' }).waitFor();
      assert.equal(await page.getByLabel('Client secret').inputValue(), client.client_secret);
      await page.goBack();

      await page.getByRole('link', { name: 'Delete this application…' }).click();
      await page.getByRole('heading', { name: /Delete Registered/ }).waitFor();
      assert.match(await page.innerText('main'), /access and refresh tokens/);
      await page.getByRole('button', { name: 'Delete the application' }).click();
      await page.getByRole('status').waitFor();
      assert.equal(await page.getByRole('row', { name: /Registered <b>app<\/b>/ }).count(), 0);
      assert.equal(await issuer.store.adapterFor('Client').find(client.client_id), undefined);
    } finally {
      await context.close();
    }
    // Its token is withdrawn, and /authorize refuses it.
    assert.equal(await userinfo(), 401);
    const refused = await new UserAgent(issuer.url).request(authorizeUrl(issuer.url, { client_id: client.client_id, response_type: 'token', redirect_uri: 'https://registered.example.com/cb', state: 's' }));
    assert.equal(refused.status, 400);
    await setFlagForTest(issuer, false);
  });

  test('an admin rotates the signing key; the JWKS lists the new next key; revoking the current key is not offered', async () => {
    const before = (await (await fetch(new URL('.well-known/jwks.json', issuer.url))).json()) as { keys: { kid: string }[] };
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await signIn(page, issuer, ADMIN, 'dashboard/keys');
      await page.getByRole('heading', { name: 'Signing keys' }).waitFor();
      const currentRow = page.getByRole('row', { name: /Current/ });
      assert.equal(await currentRow.getByRole('link', { name: /Revoke/ }).count(), 0);
      await page.getByRole('link', { name: 'Rotate signing key…' }).click();
      assert.match(await page.innerText('main'), /stays published/);
      await page.getByRole('button', { name: 'Rotate the signing key' }).click();
      await page.getByRole('status').waitFor();
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/dashboard-keys.png`, fullPage: true });
    } finally {
      await context.close();
    }
    const after = (await (await fetch(new URL('.well-known/jwks.json', issuer.url))).json()) as { keys: { kid: string }[] };
    const added = after.keys.map((k) => k.kid).filter((kid) => !before.keys.some((k) => k.kid === kid));
    assert.equal(added.length, 1, 'a new next key is published');
    assert.equal(after.keys.length, before.keys.length + 1, 'the old current key stays published as previous');
  });

  test('a user without the admin role gets the refusal page and no data', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await signIn(page, issuer, ALICE);
      await page.getByRole('heading', { name: 'Not an administrator' }).waitFor();
      const text = await page.innerText('body');
      assert.doesNotMatch(text, /Dynamic Application Registration|Turn on|Turn off/);
      assert.equal((await context.cookies()).find((c) => c.name === 'dashboard_session'), undefined);
    } finally {
      await context.close();
    }
  });
});

describe('the Dashboard over HTTP', () => {
  let issuer: RunningIssuer;
  before(async () => {
    issuer = await startIssuer({ overrides: { users: [ADMIN, ALICE] } });
  });
  after(() => issuer.close());

  async function adminAgent(): Promise<{ agent: UserAgent; page: string }> {
    const agent = new UserAgent(issuer.url);
    const login = await agent.navigate(new URL('dashboard/settings', issuer.url).href);
    assert.equal(login.status, 200);
    const settings = await agent.submit(UserAgent.formAction(login.body), { email: ADMIN.email, password: ADMIN.password });
    assert.equal(settings.status, 200, settings.body.slice(0, 300));
    assert.match(settings.body, /Settings › Advanced/);
    return { agent, page: settings.body };
  }

  function csrfOf(body: string): string {
    const match = /name="csrf" value="([^"]+)"/.exec(body);
    assert.ok(match);
    return match[1]!;
  }

  test('a form posted without its CSRF token, or with another session\'s, is refused with 403 and changes nothing', async () => {
    const { agent, page } = await adminAgent();
    const action = new URL('dashboard/settings/flags/enable_dynamic_client_registration', issuer.url).href;
    const missing = await agent.request(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'enabled=true' });
    assert.equal(missing.status, 403);
    assert.match(missing.body, /security token/);
    const other = await adminAgent();
    const wrong = await agent.request(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `enabled=true&csrf=${csrfOf(other.page)}` });
    assert.equal(wrong.status, 403);
    assert.equal(await registrationStatus(issuer.url), 403);
    // With its own token the same form works.
    const right = await agent.submit(action, { enabled: 'true', csrf: csrfOf(page) });
    assert.equal(right.status, 200);
    assert.equal(await registrationStatus(issuer.url), 201);
    await agent.submit(action, { enabled: 'false', csrf: csrfOf(page) });
    assert.equal(await registrationStatus(issuer.url), 403);
  });

  test('every page forbids framing and script; pages are not cached', async () => {
    const { agent } = await adminAgent();
    const step = await agent.request(new URL('dashboard/settings', issuer.url).href);
    const csp = step.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /script-src/);
    assert.doesNotMatch(step.body, /<script/i);
    assert.equal(step.headers.get('cache-control'), 'no-store');
    assert.equal(step.headers.get('x-frame-options'), 'DENY');
  });

  test('without a session every page and form sends the user to sign in, and shows nothing', async () => {
    for (const path of ['dashboard', 'dashboard/settings']) {
      const step = await new UserAgent(issuer.url).request(new URL(path, issuer.url).href);
      assert.ok(step.status === 302 || step.status === 303, `${path}: ${step.status}`);
    }
    const post = await new UserAgent(issuer.url).request(new URL('dashboard/settings/flags/enable_dynamic_client_registration', issuer.url).href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'enabled=true&csrf=x' });
    assert.equal(post.status, 403);
    assert.equal(await registrationStatus(issuer.url), 403);
  });

  test('a callback with a forged state, or one replayed, signs nobody in', async () => {
    const forged = await new UserAgent(issuer.url).request(new URL('dashboard/callback?code=abc&state=forged', issuer.url).href);
    assert.equal(forged.status, 400);
    assert.doesNotMatch(forged.headers.getSetCookie().join(';'), /dashboard_session=[^;]/);

    // Walk the sign-in by hand to hold the callback URL, use it once, then replay it.
    const agent = new UserAgent(issuer.url);
    const login = await agent.navigate(new URL('dashboard/settings', issuer.url).href);
    let step = await agent.request(new URL(UserAgent.formAction(login.body), issuer.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: ADMIN.email, password: ADMIN.password }).toString(),
    });
    for (let hops = 0; step.location && !step.location.includes('/dashboard/callback'); hops++) {
      assert.ok(hops < 10);
      step = await agent.request(step.location);
    }
    const callback = step.location!;
    assert.match(callback, /code=/);
    const first = await agent.request(callback);
    assert.equal(first.status, 302);
    assert.match(first.headers.getSetCookie().join(';'), /dashboard_session=[^;]/);
    const replay = await agent.request(callback);
    assert.equal(replay.status, 400);
    assert.doesNotMatch(replay.headers.getSetCookie().join(';'), /dashboard_session=[^;]/);
  });

  test('sessions end 30 minutes after the last request, and 12 hours after sign-in', async () => {
    let now = Date.now();
    const sessions = createDashboardSessions({ store: issuer.store, now: () => now });
    const { id } = await sessions.start({ sub: 'admin', email: ADMIN.email });
    now += SESSION_IDLE_MS - 60_000;
    assert.ok(await sessions.load(id), 'alive 29 minutes later');
    now += SESSION_IDLE_MS - 60_000;
    assert.ok(await sessions.load(id), 'kept alive by use');
    now += SESSION_IDLE_MS;
    assert.equal(await sessions.load(id), undefined, 'ended after 30 idle minutes');

    now = Date.now();
    const long = await sessions.start({ sub: 'admin', email: ADMIN.email });
    for (let used = 0; used < SESSION_ABSOLUTE_MS; used += 20 * 60_000) {
      now += 20 * 60_000;
      const alive = await sessions.load(long.id);
      if (used + 20 * 60_000 < SESSION_ABSOLUTE_MS) assert.ok(alive, `alive after ${(used + 20 * 60_000) / 60_000} minutes of use`);
      else assert.equal(alive, undefined, 'ended after 12 hours whatever the use');
    }
  });
});
