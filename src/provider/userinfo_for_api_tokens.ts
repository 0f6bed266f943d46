// Bend: /userinfo accepts the API access tokens (JWTs) whose `aud` lists `<issuer>userinfo`, as
// Auth0's /userinfo does. oidc-provider 9.13.3 issues JWT access tokens for an API but does not
// store them, and its /userinfo only finds its own opaque tokens (a JWT there is "invalid token
// provided"). So this middleware, mounted before the provider, answers /userinfo itself when the
// Bearer token is a JWT: verified with jose against the keys the issuer publishes now (no HTTP call to
// our JWKS), then the account's claims for the OIDC scopes in the token's `scope`
// (src/provider/access_token_claims.ts puts them there, as Auth0 does) that the user's grant
// still allows. The library's own tokens die with their grant (logout revokes it); a JWT cannot
// be deleted, so it names the grant incarnation that issued it (`grant_ref`) and counts only
// while that incarnation lives: not after a logout, even once the user consents again (issue 10,
// finding 2). Opaque tokens, and every other request, go on to the library. Failures take the
// library's shape: 401 invalid_token (or 403 insufficient_scope) with the same WWW-Authenticate
// header and JSON body; CORS for any origin like the library's /userinfo.
// test/implicit_flow.test.ts and test/userinfo_revoked_tokens.test.ts fail loudly if an upgrade
// breaks it.
import { jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';

import type { Accounts } from './accounts.ts';
import { accountClaims, OIDC_CLAIMS } from './accounts.ts';
import { findConsentGrant, grantIncarnation } from './consent_grant.ts';
import type { RouteResolver } from './routes.ts';

export type UserinfoForApiTokensDeps = {
  issuer: string;
  /** The issuer's published keys as they are now (src/provider/key_ring.ts): a revoked key's tokens fail. */
  verificationKeys: JWTVerifyGetKey;
  accounts: Accounts;
  provider: Provider;
  routes: RouteResolver;
};

const BEARER_JWT = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+) *$/i;

type Refusal = { status: 401 | 403; error: 'invalid_token' | 'insufficient_scope'; description: string; scope?: string };

// The library says no more than this about a bad token, whatever the reason.
const INVALID: Refusal = { status: 401, error: 'invalid_token', description: 'invalid token provided' };

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function createUserinfoForApiTokens(deps: UserinfoForApiTokensDeps) {
  const { issuer, accounts, provider } = deps;
  const audience = new URL('userinfo', issuer).href;
  const keySet = deps.verificationKeys;

  function refuse(ctx: Context, refusal: Refusal): void {
    const fields = [`realm=${quote(issuer)}`, `error=${quote(refusal.error)}`, `error_description=${quote(refusal.description)}`];
    if (refusal.scope) fields.push(`scope=${quote(refusal.scope)}`);
    ctx.set('WWW-Authenticate', `Bearer ${fields.join(', ')}`);
    ctx.status = refusal.status;
    ctx.body = { error: refusal.error, error_description: refusal.description };
  }

  async function claimsFor(payload: JWTPayload): Promise<{ claims: Record<string, unknown> } | { refusal: Refusal }> {
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes('openid')) return { refusal: { status: 403, error: 'insufficient_scope', description: 'access token missing openid scope', scope: 'openid' } };
    const account = typeof payload.sub === 'string' ? accounts.find(payload.sub) : undefined;
    const clientId = payload.azp ?? payload.client_id;
    if (!account || typeof clientId !== 'string') return { refusal: INVALID };
    // Like the library for its own tokens: the client, and the user's grant to it, still exist.
    const [client, grant] = await Promise.all([provider.Client.find(clientId), findConsentGrant(provider, account.sub, clientId)]);
    if (!client || !grant || grant.isExpired || payload.grant_ref !== grantIncarnation(grant)) return { refusal: INVALID };
    // What the token was issued for, and what the user still grants.
    const granted = new Set(grant.getOIDCScope().split(' '));
    const all = accountClaims(account);
    const claims: Record<string, unknown> = { sub: account.sub };
    for (const scope of scopes) {
      if (!granted.has(scope)) continue;
      if (!Object.hasOwn(OIDC_CLAIMS, scope)) continue;
      for (const claim of OIDC_CLAIMS[scope as keyof typeof OIDC_CLAIMS]) {
        if (all[claim] !== undefined) claims[claim] = all[claim];
      }
    }
    return { claims };
  }

  return async function userinfoForApiTokens(ctx: Context, next: Next): Promise<void> {
    if (deps.routes.of(ctx) !== 'userinfo') return next();
    const match = BEARER_JWT.exec(ctx.get('Authorization'));
    if (!match) return next();

    ctx.set('Cache-Control', 'no-store');
    ctx.vary('Origin');
    ctx.set('Access-Control-Allow-Origin', ctx.get('Origin') || '*');
    ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(match[1]!, keySet, { issuer, audience, typ: 'at+jwt', algorithms: ['RS256'], requiredClaims: ['sub', 'exp'] }));
    } catch {
      return refuse(ctx, INVALID);
    }
    const result = await claimsFor(payload);
    if ('refusal' in result) return refuse(ctx, result.refusal);
    ctx.body = result.claims;
  };
}
