// Bend: Auth0 treats an /authorize request without `scope` as `scope=openid`; oidc-provider
// grants nothing for it and answers access_denied ("no scope was granted"). Browser apps that
// send only response_type=token (Auth0's minimal implicit example) need the default.
import type { Context, Next } from 'koa';

import { AUTH0_ROUTES } from './routes.ts';

export async function defaultAuthorizeScope(ctx: Context, next: Next): Promise<void> {
  if (ctx.method === 'GET' && ctx.path === AUTH0_ROUTES.authorization && ctx.query.scope === undefined) {
    ctx.query = { ...ctx.query, scope: 'openid' };
  }
  return next();
}
