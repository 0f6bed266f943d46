// Bend: Auth0 treats an /authorize request without `scope` as `scope=openid`; oidc-provider
// grants nothing for it and answers access_denied ("no scope was granted"). Browser apps that
// send only response_type=token (Auth0's minimal implicit example) need the default.
import type { Context, Next } from 'koa';

import type { RouteResolver } from './routes.ts';

export function createDefaultAuthorizeScope(routes: RouteResolver) {
  return function defaultAuthorizeScope(ctx: Context, next: Next): Promise<void> {
    if (ctx.query.scope === undefined && routes.of(ctx) === 'authorization') {
      ctx.query = { ...ctx.query, scope: 'openid' };
    }
    return next();
  };
}
