// Phishing through open registration: a registered name may not hide characters that reorder or
// hide text, nor take the name of an application ops declared; the login and consent pages mark
// registered applications as third-party and name the host that receives the tokens.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ALICE, OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { authorizeUrl, registerClient } from './support/implicit.ts';
import { UserAgent } from './support/user_agent.ts';

const FIRST_PARTY = { client_id: 'company-portal', name: 'Company Portal', token_endpoint_auth_method: 'none', grant_types: ['implicit'], response_types: ['id_token token'], redirect_uris: ['https://portal.example.com/cb'] };

async function register(issuer: RunningIssuer, metadata: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(new URL('oidc/register', issuer.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata), signal: AbortSignal.timeout(5000) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('registered names that would deceive', () => {
  let issuer: RunningIssuer;
  before(async () => {
    issuer = await startIssuer({
      overrides: {
        tenant: { flags: { enable_dynamic_client_registration: true } },
        registration: { rate_limit: { per_second: 1000, burst: 1000 } },
        clients: [{ ...OPS, name: 'Ops console', grant_types: ['client_credentials'] }, FIRST_PARTY],
      },
    });
  });
  after(() => issuer.close());

  test('control, bidi and zero-width characters in client_name are refused', async () => {
    const names = [
      'Ops console \u202Emoc.elpmaxe\u202C', 'Right\u200Fto\u200Eleft', 'Isolate \u2066x\u2069', 'Zero\u200Bwidth', 'Joiner\u200D',
      'Bell\u0007', 'Line\nbreak', 'Tab\there', 'Sep\u2028arator', 'BOM\uFEFF', 'Arabic mark\u061C', 'Private\uE000use',
    ];
    for (const name of names) {
      const { status, json } = await register(issuer, { client_name: name, redirect_uris: ['https://app.example.com/cb'] });
      assert.equal(status, 400, JSON.stringify(name));
      assert.equal(json.error, 'invalid_client_metadata');
      assert.match(String(json.error_description), /control, format or bidirectional-override characters/);
    }
    assert.equal(await issuer.store.countClients(), 0);
  });

  test("the name of a configured application is refused, whatever its case, spacing or width", async () => {
    for (const name of ['Ops console', 'OPS CONSOLE', '  ops   console ', 'Ｏｐｓ ｃｏｎｓｏｌｅ', 'company portal', 'Company Portal']) {
      const { status, json } = await register(issuer, { client_name: name, redirect_uris: ['https://app.example.com/cb'] });
      assert.equal(status, 400, name);
      assert.equal(json.error, 'invalid_client_metadata');
      assert.match(String(json.error_description), /name of an application of this tenant/);
    }
    assert.equal(await issuer.store.countClients(), 0);
    // Other names, accents and scripts included, register.
    for (const name of ['Ops console helper', 'Café Ünïcode 日本語 العربية']) {
      assert.equal((await register(issuer, { client_name: name, redirect_uris: ['https://app.example.com/cb'] })).status, 201, name);
    }
  });

  test('the login and consent pages mark a registered application as third-party and name the token host; markup stays text', async () => {
    const name = '<img src=x onerror=alert(1)> "Evil" & Co';
    const client = await registerClient(issuer.url, { client_name: name, redirect_uris: ['https://tokens.attacker.example/cb'] });
    const agent = new UserAgent(issuer.url);
    const url = authorizeUrl(issuer.url, { client_id: client.client_id, response_type: 'id_token token', redirect_uri: 'https://tokens.attacker.example/cb', scope: 'openid email', nonce: 'n', state: 's' });
    const login = await agent.navigate(url);
    assert.equal(login.status, 200);
    assert.ok(!login.body.includes('<img src=x'), 'the name is escaped');
    assert.match(login.body, /&#60;img src&#61;x onerror&#61;alert\(1\)&#62; &#34;Evil&#34; &#38; Co/);
    assert.match(login.body, /Third-party/);
    assert.match(login.body, /sent back to <strong>tokens\.attacker\.example<\/strong>/);
    const consent = await agent.submit(UserAgent.formAction(login.body), { email: ALICE.email, password: ALICE.password });
    assert.equal(consent.status, 200);
    assert.match(consent.body, /name="decision"/);
    assert.match(consent.body, /Third-party/);
    assert.match(consent.body, /sent back to <strong>tokens\.attacker\.example<\/strong>/);
  });

  test("a configured application's login page carries no third-party mark", async () => {
    const url = authorizeUrl(issuer.url, { client_id: FIRST_PARTY.client_id, response_type: 'id_token token', redirect_uri: FIRST_PARTY.redirect_uris[0]!, scope: 'openid', nonce: 'n', state: 's' });
    const login = await new UserAgent(issuer.url).navigate(url);
    assert.equal(login.status, 200);
    assert.match(login.body, /Company Portal/);
    assert.doesNotMatch(login.body, /Third-party/);
    assert.match(login.body, /sent back to <strong>portal\.example\.com<\/strong>/);
  });
});
