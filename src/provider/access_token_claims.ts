// Bend: Auth0's access token claims. The library's JWT access tokens carry `client_id` and a
// single `aud`; Auth0's also carry `azp`, `gty` and `sub: <client_id>@clients` for machine
// tokens, and list `<issuer>userinfo` in `aud` when `openid` was granted with an API audience.
import type { KoaContextWithOIDC } from 'oidc-provider';

type StructuredJwt = { header?: Record<string, unknown>; payload: Record<string, unknown> };
type TokenLike = { kind: string; clientId?: string };

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
    // The API token's own scope holds only the API's scopes; `openid` is in the request (implicit)
    // or in the authorization code being exchanged.
    const code = ctx?.oidc?.entities?.AuthorizationCode as { scope?: string } | undefined;
    const openid = ctx?.oidc?.requestParamOIDCScopes?.has('openid') || (code?.scope ?? '').split(' ').includes('openid');
    if (openid && typeof payload.aud === 'string') payload.aud = [payload.aud, userinfoAudience];
  };
}
