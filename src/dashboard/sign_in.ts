// How the Dashboard signs an admin in: it is a first-party client of this very issuer and runs
// the authorization code flow with PKCE (S256), state and nonce through the issuer's own login
// page. The code comes back to /dashboard/callback in the same process, so instead of a network
// round trip to its own token endpoint (which behind a proxy or in a container may not even be
// reachable from inside), it checks the code with the library's own model: issued to the
// Dashboard, for its redirect URI, not expired, not used before, the PKCE verifier and nonce of
// this sign-in; then consumes it, as the token endpoint would.
import { createHash } from 'node:crypto';

import type Provider from 'oidc-provider';

import { DASHBOARD_CLIENT_ID } from '../config.ts';

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** The /authorize URL that starts a Dashboard sign-in. */
export function authorizeUrl(issuer: string, redirectUri: string, signIn: { state: string; verifier: string; nonce: string }): string {
  const url = new URL('authorize', issuer);
  url.search = new URLSearchParams({
    client_id: DASHBOARD_CLIENT_ID,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid email',
    state: signIn.state,
    nonce: signIn.nonce,
    code_challenge: pkceChallenge(signIn.verifier),
    code_challenge_method: 'S256',
  }).toString();
  return url.href;
}

/** The account id the code was issued for, or why it is refused (never the code itself). */
export async function redeemCode(provider: Provider, code: string, expected: { redirectUri: string; verifier: string; nonce: string }): Promise<{ accountId: string } | { refusal: string }> {
  if (!code || code.length > 1000) return { refusal: 'no authorization code' };
  const found = await provider.AuthorizationCode.find(code, { ignoreExpiration: true });
  if (!found) return { refusal: 'the authorization code is unknown' };
  if (found.clientId !== DASHBOARD_CLIENT_ID) return { refusal: 'the authorization code was issued to another client' };
  if (found.isExpired) return { refusal: 'the authorization code has expired' };
  if ((found as { consumed?: unknown }).consumed) {
    // A code used twice: withdraw what the first use gave, as the token endpoint does.
    if (found.grantId) await provider.Grant.adapter.destroy(found.grantId);
    return { refusal: 'the authorization code was already used' };
  }
  if (found.redirectUri !== expected.redirectUri) return { refusal: 'the authorization code was issued for another redirect URI' };
  if (found.codeChallengeMethod !== 'S256' || found.codeChallenge !== pkceChallenge(expected.verifier)) return { refusal: 'the PKCE verifier does not match' };
  if (found.nonce !== expected.nonce) return { refusal: 'the nonce does not match' };
  if (!found.accountId) return { refusal: 'the authorization code names no user' };
  await found.consume();
  return { accountId: found.accountId };
}
