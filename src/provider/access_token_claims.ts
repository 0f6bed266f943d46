// Bend: Auth0's access token claims. The library's JWT access tokens carry `client_id`, a single
// `aud` and only the API's scopes; Auth0's also carry `azp`, `gty` and `sub: <client_id>@clients`
// for machine tokens, and, when `openid` was granted with an API audience, list
// `<issuer>userinfo` in `aud` and the granted OIDC scopes in `scope`
// ("openid profile email read:contacts"), which is what lets /userinfo accept the token
// (src/provider/userinfo_for_api_tokens.ts). The token's own `scope` is changed too, so that the
// authorization or token response says the same as the token. Such tokens also carry
// `grant_ref`, the incarnation of the consent grant that issued them (consent_grant.ts), so that
// /userinfo refuses them once that grant is gone, even after the user consents again.
// test/implicit_flow.test.ts fails loudly if an upgrade of oidc-provider (9.13.3) changes this.
import type { KoaContextWithOIDC } from 'oidc-provider';

import { grantIncarnation } from './consent_grant.ts';

type StructuredJwt = { header?: Record<string, unknown>; payload: Record<string, unknown> };
type TokenLike = { kind: string; clientId?: string; scope?: string };
type GrantLike = { jti?: string; iat?: number; getOIDCScopeFiltered(filter: Set<string>): string };
type ScopeSource = { scope?: string } | undefined;

function words(scope: unknown): string[] {
  return typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
}

/**
 * The OIDC scopes the user granted for the request behind this token: the authorization
 * request's (implicit), else the code's or refresh token's being exchanged at the token endpoint.
 */
function grantedOidcScopes(ctx: KoaContextWithOIDC): { scopes: string[]; grant?: GrantLike } {
  const oidc = ctx?.oidc;
  if (!oidc) return { scopes: [] };
  const entities = oidc.entities as { Grant?: GrantLike; AuthorizationCode?: ScopeSource; RefreshToken?: ScopeSource };
  const source = entities.AuthorizationCode ?? entities.RefreshToken;
  const requested = source ? words(oidc.params?.scope ?? source.scope) : [...oidc.requestParamOIDCScopes];
  const grant = entities.Grant;
  if (!grant) return { scopes: [] };
  return { scopes: words(grant.getOIDCScopeFiltered(new Set(requested))), grant };
}

export function createAccessTokenCustomizer(issuer: string) {
  const userinfoAudience = new URL('userinfo', issuer).href;
  return async function customizeAccessTokenJwt(ctx: KoaContextWithOIDC, token: TokenLike, jwt: StructuredJwt): Promise<void> {
    const { payload } = jwt;
    payload.azp = token.clientId;
    if (token.kind === 'ClientCredentials') {
      payload.sub = `${token.clientId}@clients`;
      payload.gty = 'client-credentials';
      return;
    }
    const { scopes: oidcScopes, grant } = grantedOidcScopes(ctx);
    if (!oidcScopes.includes('openid') || !grant) return;
    if (typeof payload.aud === 'string') payload.aud = [payload.aud, userinfoAudience];
    payload.grant_ref = grantIncarnation(grant);
    const scope = [...new Set([...oidcScopes, ...words(payload.scope)])].join(' ');
    payload.scope = scope;
    token.scope = scope;
  };
}
