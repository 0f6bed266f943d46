// Issue 11 item 7 and issue 10 finding 5: native and desktop apps (RFC 8252) use the code flow
// with PKCE, in every environment, with loopback redirect URIs (any port at request time for the
// IP literals) or a private-use URI scheme. Tokens in a URL fragment go only to https in
// production, whatever the application type.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import * as oidc from 'openid-client';

import { ALICE, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { authorize } from './support/implicit.ts';
import { UserAgent } from './support/user_agent.ts';
import { decodeJwt } from './support/code_flow.ts';

const PRODUCTION_PASSWORD = 'a-production-password-9';

async function register(issuer: RunningIssuer, metadata: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL('oidc/register', issuer.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata), signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A desktop app's one-shot loopback listener: the port the system gives, the request the browser makes. */
async function loopbackListener(host: string): Promise<{ port: number; received: Promise<URL>; close(): void }> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const received = new Promise<URL>((resolve) => {
    server.on('request', (req, res) => {
      res.end('You can close this window.');
      resolve(new URL(req.url!, `http://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`));
    });
  });
  return { port: (server.address() as AddressInfo).port, received, close: () => server.close() };
}

/** Register as a native app through openid-client, run the flow, return the token response. */
async function nativeFlow(issuer: RunningIssuer, options: { register: string[]; redirectUri: string; deliver(location: string): Promise<URL>; password?: string }) {
  const config = await oidc.dynamicClientRegistration(
    new URL(issuer.url),
    { client_name: 'Desktop notes', application_type: 'native', redirect_uris: options.register, token_endpoint_auth_method: 'none' },
    oidc.None(),
    { execute: [oidc.allowInsecureRequests] },
  );
  assert.equal(config.clientMetadata().token_endpoint_auth_method, 'none');
  assert.deepEqual(config.clientMetadata().grant_types, ['authorization_code']);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: options.redirectUri, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
  const agent = new UserAgent(issuer.url);
  let step = await agent.navigate(url.href);
  if (step.status === 200 && /name="password"/.test(step.body)) step = await agent.submit(UserAgent.formAction(step.body), { email: ALICE.email, password: options.password ?? ALICE.password });
  if (step.status === 200 && step.body.includes('name="decision"')) step = await agent.submit(UserAgent.formAction(step.body), { decision: 'allow' });
  assert.ok(step.location?.startsWith(options.redirectUri), `expected a redirect to ${options.redirectUri}, got ${step.status} ${step.location} ${step.body.slice(0, 200)}`);
  const callback = await options.deliver(step.location!);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
  return { config, tokens };
}

for (const env of ['development', 'production'] as const) {
  describe(`native apps in ${env}`, () => {
    let issuer: RunningIssuer;
    before(async () => {
      issuer = await startIssuer({
        overrides: {
          env,
          tenant: { flags: { enable_dynamic_client_registration: true } },
          registration: { rate_limit: { per_second: 1000, burst: 1000 } },
          ...(env === 'production' ? { cookies: { keys: ['k'.repeat(32)] }, users: [{ ...ALICE, password: PRODUCTION_PASSWORD }] } : {}),
        },
      });
    });
    after(() => issuer.close());
    const password = env === 'production' ? PRODUCTION_PASSWORD : ALICE.password;

    test('openid-client: loopback redirect on a port other than the registered one (127.0.0.1 and [::1])', async () => {
      for (const host of ['127.0.0.1', '::1']) {
        const literal = host.includes(':') ? `[${host}]` : host;
        const app = await loopbackListener(host);
        try {
          const redirectUri = `http://${literal}:${app.port}/callback`;
          const { config, tokens } = await nativeFlow(issuer, {
            register: [`http://${literal}:${app.port === 1 ? 2 : 1}/callback`],
            redirectUri,
            password,
            async deliver(location) {
              // The browser follows the redirect to the app's own listener.
              await fetch(location, { signal: AbortSignal.timeout(5000) });
              return app.received;
            },
          });
          const claims = tokens.claims();
          assert.equal(claims?.email, ALICE.email);
          assert.equal(claims?.aud, config.clientMetadata().client_id);
        } finally {
          app.close();
        }
      }
    });

    test('openid-client: a private-use URI scheme (com.example.app:/callback)', async () => {
      const { tokens } = await nativeFlow(issuer, {
        register: ['com.example.app:/callback'],
        redirectUri: 'com.example.app:/callback',
        password,
        // The operating system hands the URL to the app that claimed the scheme.
        deliver: async (location) => new URL(location),
      });
      assert.equal(tokens.claims()?.email, ALICE.email);
      assert.equal(decodeJwt(tokens.id_token).header.alg, 'RS256');
    });

    test('a loopback redirect on another port is refused for a non-loopback path or host', async () => {
      const client = await register(issuer, { application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'] });
      assert.equal(client.status, 201, JSON.stringify(client.body));
      for (const redirect of ['http://127.0.0.1:5000/other', 'http://127.0.0.2:5000/callback', 'http://example.com:5000/callback']) {
        const step = await authorize(new UserAgent(issuer.url), new URL(`authorize?${new URLSearchParams({ client_id: client.body.client_id as string, response_type: 'code', redirect_uri: redirect, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`, issuer.url).href);
        assert.equal(step.location, undefined, `redirected to ${step.location} for ${redirect}`);
        assert.match(step.body, /redirect_uri did not match/);
      }
    });

    test('localhost keeps its registered port (RFC 8252 section 8.3); the IP literals may change it', async () => {
      const client = await register(issuer, { application_type: 'native', redirect_uris: ['http://localhost:8400/callback', 'http://127.0.0.1:8400/callback', 'http://[::1]:8400/callback'] });
      assert.equal(client.status, 201, JSON.stringify(client.body));
      const attempt = (redirect: string) => authorize(new UserAgent(issuer.url), new URL(`authorize?${new URLSearchParams({ client_id: client.body.client_id as string, response_type: 'code', redirect_uri: redirect, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`, issuer.url).href);
      const moved = await attempt('http://localhost:8401/callback');
      assert.equal(moved.location, undefined, `redirected to ${moved.location}`);
      assert.match(moved.body, /redirect_uri did not match/);
      for (const redirect of ['http://localhost:8400/callback', 'http://127.0.0.1:8401/callback', 'http://[::1]:8401/callback']) {
        // Accepted: the login page is shown (redirect_uri errors never get that far).
        const step = await new UserAgent(issuer.url).navigate(new URL(`authorize?${new URLSearchParams({ client_id: client.body.client_id as string, response_type: 'code', redirect_uri: redirect, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`, issuer.url).href);
        assert.equal(step.status, 200, `${redirect}: ${step.status} ${step.location}`);
        assert.match(step.body, /name="password"/, redirect);
      }
    });

    test('native apps register for the code flow only: implicit is refused, whatever the redirect URI', async () => {
      const before = await issuer.store.countClients();
      for (const redirect of ['http://127.0.0.1/cb', 'com.example.app:/cb', 'https://app.example.com/cb']) {
        for (const body of [
          { grant_types: ['implicit'] },
          { response_types: ['id_token token'] },
          { grant_types: ['authorization_code', 'implicit'], response_types: ['code', 'token'] },
        ]) {
          const answer = await register(issuer, { application_type: 'native', redirect_uris: [redirect], ...body });
          assert.equal(answer.status, 400, `${redirect} ${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`);
          assert.equal(answer.body.error, 'invalid_client_metadata');
          assert.match(answer.body.error_description as string, /native clients use the authorization code flow with PKCE/);
        }
      }
      assert.equal(await issuer.store.countClients(), before);
    });

    test('native redirect URIs: no dangerous schemes, no plain http off loopback, no https on loopback', async () => {
      const before = await issuer.store.countClients();
      for (const redirect of ['javascript:alert(1)//', 'data:text/html,hi', 'file:///etc/passwd', 'http://app.example.com/callback', 'https://127.0.0.1/callback', 'https://localhost/callback']) {
        const answer = await register(issuer, { application_type: 'native', redirect_uris: [redirect] });
        assert.equal(answer.status, 400, `${redirect}: ${JSON.stringify(answer.body)}`);
        assert.match(String(answer.body.error), /^invalid_(redirect_uri|client_metadata)$/);
      }
      assert.equal(await issuer.store.countClients(), before);
    });

    test('a native app with a client secret still needs PKCE', async () => {
      const client = await register(issuer, { application_type: 'native', redirect_uris: ['com.example.app:/cb'], token_endpoint_auth_method: 'client_secret_post' });
      assert.equal(client.status, 201, JSON.stringify(client.body));
      const step = await authorize(new UserAgent(issuer.url), new URL(`authorize?${new URLSearchParams({ client_id: client.body.client_id as string, response_type: 'code', redirect_uri: 'com.example.app:/cb', scope: 'openid' })}`, issuer.url).href);
      const params = new URL(step.location!).searchParams;
      assert.equal(params.get('error'), 'invalid_request');
      assert.match(params.get('error_description') ?? '', /requires PKCE/);
    });
  });
}

test('issue 10 finding 5: in production, implicit tokens go only to https redirect URIs, whatever the application type', async () => {
  const issuer = await startIssuer({
    overrides: {
      env: 'production',
      tenant: { flags: { enable_dynamic_client_registration: true } },
      registration: { rate_limit: { per_second: 1000, burst: 1000 } },
      cookies: { keys: ['k'.repeat(32)] },
      users: [{ ...ALICE, password: PRODUCTION_PASSWORD }],
    },
  });
  try {
    const before = await issuer.store.countClients();
    for (const applicationType of ['native', 'web', undefined]) {
      for (const redirect of ['http://127.0.0.1:8080/cb', 'http://localhost/cb', 'http://app.example.com/cb', 'com.example.app:/cb']) {
        const answer = await register(issuer, { application_type: applicationType, redirect_uris: [redirect], grant_types: ['implicit'], response_types: ['id_token token'] });
        assert.equal(answer.status, 400, `${applicationType} ${redirect}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.client_id, undefined);
      }
    }
    assert.equal(await issuer.store.countClients(), before, 'no refused registration is stored');
    const https = await register(issuer, { redirect_uris: ['https://app.example.com/cb'], grant_types: ['implicit'], response_types: ['id_token token'] });
    assert.equal(https.status, 201, JSON.stringify(https.body));
  } finally {
    await issuer.close();
  }
});
