// Bend: Auth0's client_credentials grant at /oauth/token, over oidc-provider 9.13.3.
//
// The library differs from Auth0 in three ways, each checked by test/management_token.test.ts:
// 1. It keeps only the grant's own parameters (`scope`, `resource`) at the token endpoint, so
//    Auth0's `audience` never reaches `defaultResource`; the parsed body still holds it.
// 2. It silently narrows the requested scopes to the API's, and issues a token without scope
//    when none is asked. Auth0 refuses scopes the client was not granted (403 access_denied,
//    "Client has not been granted scopes: ...") and grants every granted scope when none is asked.
// 3. Without an audience it issues an opaque token for no API. Auth0 refuses (403).
import { errors } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** A client_credentials request at the token endpoint. */
export function isClientCredentials(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc?.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
}

/** Auth0's refusals at the token endpoint are 403 access_denied; the library's are 400. */
export function accessDenied(description: string): Error {
  const error = new errors.AccessDenied(description);
  error.status = 403;
  error.statusCode = 403;
  return error;
}

/** The `audience` of a client_credentials request (from the body: the library drops it from params). */
export function clientCredentialsAudience(ctx: KoaContextWithOIDC): string {
  const audience = ctx.oidc.body?.audience;
  if (typeof audience === 'string' && audience) return audience;
  if (audience !== undefined && typeof audience !== 'string') throw new errors.InvalidRequest('audience must be a single string');
  throw accessDenied('No audience parameter was provided, and no default audience has been configured');
}

/**
 * The scopes a client_credentials token for `audience` carries: every granted scope when none
 * is asked, else the ones asked, all of which must be granted. Refuses like Auth0 otherwise.
 */
export function grantedScopesFor(ctx: KoaContextWithOIDC, audience: string, known: boolean, granted: readonly string[] | undefined): string[] {
  if (!known) throw accessDenied(`Service not enabled within domain: ${audience}`);
  if (!granted) throw accessDenied(`Client is not authorized to access "${audience}". You need to create a client grant associated to this API.`);
  const params = ctx.oidc.params as { scope?: unknown };
  const asked = typeof params.scope === 'string' ? params.scope.split(' ').filter(Boolean) : [];
  const missing = asked.filter((scope) => !granted.includes(scope));
  if (missing.length) throw accessDenied(`Client has not been granted scopes: ${missing.join(', ')}`);
  // The library narrows the asked scopes to the API's: ask for all of them when none were.
  if (!asked.length && granted.length) params.scope = granted.join(' ');
  return [...granted];
}
