// Auth0's SPA SDK (@auth0/auth0-spa-js, the exact version in package.json), unchanged, in headless
// Chromium against the issuer: the example SDK page (examples/spa-sdk/) served from a local
// origin registers itself, signs Alice in with loginWithRedirect through the real login and
// consent pages and handleRedirectCallback, reads getUser and an API JWT from getTokenSilently,
// gets new tokens through the silent iframe (prompt=none, response_mode=web_message) and through
// the rotating refresh token, then logs out with returnTo, after which silent sign-in fails with
// login_required.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import type { RunningExample } from '../examples/servers.ts';
import { closeExampleStack, screenshotDir, startExampleStack } from './support/example_stack.ts';
import { ALICE, CONTACTS_API } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { waitFor } from './support/wait.ts';

// UPDATE_SCREENSHOTS=1 refreshes docs/example-sdk.png, which the README shows.
const SHOTS = screenshotDir();
const SDK_MODULE = '/vendor/auth0-spa-js/auth0-spa-js.production.esm.js';

let issuer: RunningIssuer;
let example: RunningExample;
let browser: Browser;

before(async () => {
  ({ issuer, example, browser } = await startExampleStack());
});
after(() => closeExampleStack({ issuer, example, browser }));

type TokenExchange = { grantType: string; status: number; origin: string | null; allowOrigin: string | null; body: Record<string, unknown> };

function claimsOf(jwt: string): Record<string, unknown> {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `not a JWT: ${jwt.slice(0, 40)}`);
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** In the page: a second SDK client for the same app, calling getTokenSilently({ cacheMode: 'off' }). */
async function silentToken(page: Page, clientId: string, useRefreshTokens: boolean): Promise<{ token?: string; error?: string }> {
  return page.evaluate(async ({ module, domain, clientId, redirectUri, audience, useRefreshTokens }) => {
    const { createAuth0Client } = (await import(module)) as { createAuth0Client(options: unknown): Promise<{ getTokenSilently(options: unknown): Promise<string> }> };
    const client = await createAuth0Client({ domain, clientId, authorizationParams: { redirect_uri: redirectUri, audience, scope: 'openid profile email read:contacts' }, useRefreshTokens, cacheLocation: 'memory', workerUrl: module.replace('production.esm', 'worker.production'), authorizeTimeoutInSeconds: 10 });
    try {
      return { token: await client.getTokenSilently({ cacheMode: 'off', timeoutInSeconds: 10 }) };
    } catch (error) {
      return { error: String((error as { error?: string }).error ?? error) };
    }
  }, { module: SDK_MODULE, domain: issuer.url.replace(/\/$/, ''), clientId, redirectUri: `${example.spaUrl}sdk/`, audience: CONTACTS_API, useRefreshTokens });
}

