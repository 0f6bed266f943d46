// Bend: the authorization response as Auth0 sends it. oidc-provider 9.13.3 redirects the browser
// back to the client with 303 See Other; Auth0 documents `302 Found` for /authorize. Tokens in a
// URL must not leak through the Referer header or a cache, so the response also says
// Referrer-Policy: no-referrer and Cache-Control: no-store, whatever else is mounted in front.
// Mounted before the provider for /authorize and its resume route /authorize/<uid>; only the
// redirect to the client's redirect_uri is touched (the one to the login page stays a 303).
// The fragment itself is the library's: `scope` is always listed with an access token (RFC 6749
// 4.2.2 allows it when identical to the request and requires it when not; the library narrows
// the request's scope before the response, so "identical" cannot be told reliably here).
// test/implicit_flow.test.ts fails loudly if an upgrade of the library changes what it relies on.
import type { Context, Next } from 'koa';

import type { RouteResolver } from './routes.ts';

type OidcLike = { params?: { redirect_uri?: unknown } };

/** The redirect goes to the client's redirect_uri (success or error), not to our own pages. */
function toRedirectUri(location: string, redirectUri: unknown): boolean {
  const target = typeof redirectUri === 'string' ? URL.parse(redirectUri) : null;
  const actual = URL.parse(location);
  return target !== null && actual !== null && target.origin === actual.origin && target.pathname === actual.pathname;
}

export function createAuthorizationResponse(routes: RouteResolver) {
  return async function authorizationResponse(ctx: Context, next: Next): Promise<void> {
    const route = routes.of(ctx);
    if (route !== 'authorization' && route !== 'resume') return next();
    await next();
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    // After a form POST to /authorize the library's 303 (See Other: GET the target) is the right one.
    if (ctx.status !== 303 || ctx.method !== 'GET') return;
    const params = (ctx as unknown as { oidc?: OidcLike }).oidc?.params ?? ctx.query;
    if (toRedirectUri(ctx.response.get('Location'), params.redirect_uri)) ctx.status = 302;
  };
}
