// CORS for browser clients at /oauth/token and /oauth/revoke, as Auth0 decides it: a client's
// requests may come from the origins of its redirect URIs (public clients only: a confidential
// client's redirect URI is a server's) and from the origins it lists in Auth0's `web_origins` and
// `allowed_origins`. The library asks `clientBasedCORS` once it knows the client.
//
// The preflight (OPTIONS) carries no client_id, and oidc-provider 9.13.3 answers it with the
// request's Origin echoed whatever that is: a promise the POST then breaks. Here a preflight is
// allowed only for an origin some client may use: one of a configured client's, or one recorded
// when a client that lists it registered (the model `ClientOrigin` in the store, keyed by origin).
// The POST still decides per client. Responses the library gave before it knew the client (an
// unknown client_id, say) also lose the echoed origin unless it is such an origin.
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { Config } from '../config.ts';
import type { Store } from '../../adapters/contract.ts';
import type { RouteResolver } from './routes.ts';

/** Library routes whose CORS depends on the client (the POST and its preflight). */
const CLIENT_ROUTES = new Set(['token', 'revocation', 'cors.token', 'cors.revocation']);
const PREFLIGHT_ROUTES = new Set(['cors.token', 'cors.revocation']);
export const ORIGIN_MODEL = 'ClientOrigin';

type ClientMetadataLike = {
  redirect_uris?: unknown;
  web_origins?: unknown;
  allowed_origins?: unknown;
  token_endpoint_auth_method?: unknown;
};

function originOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const url = URL.parse(value);
  return url && (url.protocol === 'https:' || url.protocol === 'http:') ? url.origin : undefined;
}

function originsIn(value: unknown): string[] {
  return Array.isArray(value) ? value.map(originOf).filter((o): o is string => o !== undefined) : [];
}

/** Origins that may frame this client's web_message responses: its web_origins and redirect URIs' origins. */
export function webOrigins(metadata: ClientMetadataLike): Set<string> {
  return new Set([...originsIn(metadata.web_origins), ...originsIn(metadata.redirect_uris)]);
}

/** Origins whose browser requests this client may make at /oauth/token and /oauth/revoke. */
export function corsOrigins(metadata: ClientMetadataLike): Set<string> {
  const declared = [...originsIn(metadata.web_origins), ...originsIn(metadata.allowed_origins)];
  const redirects = metadata.token_endpoint_auth_method === 'none' ? originsIn(metadata.redirect_uris) : [];
  return new Set([...declared, ...redirects]);
}

export function clientBasedCORS(ctx: KoaContextWithOIDC, origin: string, client: InstanceType<Provider['Client']>): boolean {
  // /userinfo is called from browser apps with a Bearer token and no cookies.
  if (ctx.oidc.route === 'userinfo') return true;
  return corsOrigins(client.metadata() as ClientMetadataLike).has(origin);
}

export type ClientCors = {
  /** Mounted before the provider: preflights and responses of the client-based CORS routes. */
  middleware(ctx: Context, next: Next): Promise<void>;
};

export function createClientCors(deps: { config: Config; store: Store; routes: RouteResolver }): ClientCors {
  const { config, store, routes } = deps;
  const configured = new Set(config.clients.flatMap((client) => [...corsOrigins({ ...client, token_endpoint_auth_method: client.token_endpoint_auth_method ?? (client.client_secret ? 'client_secret_basic' : 'none') })]));
  const index = store.adapterFor(ORIGIN_MODEL);

  async function mayBeAllowed(origin: string): Promise<boolean> {
    if (configured.has(origin)) return true;
    return (await index.find(origin)) !== undefined;
  }

  /** After a registration the library accepted: remember the new client's origins for preflights. */
  async function recordRegistered(ctx: Context): Promise<void> {
    const body = ctx.body as ClientMetadataLike | undefined;
    if (ctx.status !== 201 || !body || typeof body !== 'object') return;
    try {
      for (const origin of corsOrigins(body)) await index.upsert(origin, { origin });
    } catch {
      // The client is stored: failing its registration now would only invite a duplicate. Without
      // the record, its origin's preflights are refused until it is written by another registration.
    }
  }

  return {
    async middleware(ctx, next) {
      const route = routes.of(ctx);
      if (route === 'registration' && ctx.method === 'POST') {
        await next();
        await recordRegistered(ctx);
        return;
      }
      if (!route || !CLIENT_ROUTES.has(route)) return next();
      const origin = ctx.get('Origin');
      if (PREFLIGHT_ROUTES.has(route) && origin && !(await mayBeAllowed(origin))) {
        ctx.vary('Origin');
        ctx.set('Cache-Control', 'no-store');
        ctx.status = 204;
        return;
      }
      await next();
      if (!origin || !ctx.response.get('Access-Control-Allow-Origin')) return;
      const client = (ctx as unknown as KoaContextWithOIDC).oidc?.client;
      const allowed = client ? corsOrigins(client.metadata() as ClientMetadataLike).has(origin) : await mayBeAllowed(origin);
      if (!allowed) {
        ctx.remove('Access-Control-Allow-Origin');
        ctx.remove('Access-Control-Expose-Headers');
      }
    },
  };
}
