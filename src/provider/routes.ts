// Auth0's endpoint paths, and which of the library's routes a request will reach.
//
// Bend: oidc-provider 9.13.3 routes with a router of its own that folds case and accepts one
// trailing slash (`/OIDC/REGISTER` and `/oidc/register/` both reach registration). A bend that
// compares `ctx.path` with one string can be walked around, so every bend in src/ decides by the
// route name the library's own router gives for the request (`libraryRoute`), read from its
// private state. The version is pinned in package.json and test/route_spellings.test.ts fails
// loudly if an upgrade moves the router.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

/** Auth0's endpoint paths, relative to the issuer. */
export const AUTH0_ROUTES = {
  authorization: '/authorize',
  token: '/oauth/token',
  userinfo: '/userinfo',
  jwks: '/.well-known/jwks.json',
  revocation: '/oauth/revoke',
  end_session: '/v2/logout',
  registration: '/oidc/register',
  pushed_authorization_request: '/oauth/par',
} as const;

export const INTERACTION_PATH = '/u/';

/** The oidc-provider version whose router this was written and tested against. */
export const LIBRARY_ROUTER_VERSION = '9.13.3';

export type RouteResolver = {
  /** The name of the library route `method path` dispatches to (e.g. 'registration'), if any. */
  nameFor(method: string, path: string): string | undefined;
  /** The library route this request will run: the same, for `ctx.method` and `ctx.path`. */
  of(ctx: Pick<Context, 'method' | 'path'>): string | undefined;
};

export function createRouteResolver(provider: Provider): RouteResolver {
  const router = instance(provider)?.router;
  if (typeof router?.match !== 'function') {
    throw new Error(`oidc-provider's router is no longer where the route bends look for it (written for ${LIBRARY_ROUTER_VERSION})`);
  }
  function nameFor(method: string, path: string): string | undefined {
    return router.match(method, path)?.route.name;
  }
  return { nameFor, of: (ctx) => nameFor(ctx.method, ctx.path) };
}
