// Refresh tokens as Auth0 issues them (src/provider/refresh_tokens.ts): offline_access in the code
// flow without prompt=consent, asked once on the consent page of a third-party client, rotation for
// public clients with reuse detection, and Auth0's absolute and idle lifetimes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { ConfigError } from '../src/config.ts';
import { refreshTokenTtl } from '../src/provider/refresh_tokens.ts';
import { authorizeUrl, registerClient } from './support/implicit.ts';
import type { RegisteredClient } from './support/implicit.ts';
import { ALICE, startIssuer, testConfig } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { redirectParams, UserAgent } from './support/user_agent.ts';
import type { Step } from './support/user_agent.ts';

const CALLBACK = 'https://spa.example.com/callback';
type TokenResponse = { access_token?: string; refresh_token?: string; id_token?: string; scope?: string; error?: string; error_description?: string };

/** The code flow with PKCE as a SPA runs it; `onConsent` sees the consent page when it shows. */
async function codeFlow(issuer: RunningIssuer, agent: UserAgent, client: RegisteredClient, scope: string, extra: Record<string, string> = {}, onConsent?: (page: Step) => void): Promise<{ status: number; body: TokenResponse }> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  let step = await agent.navigate(authorizeUrl(issuer.url, { client_id: client.client_id, redirect_uri: CALLBACK, response_type: 'code', scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra }));
  if (step.status === 200 && /name="password"/.test(step.body)) step = await agent.submit(UserAgent.formAction(step.body), { email: ALICE.email, password: ALICE.password });
  if (step.status === 200 && step.body.includes('name="decision"')) {
    onConsent?.(step);
    step = await agent.submit(UserAgent.formAction(step.body), { decision: 'allow' });
  }
  const query = redirectParams(step.location, 'search');
  const code = query.get('code');
  assert.ok(code, `no code: ${step.status} ${step.location ?? step.body.slice(0, 300)}`);
  return token(issuer, { grant_type: 'authorization_code', client_id: client.client_id, code, redirect_uri: CALLBACK, code_verifier: verifier });
}