test('Auth0 SPA SDK: login with redirect, silent iframe, rotating refresh tokens, logout with returnTo', async () => {
  const page = await browser.newPage({ viewport: { width: 760, height: 820 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  const exchanges: TokenExchange[] = [];
  const revocations: { status: number; allowOrigin: string | null }[] = [];
  const authorizeRequests: URL[] = [];
  page.on('request', (request) => {
    if (request.url().startsWith(`${issuer.url}authorize?`)) authorizeRequests.push(new URL(request.url()));
  });
  page.on('response', async (response) => {
    const request = response.request();
    if (request.method() === 'POST' && response.url() === `${issuer.url}oauth/revoke`) {
      revocations.push({ status: response.status(), allowOrigin: (await response.allHeaders())['access-control-allow-origin'] ?? null });
      return;
    }
    if (request.method() !== 'POST' || response.url() !== `${issuer.url}oauth/token`) return;
    const grantType = new URLSearchParams(request.postData() ?? '').get('grant_type') ?? '';
    const headers = await response.allHeaders();
    exchanges.push({ grantType, status: response.status(), origin: (await request.allHeaders()).origin ?? null, allowOrigin: headers['access-control-allow-origin'] ?? null, body: (await response.json().catch(() => ({}))) as Record<string, unknown> });
  });

  await page.goto(`${example.spaUrl}sdk/`);
  await page.getByText(/^Registered as client /).waitFor();
  const clientId = (await page.locator('#client-status').innerText()).replace('Registered as client ', '');
  const client = await issuer.provider.Client.find(clientId);
  assert.ok(client, 'the page registered a client at the issuer');
  assert.deepEqual(client.metadata().web_origins, [new URL(example.spaUrl).origin]);

  // loginWithRedirect: the code flow with PKCE through the real login and consent pages.
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  const login = authorizeRequests.at(-1)!;
  assert.equal(login.searchParams.get('response_type'), 'code');
  assert.equal(login.searchParams.get('code_challenge_method'), 'S256');
  assert.match(login.searchParams.get('scope') ?? '', /offline_access/);
  assert.equal(login.searchParams.get('prompt'), null, 'the SDK never sends prompt=consent');
  await page.getByLabel('Email address').fill(ALICE.email);
  await page.getByLabel('Password').fill(ALICE.password);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: /Authorize/ }).waitFor();
  const consent = await page.locator('main').innerText();
  assert.match(consent, /Contacts SDK example app/);
  assert.match(consent, /offline_access/, 'a third-party client asks the user for offline access');
  assert.match(consent, /read:contacts/);
  await page.getByRole('button', { name: 'Allow' }).click();

  // handleRedirectCallback, getUser, getTokenSilently (from the cache), the API.
  await page.locator('#contacts li, #error:not([hidden])').first().waitFor();
  assert.equal(await page.locator('#error').isVisible(), false, `${await page.locator('#error').innerText()} ${JSON.stringify(exchanges)}`);
  assert.equal(new URL(page.url()).search, '', 'the app takes the code out of the address bar');
  assert.equal(await page.locator('#greeting').innerText(), `Signed in as ${ALICE.name}`);
  assert.equal(await page.locator('#email').innerText(), ALICE.email);
  assert.equal(await page.locator('#token-facts').innerText(), `for ${CONTACTS_API}, scope openid profile email offline_access read:contacts`);
  // The listeners read response bodies asynchronously: wait until they have.
  await waitFor(() => exchanges.some((e) => e.grantType === 'authorization_code'), 5000, 'the code exchange seen');
  const code = exchanges.find((e) => e.grantType === 'authorization_code');
  assert.ok(code, 'the SDK exchanged the code at /oauth/token from the browser');
  assert.equal(code.status, 200, JSON.stringify(code.body));
  assert.equal(code.allowOrigin, new URL(example.spaUrl).origin);
  assert.equal(typeof code.body.refresh_token, 'string', 'offline_access without prompt=consent returns a refresh token');
  const accessClaims = claimsOf(String(code.body.access_token));
  assert.deepEqual([accessClaims.aud].flat().includes(CONTACTS_API), true);
  assert.equal(accessClaims.azp, clientId);
  assert.equal(await page.locator('#error').isVisible(), false, await page.locator('#error').innerText());
  await page.screenshot({ path: join(SHOTS, 'example-sdk.png') });

  // useRefreshTokens: true, cacheMode 'off': the refresh token grant, rotating the refresh token.
  await page.getByRole('button', { name: 'Get a new access token' }).click();
  await page.getByText(/^refreshed at /).waitFor();
  await waitFor(() => exchanges.some((e) => e.grantType === 'refresh_token'), 5000, 'the refresh seen');
  const refreshed = exchanges.filter((e) => e.grantType === 'refresh_token');
  assert.equal(refreshed.length, 1);
  assert.equal(refreshed[0]!.status, 200, JSON.stringify(refreshed[0]!.body));
  assert.equal(typeof refreshed[0]!.body.refresh_token, 'string');
  assert.notEqual(refreshed[0]!.body.refresh_token, code.body.refresh_token, 'a public client gets a new refresh token at each use');
  assert.ok([claimsOf(String(refreshed[0]!.body.access_token)).aud].flat().includes(CONTACTS_API));

  // getTokenSilently({ cacheMode: 'off' }) without refresh tokens: the hidden iframe.
  const before = authorizeRequests.length;
  const silent = await silentToken(page, clientId, false);
  assert.ok(silent.token, `silent sign-in failed: ${silent.error}`);
  const iframe = authorizeRequests.slice(before).find((url) => url.searchParams.get('response_mode') === 'web_message');
  assert.ok(iframe, 'the SDK asked /authorize in its iframe');
  assert.equal(iframe.searchParams.get('prompt'), 'none');
  const silentClaims = claimsOf(silent.token);
  assert.ok([silentClaims.aud].flat().includes(CONTACTS_API));
  assert.equal(silentClaims.sub, accessClaims.sub);
  // And with useRefreshTokens: true but no refresh token in this client's memory: refused, not faked.
  assert.equal((await silentToken(page, clientId, true)).error, 'missing_refresh_token');

  // logout({ logoutParams: { returnTo } }): through /v2/logout, back on the app, signed out.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(page.url(), `${example.spaUrl}sdk/`);
  const afterLogout = await silentToken(page, clientId, false);
  assert.equal(afterLogout.error, 'login_required', `silent sign-in after logout: ${afterLogout.token ? 'got a token' : afterLogout.error}`);
  // The app revoked its refresh token before logging out (revokeRefreshToken, a CORS request).
  await waitFor(() => revocations.length > 0, 5000, 'the revocation seen');
  const revocation = revocations.at(-1);
  assert.ok(revocation, 'the SDK revoked its refresh token at /oauth/revoke');
  assert.equal(revocation.status, 200);
  assert.equal(revocation.allowOrigin, new URL(example.spaUrl).origin);
  // ...and the issuer refuses it now.
  const reuse = await fetch(new URL('oauth/token', issuer.url), { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: String(refreshed[0]!.body.refresh_token) }) });
  assert.equal(reuse.status, 400);
  assert.deepEqual(problems, []);
});
