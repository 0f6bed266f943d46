// The example API: GET /api/contacts for a Bearer access token the issuer signed for this API
// (`aud`), checked with jose against the issuer's JWKS (fetched over HTTP and cached, as any
// resource server would), and needing the scope read:contacts. CORS for the single-page app.
import Koa from 'koa';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';

export type ContactsApiSettings = {
  /** The issuer's URL, with its trailing slash: tokens must carry it as `iss`. */
  issuer: string;
  /** This API's identifier: tokens must list it in `aud`. */
  audience: string;
  /** Origins allowed to call from a browser (the single-page app's). */
  allowedOrigins: string[];
};

export const READ_SCOPE = 'read:contacts';

const CONTACTS = [
  { name: 'Ada Lovelace', email: 'ada@example.com' },
  { name: 'Grace Hopper', email: 'grace@example.com' },
  { name: 'Katherine Johnson', email: 'katherine@example.com' },
];

export function createContactsApi(settings: ContactsApiSettings): Koa {
  const { issuer, audience } = settings;
  const allowed = new Set(settings.allowedOrigins);
  const keys = createRemoteJWKSet(new URL('.well-known/jwks.json', issuer));
  const app = new Koa();
  app.silent = true;

  function refuse(ctx: Koa.Context, status: 401 | 403, error: string, description: string): void {
    const scope = status === 403 ? `, scope="${READ_SCOPE}"` : '';
    ctx.set('WWW-Authenticate', `Bearer realm="contacts", error="${error}", error_description="${description}"${scope}`);
    ctx.status = status;
    ctx.body = { error, error_description: description };
  }

  app.use(async (ctx, next) => {
    const origin = ctx.get('Origin');
    ctx.vary('Origin');
    if (origin && allowed.has(origin)) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate');
      if (ctx.method === 'OPTIONS') {
        ctx.set('Access-Control-Allow-Methods', 'GET');
        ctx.set('Access-Control-Allow-Headers', 'Authorization');
        ctx.set('Access-Control-Max-Age', '600');
        ctx.status = 204;
        return;
      }
    }
    ctx.set('Cache-Control', 'no-store');
    await next();
  });

  app.use(async (ctx) => {
    if (ctx.path !== '/api/contacts') {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'try GET /api/contacts' };
      return;
    }
    if (ctx.method !== 'GET') {
      ctx.set('Allow', 'GET');
      ctx.status = 405;
      ctx.body = { error: 'method_not_allowed', error_description: 'GET only' };
      return;
    }
    const match = /^Bearer +(\S+)$/i.exec(ctx.get('Authorization'));
    if (!match) return refuse(ctx, 401, 'invalid_request', 'a Bearer access token is required');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(match[1]!, keys, { issuer, audience, typ: 'at+jwt', algorithms: ['RS256'] }));
    } catch {
      return refuse(ctx, 401, 'invalid_token', 'the access token is not valid for this API');
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes(READ_SCOPE)) return refuse(ctx, 403, 'insufficient_scope', `the access token lacks the scope ${READ_SCOPE}`);
    ctx.body = { user: payload.sub, contacts: CONTACTS };
  });
  return app;
}
