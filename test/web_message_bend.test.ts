// The web_message bend (src/provider/web_message_response_mode.ts): silent sign-in with
// response_mode=web_message and prompt=none, an experimental feature of oidc-provider that starts
// only with the ack of its draft. Fails loudly when an upgrade changes the draft or the version;
// checks that only the client's web origins may frame the response, and that errors such as
// login_required reach the parent window as Auth0's SPA SDK reads them.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import Provider from 'oidc-provider';
import type { Browser } from 'playwright-core';

import { WEB_MESSAGE_ACK, WEB_MESSAGE_BEND_VERSION, webMessageResponseMode } from '../src/provider/web_message_response_mode.ts';
import { launchBrowser } from './support/browser.ts';
import { authorize, authorizeUrl, registerClient } from './support/implicit.ts';
import type { RegisteredClient } from './support/implicit.ts';
import { startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { UserAgent } from './support/user_agent.ts';

// Parent pages on loopback (Chromium refuses to let a page it cannot place on the local network
// frame one that is): the client's origin, another web origin of it, and an unrelated origin.
let APP = '';
let WEB = '';
let EVIL = '';
let parentHtml = '';

async function parentServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end(parentHtml);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function readJson(url: URL): Record<string, unknown> {
  return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;
}

/** Directives of a Content-Security-Policy header, by name. */
function directives(csp: string | null): Map<string, string> {
  return new Map((csp ?? '').split(';').map((d) => d.trim()).filter(Boolean).map((d) => [d.split(/\s+/)[0]!, d.split(/\s+/).slice(1).join(' ')]));
}

describe('the web_message bend is pinned to one oidc-provider version and draft', () => {
  test('the installed oidc-provider is the version the bend was written for', () => {
    const installed = readJson(new URL(import.meta.resolve('oidc-provider/package.json'))).version;
    assert.equal(installed, WEB_MESSAGE_BEND_VERSION, `oidc-provider ${String(installed)} is installed but the web_message bend was written for ${WEB_MESSAGE_BEND_VERSION}: check src/provider/web_message_response_mode.ts (the ack, and that the page still strips frame-ancestors), then update WEB_MESSAGE_BEND_VERSION`);
  });

  test('the library starts with our ack and refuses another draft\'s (else the ack is stale)', () => {
    const quiet = { clients: [], jwks: undefined };
    assert.doesNotThrow(() => new Provider('http://127.0.0.1/', { ...quiet, features: { webMessageResponseMode } } as never));
    assert.throws(() => new Provider('http://127.0.0.1/', { ...quiet, features: { webMessageResponseMode: { enabled: true, ack: 'individual-draft-00' } } } as never), /unacknowledged version of an experimental feature/);
    assert.equal(WEB_MESSAGE_ACK, 'individual-draft-01');
  });
});

describe('silent sign-in with response_mode=web_message', () => {
  let issuer: RunningIssuer;
  let spa: RegisteredClient;
  let browser: Browser;
  const parents: Server[] = [];

  before(async () => {
    for (const assign of [(o: string) => { APP = o; }, (o: string) => { WEB = o; }, (o: string) => { EVIL = o; }]) {
      const { server, origin } = await parentServer();
      parents.push(server);
      assign(origin);
    }
    issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
    spa = await registerClient(issuer.url, { client_name: 'Silent SPA', redirect_uris: [`${APP}/callback`], web_origins: [WEB], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await issuer?.close();
    for (const server of parents) {
      server.closeAllConnections();
      server.close();
    }
  });

  function silentUrl(extra: Record<string, string> = {}): string {
    return authorizeUrl(issuer.url, { client_id: spa.client_id, redirect_uri: `${APP}/callback`, response_type: 'code', response_mode: 'web_message', prompt: 'none', scope: 'openid', state: 'st', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra });
  }

  test('discovery lists web_message', async () => {
    const discovery = (await (await fetch(new URL('.well-known/openid-configuration', issuer.url))).json()) as { response_modes_supported: string[] };
    assert.ok(discovery.response_modes_supported.includes('web_message'), JSON.stringify(discovery.response_modes_supported));
  });

  test('without a session: login_required in the page, which only the client\'s web origins may frame', async () => {
    for (const path of ['/AUTHORIZE?', '/authorize/?']) {
      const other = await new UserAgent(issuer.url).request(silentUrl().replace('/authorize?', path));
      assert.deepEqual(directives(other.headers.get('content-security-policy')).get('frame-ancestors')?.split(' ').sort(), [APP, WEB].sort(), path);
    }
    const step = await new UserAgent(issuer.url).request(silentUrl());
    assert.equal(step.status, 400);
    assert.match(step.body, /"type"\s*:\s*'authorization_response'|authorization_response/);
    assert.match(step.body, /"error":"login_required"/);
    assert.match(step.body, /"state":"st"/);
    const csp = directives(step.headers.get('content-security-policy'));
    assert.deepEqual(csp.get('frame-ancestors')?.split(' ').sort(), [APP, WEB].sort());
    assert.equal(step.headers.get('x-frame-options'), null);
  });

  test('with a session: a code in the page, framed by the same origins', async () => {
    const agent = new UserAgent(issuer.url);
    // Sign in and consent once through the pages, then ask silently.
    const first = await authorize(agent, authorizeUrl(issuer.url, { client_id: spa.client_id, redirect_uri: `${APP}/callback`, response_type: 'code', scope: 'openid', state: 'x', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }));
    assert.match(first.location ?? '', /code=/);
    const step = await agent.request(silentUrl());
    assert.equal(step.status, 200);
    assert.match(step.body, /"code":"[^"]+"/);
    assert.deepEqual(directives(step.headers.get('content-security-policy')).get('frame-ancestors')?.split(' ').sort(), [APP, WEB].sort());
  });

  test('an error the client may not receive stays an unframeable page; other pages stay unframeable', async () => {
    const wrongRedirect = await new UserAgent(issuer.url).request(silentUrl({ redirect_uri: `${EVIL}/callback` }));
    assert.equal(wrongRedirect.status, 400);
    assert.equal(directives(wrongRedirect.headers.get('content-security-policy')).get('frame-ancestors'), "'none'");
    const login = await new UserAgent(issuer.url).navigate(authorizeUrl(issuer.url, { client_id: spa.client_id, redirect_uri: `${APP}/callback`, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }));
    assert.match(login.body, /name="password"/);
    assert.equal(directives(login.headers.get('content-security-policy')).get('frame-ancestors'), "'none'");
    assert.equal(login.headers.get('x-frame-options'), 'DENY');
  });

  test('in Chromium: the client\'s origin gets login_required by postMessage; another origin cannot frame the page', async () => {
    const page = await browser.newPage();
    const consoleLines: string[] = [];
    page.on('console', (message) => consoleLines.push(message.text()));
    parentHtml = `<!doctype html><script>window.messages=[];addEventListener('message',(e)=>window.messages.push({origin:e.origin,data:e.data}));</script><iframe src="${silentUrl().replaceAll('&', '&amp;')}"></iframe>`;

    await page.goto(`${APP}/parent`);
    await page.waitForFunction(() => (globalThis as unknown as { messages: unknown[] }).messages.length > 0, undefined, { timeout: 10_000 }).catch(() => assert.fail(consoleLines.join('\n')));
    const messages = await page.evaluate(() => (globalThis as unknown as { messages: unknown[] }).messages);
    assert.deepEqual(messages, [{ origin: new URL(issuer.url).origin, data: { type: 'authorization_response', response: { error: 'login_required', error_description: 'End-User authentication is required', state: 'st', iss: issuer.url } } }]);

    await page.goto(`${EVIL}/parent`);
    await page.waitForTimeout(1500);
    assert.deepEqual(await page.evaluate(() => (globalThis as unknown as { messages: unknown[] }).messages), []);
    assert.ok(consoleLines.some((line) => /frame-ancestors/.test(line) && line.includes(issuer.url.slice(0, -1))), `framing by ${EVIL} was not refused by CSP: ${consoleLines.join('\n')}`);
    await page.close();
  });
});
