// The example end to end in headless Chromium: the single-page app registers itself, the user
// signs in with the implicit flow (login, consent), the page checks the ID token and calls the
// API, which checks the access token against the issuer's JWKS.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import type { Browser } from 'playwright-core';

import type { RunningExample } from '../examples/servers.ts';
import { closeExampleStack, screenshotDir, startExampleStack } from './support/example_stack.ts';
import { authorize, authorizeUrl, registerClient } from './support/implicit.ts';
import { ALICE, CONTACTS_API } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';

// UPDATE_SCREENSHOTS=1 refreshes docs/example.png, which the README shows.
const SHOTS = screenshotDir();

let issuer: RunningIssuer;
let example: RunningExample;
let browser: Browser;

before(async () => {
  ({ issuer, example, browser } = await startExampleStack());
});
after(() => closeExampleStack({ issuer, example, browser }));

test('the example app registers itself, signs Alice in with the implicit flow and shows her contacts from the API', async () => {
  const page = await browser.newPage({ viewport: { width: 760, height: 780 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));

  page.on('console', (message) => {
    // The issuer's pages have no icon; the browser asking for one is not the example's concern.
    if (message.type() === 'error' && !message.location().url.startsWith(`${issuer.url}favicon.ico`)) problems.push(`${message.text()} ${message.location().url}`);
  });

  await page.goto(example.spaUrl);
  await page.getByText(/^Registered as client /).waitFor();
  const clientId = (await page.locator('#client-status').innerText()).replace('Registered as client ', '');
  const client = await issuer.provider.Client.find(clientId);
  assert.ok(client, 'the page registered a client at the issuer');
  assert.deepEqual(client.redirectUris, [example.spaUrl]);

  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  const authorize = new URL(page.url());
  assert.equal(authorize.origin, new URL(issuer.url).origin);
  await page.getByLabel('Email address').fill(ALICE.email);
  await page.getByLabel('Password').fill(ALICE.password);
  await page.getByRole('button', { name: 'Continue' }).click();

  await page.getByRole('heading', { name: /Authorize/ }).waitFor();
  const consent = await page.locator('main').innerText();
  assert.match(consent, /Contacts example app/);
  assert.match(consent, /read:contacts/);
  await page.getByRole('button', { name: 'Allow' }).click();

  await page.waitForURL(`${example.spaUrl}**`);
  await page.locator('#contacts li').first().waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the page takes the tokens out of the address bar');
  assert.equal(await page.locator('#greeting').innerText(), `Signed in as ${ALICE.name}`);
  assert.equal(await page.locator('#email').innerText(), ALICE.email);
  assert.equal(await page.locator('#id-token-check').innerText(), 'verified (RS256, nonce and at_hash match)');
  assert.equal(await page.locator('#scope').innerText(), 'openid profile email read:contacts');
  assert.match(await page.locator('#userinfo').innerText(), new RegExp(`^${ALICE.email.replace('.', '\\.')} \\(sub auth0\\|`));
  const contacts = await page.locator('#contacts li').allInnerTexts();
  assert.deepEqual(contacts.map((line) => line.split(/\s+/).slice(0, 2).join(' ')), ['Ada Lovelace', 'Grace Hopper', 'Katherine Johnson']);
  assert.equal(await page.locator('#error').isVisible(), false, await page.locator('#error').innerText());
  await page.screenshot({ path: join(SHOTS, 'example.png') });
  assert.deepEqual(problems, []);
});

test('the API refuses a request without a valid token, and a token without read:contacts', async () => {
  const api = new URL('api/contacts', example.apiUrl);
  const none = await fetch(api);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
  const forged = await fetch(api, { headers: { authorization: 'Bearer a.b.c' } });
  assert.equal(forged.status, 401);
  assert.equal(((await forged.json()) as { error: string }).error, 'invalid_token');

  // Tokens for the API from the implicit flow, with and without the scope the API checks.
  const client = await registerClient(issuer.url, { client_name: 'Scope check', redirect_uris: ['https://scope.example.com/cb'], token_endpoint_auth_method: 'none' });
  const agent = new UserAgent(issuer.url);
  for (const [scope, status] of [['openid profile', 403], ['openid read:contacts', 200]] as const) {
    const step = await authorize(agent, authorizeUrl(issuer.url, { client_id: client.client_id, redirect_uri: 'https://scope.example.com/cb', response_type: 'token', scope, audience: CONTACTS_API, state: 's' }));
    const accessToken = redirectParams(step.location).get('access_token')!;
    const answer = await fetch(api, { headers: { authorization: `Bearer ${accessToken}`, origin: new URL(example.spaUrl).origin } });
    assert.equal(answer.status, status, scope);
    assert.equal(answer.headers.get('access-control-allow-origin'), new URL(example.spaUrl).origin);
    if (status === 403) assert.match(answer.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  }
});
