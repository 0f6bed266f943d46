// Bend: silent sign-in the way Auth0's SPA SDK does it, `response_mode=web_message` with
// `prompt=none` in a hidden iframe. oidc-provider 9.13.3 ships the response mode as an
// experimental feature (features.webMessageResponseMode) that starts only with an `ack` of the
// draft it implements, and refuses to start when a new version implements another draft. The ack
// and the library version are pinned here; test/web_message_bend.test.ts fails loudly on upgrade.
//
// The page the library renders posts the authorization response to the redirect_uri's origin from
// an inline script, and strips `frame-ancestors` and X-Frame-Options from the response so that it
// can be framed: by anyone. Here that one response gets `frame-ancestors` back, naming only the
// client's web origins (Auth0's `web_origins` and its redirect URIs' origins); every other page
// keeps `frame-ancestors 'none'` (src/security_headers.ts).
import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

import { webOrigins } from './client_cors.ts';
import type { RouteResolver } from './routes.ts';

/** The oidc-provider version this bend was written and tested against. */
export const WEB_MESSAGE_BEND_VERSION = '9.13.3';
/** The draft of OAuth 2.0 Web Message Response Mode that version implements. */
export const WEB_MESSAGE_ACK = 'individual-draft-01';

export const webMessageResponseMode = { enabled: true, ack: WEB_MESSAGE_ACK } as const;

const AUTHORIZATION_ROUTES = new Set(['authorization', 'resume']);

/** The response's CSP with `frame-ancestors` set to `sources` (or 'none'). */
function withFrameAncestors(csp: string, sources: string[]): string {
  const directives = csp.split(';').map((d) => d.trim()).filter((d) => d && !d.startsWith('frame-ancestors'));
  directives.push(`frame-ancestors ${sources.length ? sources.join(' ') : "'none'"}`);
  return directives.join('; ');
}

export function createWebMessageFraming(routes: RouteResolver) {
  return async function webMessageFraming(ctx: Context, next: Next): Promise<void> {
    const route = routes.of(ctx);
    if (!route || !AUTHORIZATION_ROUTES.has(route)) return next();
    await next();
    const csp = ctx.response.get('Content-Security-Policy');
    // The library strips frame-ancestors only from the web_message page; nothing else lacks it.
    if (!csp || csp.includes('frame-ancestors')) return;
    const client = (ctx as unknown as KoaContextWithOIDC).oidc?.client;
    const origins = client ? [...webOrigins(client.metadata())] : [];
    ctx.set('Content-Security-Policy', withFrameAncestors(csp, origins));
    if (!origins.length) ctx.set('X-Frame-Options', 'DENY');
  };
}
