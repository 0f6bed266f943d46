// A user logs in and consents through the HTML pages in a real browser (headless Chromium).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { Browser } from 'playwright-core';

import { launchBrowser } from './support/browser.ts';
import { ALICE, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';

// Screenshots land in a temp folder; UPDATE_SCREENSHOTS=1 refreshes the ones docs/ keeps for the README.
const SHOTS = process.env.UPDATE_SCREENSHOTS ? fileURLToPath(new URL('../docs/', import.meta.url)) : mkdtempSync(join(tmpdir(), 'shots-'));
const CALLBACK = 'https://app.example.com/callback';

/** The one browser API this test calls inside the page (the project type-checks without the DOM lib). */
type BrowserWindow = { getComputedStyle(element: unknown): { backgroundColor: string } };

let issuer: RunningIssuer;
let browser: Browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await issuer?.close();
});

function isPng(path: string): boolean {
  return readFileSync(path).subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
}

test('log in and consent in Chromium, landing on the app with tokens in the fragment', async () => {
  const registered = await fetch(new URL('oidc/register', issuer.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'My Dynamic application', redirect_uris: [CALLBACK], response_types: ['id_token token'], grant_types: ['implicit'], token_endpoint_auth_method: 'none' }),
  });
  assert.equal(registered.status, 201);
  const { client_id: clientId } = (await registered.json()) as { client_id: string };

  const page = await browser.newPage({ viewport: { width: 800, height: 640 } });
  // The app's callback is not served here: answer it from the test instead.
  await page.route(`${CALLBACK}**`, async (route) => {
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<p>app</p>' });
  });

  const authorize = new URL('authorize', issuer.url);
  authorize.search = new URLSearchParams({ client_id: clientId, redirect_uri: CALLBACK, response_type: 'id_token token', scope: 'openid profile email read:contacts', audience: 'https://contacts.example.com/', nonce: 'nonce-1', state: 'state-1' }).toString();
  await page.goto(authorize.href);

  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  // The page's style sheet is allowed by the CSP's hash: the button is painted in the accent colour.
  const buttonColour = await page.getByRole('button', { name: 'Continue' }).evaluate((el) => (globalThis as unknown as BrowserWindow).getComputedStyle(el).backgroundColor);
  assert.equal(buttonColour, 'rgb(11, 87, 208)');
  await page.getByLabel('Email address').fill(ALICE.email);
  await page.screenshot({ path: join(SHOTS, 'login.png') });
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor();

  await page.getByLabel('Password').fill(ALICE.password);
  await page.getByRole('button', { name: 'Continue' }).click();

  await page.getByRole('heading', { name: /Authorize/ }).waitFor();
  const consent = await page.locator('main').innerText();
  assert.match(consent, /My Dynamic application/);
  assert.match(consent, /alice@example\.com/);
  assert.match(consent, /read:contacts/);
  assert.match(consent, /Contacts API/);
  await page.screenshot({ path: join(SHOTS, 'consent.png') });
  await page.getByRole('button', { name: 'Allow' }).click();

  await page.waitForURL(`${CALLBACK}**`);
  // The fragment never reaches a server; the page's own URL holds it.
  const landed = page.url();
  const fragment = new URLSearchParams(new URL(landed).hash.slice(1));
  assert.ok(fragment.get('access_token'), landed);
  assert.ok(fragment.get('id_token'), landed);
  assert.equal(fragment.get('state'), 'state-1');
  assert.ok(isPng(join(SHOTS, 'login.png')) && isPng(join(SHOTS, 'consent.png')));
});
