// Logout the Auth0 way, over the library's RP-initiated logout (/v2/logout, also at /oidc/logout
// as on Auth0). oidc-provider 9.13.3 asks "Do you want to log out?" when a session exists, knows
// no `returnTo`, and follows any registered post_logout_redirect_uri of the client named in the
// request, session or not: any registered client made it an open redirector.
//
// - `returnTo` is Auth0's name for `post_logout_redirect_uri`; the client's allowed logout URLs
//   are its post_logout_redirect_uris (a configured client's `allowed_logout_urls` among them).
// - No question: the library's confirmation form is submitted at once (its own form_post page,
//   the one it shows when there is no session), so the session ends and the browser goes on.
// - A third-party (registered) client's logout URL is followed silently only when the request
//   proves the client: an id_token_hint (the library validates it; with a session, its `sub` must
//   be the session's account), or a session in which that client was authorized. Otherwise the
//   destination is taken out of the request before the library sees it: the session still ends,
//   and the library's success page says so and offers a link naming the destination's host. The
//   destination travels there in a signed, short-lived cookie, written only for a URL that is an
//   allowed logout URL of that client.
// test/logout.test.ts covers each case and fails loudly if an upgrade changes the library's flow.
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import formPost from 'oidc-provider/lib/response_modes/form_post.js';

import { loggedOutPage } from '../interactions/views.ts';
import { AUTH0_ROUTES } from './routes.ts';
import type { RouteResolver } from './routes.ts';

export const OIDC_LOGOUT_PATH = '/oidc/logout';
const RETURN_COOKIE = 'logout_return';
const RETURN_COOKIE_MS = 10 * 60_000;

/** The (not yet verified) claims of an id_token_hint; the library verifies it after this bend. */
function hintClaims(idToken: string): { sub?: string; aud?: string } {
  try {
    const payload = JSON.parse(Buffer.from(idToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown; aud?: unknown };
    const aud = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
    return { sub: typeof payload.sub === 'string' ? payload.sub : undefined, aud: typeof aud === 'string' ? aud : undefined };
  } catch {
    return {};
  }
}

/** The client the request names: client_id, else the id_token_hint's audience. */
function clientIdOf(params: URLSearchParams): string | undefined {
  const hint = params.get('id_token_hint');
  return params.get('client_id') ?? (hint === null ? undefined : hintClaims(hint).aud);
}

/** Auth0's /oidc/logout, in the library router's spellings (any case, one trailing slash). */
function isOidcLogoutAlias(path: string): boolean {
  return path.toLowerCase().replace(/\/$/, '') === OIDC_LOGOUT_PATH;
}

export function createAuth0Logout(deps: { provider: Provider; routes: RouteResolver; firstParty: ReadonlySet<string> }) {
  const { provider, routes, firstParty } = deps;

  async function proves(ctx: Context, params: URLSearchParams): Promise<boolean> {
    const clientId = params.get('client_id');
    if (clientId !== null && firstParty.has(clientId) && !params.has('id_token_hint')) return true;
    const session = await provider.Session.get(ctx);
    const hint = params.get('id_token_hint');
    if (hint !== null) return !session.accountId || hintClaims(hint).sub === session.accountId;
    return clientId !== null && session.accountId !== undefined && session.authorizations?.[clientId] !== undefined;
  }

  /** The destination, if it is an allowed logout URL of the named client; else undefined. */
  async function allowedDestination(params: URLSearchParams, destination: string): Promise<string | undefined> {
    const clientId = clientIdOf(params);
    if (clientId === undefined) return undefined;
    const client = await provider.Client.find(clientId).catch(() => undefined);
    return client?.postLogoutRedirectUriAllowed(destination) ? destination : undefined;
  }

  return async function auth0Logout(ctx: Context, next: Next): Promise<void> {
    if (isOidcLogoutAlias(ctx.path)) ctx.path = AUTH0_ROUTES.end_session;
    if (routes.of(ctx) !== 'end_session') return next();
    // The library serves end_session on GET only (enableHttpPostMethods is off).
    const params = new URLSearchParams(ctx.querystring);
    // Auth0's name for it; an explicit post_logout_redirect_uri wins.
    const returnTo = params.get('returnTo');
    params.delete('returnTo');
    if (returnTo !== null && !params.has('post_logout_redirect_uri')) params.set('post_logout_redirect_uri', returnTo);

    const destination = params.get('post_logout_redirect_uri');
    ctx.cookies.set(RETURN_COOKIE, null, { signed: true, path: '/' });
    if (destination !== null && params.getAll('post_logout_redirect_uri').length === 1 && !(await proves(ctx, params))) {
      params.delete('post_logout_redirect_uri');
      const allowed = await allowedDestination(params, destination);
      if (allowed) ctx.cookies.set(RETURN_COOKIE, allowed, { signed: true, httpOnly: true, sameSite: 'lax', path: '/', maxAge: RETURN_COOKIE_MS, overwrite: true });
    }
    ctx.querystring = params.toString();
    return next();
  };
}

/** The library's logout page: its confirmation form, submitted at once (no question asked). */
export async function logoutSource(ctx: KoaContextWithOIDC): Promise<void> {
  const secret = (ctx.oidc.session?.state as { secret?: string } | undefined)?.secret ?? '';
  formPost(ctx, ctx.oidc.urlFor('end_session_confirm'), { xsrf: secret, logout: 'yes' });
}

/** The library's page after logout: signed out, and a link to a destination it did not follow. */
export async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  const destination = ctx.cookies.get(RETURN_COOKIE, { signed: true });
  ctx.cookies.set(RETURN_COOKIE, null, { signed: true, path: '/' });
  ctx.type = 'html';
  const url = destination ? URL.parse(destination) : null;
  ctx.body = loggedOutPage(ctx.oidc.client?.clientName, url && /^https?:$/.test(url.protocol) ? url : undefined);
}