async function token(issuer: RunningIssuer, form: Record<string, string>): Promise<{ status: number; body: TokenResponse }> {
  const response = await fetch(new URL('oauth/token', issuer.url), { method: 'POST', body: new URLSearchParams(form), signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: (await response.json()) as TokenResponse };
}

function refresh(issuer: RunningIssuer, client: RegisteredClient, refreshToken: string) {
  return token(issuer, { grant_type: 'refresh_token', client_id: client.client_id, refresh_token: refreshToken });
}

describe('refresh tokens for SPAs', () => {
  let issuer: RunningIssuer;
  let spa: RegisteredClient;

  before(async () => {
    issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } } } });
    spa = await registerClient(issuer.url, { client_name: 'Refreshing SPA', redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' });
  });
  after(() => issuer?.close());

  test('offline_access without prompt=consent returns a refresh token; the consent page asks for it once', async () => {
    const agent = new UserAgent(issuer.url);
    let consent = '';
    const first = await codeFlow(issuer, agent, spa, 'openid email offline_access', {}, (page) => { consent = page.body; });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(typeof first.body.refresh_token, 'string', JSON.stringify(first.body));
    assert.match(consent, /offline_access/, 'the third-party client\'s consent page names offline access');
    assert.match(consent, /stay signed in while you are away/);

    // Asked once: a new session of the same user gets the refresh token without the consent page.
    let asked = false;
    const again = await codeFlow(issuer, new UserAgent(issuer.url), spa, 'openid email offline_access', {}, () => { asked = true; });
    assert.equal(asked, false, 'offline access is asked once per user and client');
    assert.equal(typeof again.body.refresh_token, 'string');

    // Silent: prompt=none keeps offline_access too (what the SDK's iframe sends with useRefreshTokens).
    const silent = await codeFlow(issuer, agent, spa, 'openid email offline_access', { prompt: 'none' });
    assert.equal(typeof silent.body.refresh_token, 'string');
  });

  test('no refresh token without offline_access, nor for a client whose grant types lack refresh_token', async () => {
    const agent = new UserAgent(issuer.url);
    const without = await codeFlow(issuer, agent, spa, 'openid email');
    assert.equal(without.status, 200);
    assert.equal(without.body.refresh_token, undefined);

    const noGrant = await registerClient(issuer.url, { client_name: 'No refresh', redirect_uris: [CALLBACK], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' });
    const refused = await codeFlow(issuer, agent, noGrant, 'openid offline_access');
    assert.equal(refused.status, 200);
    assert.equal(refused.body.refresh_token, undefined);
    assert.doesNotMatch(refused.body.scope ?? '', /offline_access/);
  });

  test('a public client rotates; reusing a spent refresh token is refused and revokes the rest of its family', async () => {
    const agent = new UserAgent(issuer.url);
    const issued = await codeFlow(issuer, agent, spa, 'openid offline_access');
    const first = issued.body.refresh_token!;
    const second = await refresh(issuer, spa, first);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const rotated = second.body.refresh_token!;
    assert.ok(rotated && rotated !== first, 'each use returns a new refresh token');
    const third = await refresh(issuer, spa, rotated);
    assert.equal(third.status, 200);
    const latest = third.body.refresh_token!;

    // An attacker replays the spent first token: refused, and the family falls with it.
    const replay = await refresh(issuer, spa, first);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    const afterReplay = await refresh(issuer, spa, latest);
    assert.equal(afterReplay.status, 400, 'the newest token of the family is revoked too');
    assert.equal(afterReplay.body.error, 'invalid_grant');
    const userinfo = await fetch(new URL('userinfo', issuer.url), { headers: { authorization: `Bearer ${third.body.access_token}` } });
    assert.equal(userinfo.status, 401, 'and so are its access tokens');
  });

  test('refresh tokens live Auth0\'s idle lifetime (15 days), stored with that expiry', async () => {
    const issued = await codeFlow(issuer, new UserAgent(issuer.url), spa, 'openid offline_access');
    const stored = await issuer.provider.RefreshToken.find(issued.body.refresh_token!);
    assert.ok(stored);
    assert.equal(stored.exp! - stored.iat!, 15 * 86_400);
  });
});

describe('refresh token lifetimes are configurable', () => {
  test('refresh_tokens.idle_token_lifetime and token_lifetime set the stored expiry', async () => {
    const issuer = await startIssuer({ overrides: { tenant: { flags: { enable_dynamic_client_registration: true } }, refresh_tokens: { token_lifetime: 7200, idle_token_lifetime: 600 } } });
    try {
      const spa = await registerClient(issuer.url, { client_name: 'Short', redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' });
      const issued = await codeFlow(issuer, new UserAgent(issuer.url), spa, 'openid offline_access');
      const stored = await issuer.provider.RefreshToken.find(issued.body.refresh_token!);
      assert.equal(stored!.exp! - stored!.iat!, 600);
    } finally {
      await issuer.close();
    }
  });

  test('a rotated token never outlives the absolute lifetime of its family', () => {
    const ttl = refreshTokenTtl({ refresh_tokens: { token_lifetime: 30 * 86_400, idle_token_lifetime: 15 * 86_400 } });
    const ctx = {} as Parameters<typeof ttl>[0];
    assert.equal(ttl(ctx, { totalLifetime: () => 0 }), 15 * 86_400);
    assert.equal(ttl(ctx, { totalLifetime: () => 20 * 86_400 }), 10 * 86_400);
    assert.equal(ttl(ctx, { totalLifetime: () => 31 * 86_400 }), 1);
  });

  test('defaults are Auth0\'s; an idle lifetime longer than the absolute one is a ConfigError', () => {
    assert.deepEqual(testConfig('http://127.0.0.1:1/').refresh_tokens, { token_lifetime: 2_592_000, idle_token_lifetime: 1_296_000 });
    assert.throws(() => testConfig('http://127.0.0.1:1/', { refresh_tokens: { token_lifetime: 600, idle_token_lifetime: 601 } }), (error: unknown) => error instanceof ConfigError && error.problems.some((p) => p.startsWith('refresh_tokens.idle_token_lifetime')));
  });
});
