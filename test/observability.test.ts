// Logs, metrics and security headers, through the real app.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { captureLogs } from './support/log_capture.ts';
import { ALICE, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { loginAndConsent, redirectParams, UserAgent } from './support/user_agent.ts';

let issuer: RunningIssuer;
let logs: ReturnType<typeof captureLogs>;

before(async () => {
  logs = captureLogs('trace');
  issuer = await startIssuer({ logger: logs.logger, overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
});
after(() => issuer.close());

function authorize(clientId: string, responseType: string, extra: Record<string, string> = {}): string {
  const url = new URL('authorize', issuer.url);
  url.search = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://app.example.com/cb', response_type: responseType, scope: 'openid profile email', nonce: 'n', state: 's', ...extra }).toString();
  return url.href;
}

describe('logs', () => {
  test('one line per request with method, route, status, duration and the request id (honouring X-Request-Id)', async () => {
    const response = await fetch(new URL('.well-known/openid-configuration', issuer.url), { headers: { 'x-request-id': 'trace-abc.123' } });
    assert.equal(response.headers.get('x-request-id'), 'trace-abc.123');
    const line = logs.lines().find((l) => l.request_id === 'trace-abc.123');
    assert.ok(line, 'a line for the request');
    assert.equal(line.method, 'GET');
    assert.equal(line.route, 'discovery');
    assert.equal(line.status, 200);
    assert.equal(typeof line.duration_ms, 'number');

    const generated = await fetch(new URL('healthz', issuer.url), { headers: { 'x-request-id': 'bad id with spaces' } });
    const id = generated.headers.get('x-request-id') ?? '';
    assert.match(id, /^[0-9a-f-]{36}$/, 'an unusable incoming id is replaced');
    assert.equal(logs.lines().find((l) => l.request_id === id)?.route, '/healthz');
  });

  test('a full registration, implicit and code flow never logs passwords, secrets, tokens or codes', async () => {
    const registered = await fetch(new URL('oidc/register', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Log scan', redirect_uris: ['https://app.example.com/cb'] }),
    });
    const client = (await registered.json()) as { client_id: string; client_secret: string };
    const agent = new UserAgent(issuer.url);
    const implicit = await loginAndConsent(agent, await agent.navigate(authorize(client.client_id, 'id_token token', { audience: 'https://contacts.example.com/' })), ALICE);
    const fragment = redirectParams(implicit.location);
    const code = redirectParams((await agent.navigate(authorize(client.client_id, 'code'))).location, 'search').get('code');
    assert.ok(code);
    const token = await fetch(new URL('oauth/token', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: 'https://app.example.com/cb', client_id: client.client_id, client_secret: client.client_secret }),
    });
    const tokens = (await token.json()) as Record<string, string>;
    assert.equal(token.status, 200, JSON.stringify(tokens));
    await fetch(new URL('userinfo', issuer.url), { headers: { authorization: `Bearer ${tokens.access_token}` } });

    const text = logs.text();
    assert.ok(text.includes('client_registered'), 'the flow was logged');
    const secrets = { password: ALICE.password, client_secret: client.client_secret, access_token: fragment.get('access_token'), id_token: fragment.get('id_token'), code, code_access_token: tokens.access_token, code_id_token: tokens.id_token };
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(value && value.length > 8, `${name} was produced`);
      assert.ok(!text.includes(value), `${name} appears in the log`);
    }
  });
});

describe('metrics', () => {
  test('/metrics speaks Prometheus: request durations by route, registrations, authorizations, store latency', async () => {
    await fetch(new URL('oidc/register', issuer.url), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    const response = await fetch(new URL('metrics', issuer.url));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
    const text = await response.text();
    assert.match(text, /issuer_http_request_duration_seconds_bucket\{[^}]*route="discovery"[^}]*status="200"/);
    assert.match(text, /issuer_registrations_total\{outcome="accepted",reason=""\} [1-9]/);
    assert.match(text, /issuer_registrations_total\{outcome="refused",reason="unsupported_media_type"\} 1/);
    assert.match(text, /issuer_authorizations_total\{outcome="success"\} [1-9]/);
    assert.match(text, /issuer_store_operation_duration_seconds_count\{operation="Client.upsert"\} [1-9]/);
    assert.match(text, /process_resident_memory_bytes/);
  });
});

describe('security headers', () => {
  test('HTML pages carry a strict CSP, frame-ancestors none, nosniff and no-referrer', async () => {
    const registered = await fetch(new URL('oidc/register', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Headers', redirect_uris: ['https://app.example.com/cb'] }),
    });
    const { client_id: clientId } = (await registered.json()) as { client_id: string };
    const page = await new UserAgent(issuer.url).navigate(authorize(clientId, 'id_token token'));
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/=]+'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
  });
});
