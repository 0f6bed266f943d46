// Discovery (both metadata documents) and the JWKS, served from bytes prepared once per version.
//
// Why: these are the hottest and most static answers an issuer gives: every relying party and
// API fetches them, and their content changes only when a tenant flag (registration_endpoint,
// client_id_metadata_document_supported) or the key set changes. Running the whole chain of bends
// and the library for each request rebuilt and re-serialised the same JSON every time.
//
// How: the first request for a route name ('discovery', 'jwks') after a change runs the chain as
// before (the library answers, the discovery filters drop what the flags turn off); its body is
// serialised once and kept with a strong ETag, keyed by the version it was made for: the flags for
// discovery, the key ring's current document (a new object on every adopted change) for the JWKS.
// It is kept only if the version did not move while the library answered. Later requests of any
// spelling the library routes (case, trailing slash, query string), GET or HEAD, get those bytes,
// or 304 on a matching If-None-Match. The flags come through the tenant settings' own cache
// (≤ 500 ms), the keys from the key ring's refresh: every instance follows both as before.
// URLs in the bytes come from the configured issuer (src/http/issuer_origin.ts pins it before the
// first request is answered). CORS stays the library's: any origin (echoed, or `*`), no
// credentials, `Vary: Origin`; preflights (OPTIONS) and every other method go to the library.
//
// Cache-Control: `public, max-age=15` as Auth0 serves its metadata; the JWKS's max-age is kept
// below keys.refresh_ms, so that a cache never holds a key set longer than an instance would.
import { createHash } from 'node:crypto';

import type { Context, Next } from 'koa';

import { StoreUnavailableError } from '../../adapters/contract.ts';
import type { TenantSettingsService } from '../tenant/settings.ts';
import type { KeyRing } from './key_ring.ts';
import type { RouteResolver } from './routes.ts';

/** Auth0's max-age for its metadata and JWKS, in seconds. */
export const METADATA_MAX_AGE_S = 15;

type Route = 'discovery' | 'jwks';
type Prepared = { version: unknown; bytes: Buffer; etag: string; type: string };

/** The JWKS's max-age: at most Auth0's, and always shorter than the key ring's refresh. */
export function jwksMaxAge(refreshMs: number): number {
  return Math.max(0, Math.min(METADATA_MAX_AGE_S, Math.floor((refreshMs - 1) / 1000)));
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/"x" matches "x"; `*` matches any. */
export function ifNoneMatchHits(header: string, etag: string): boolean {
  if (!header) return false;
  for (const part of header.split(',')) {
    const tag = part.trim();
    if (tag === '*' || (tag.startsWith('W/') ? tag.slice(2) : tag) === etag) return true;
  }
  return false;
}

function prepare(version: unknown, body: unknown, type: string): Prepared {
  const bytes = Buffer.from(JSON.stringify(body));
  const etag = `"${createHash('sha256').update(bytes).digest('base64url')}"`;
  return { version, bytes, etag, type };
}

export function createMetadataCache(deps: { routes: RouteResolver; tenant: TenantSettingsService; keys: Pick<KeyRing, 'document' | 'refreshMs'> }) {
  const { routes, tenant, keys } = deps;
  const cacheControl: Record<Route, string> = {
    discovery: `public, max-age=${METADATA_MAX_AGE_S}`,
    jwks: `public, max-age=${jwksMaxAge(keys.refreshMs)}`,
  };
  const prepared = new Map<Route, Prepared>();

  /** What the route's bytes depend on now; undefined when the store cannot say (the library answers). */
  async function versionOf(route: Route): Promise<unknown> {
    if (route === 'jwks') return keys.document();
    try {
      const { flags } = await tenant.get();
      return `${flags.enable_dynamic_client_registration}/${flags.enable_client_id_metadata_document}`;
    } catch (error) {
      if (error instanceof StoreUnavailableError) return undefined;
      throw error;
    }
  }

  function answer(ctx: Context, route: Route, entry: Prepared): void {
    // What the library's CORS.open gives these routes: any origin, no credentials.
    ctx.vary('Origin');
    ctx.set('Access-Control-Allow-Origin', ctx.get('Origin') || '*');
    ctx.set('ETag', entry.etag);
    ctx.set('Cache-Control', cacheControl[route]);
    ctx.state.route = route;
    if (ifNoneMatchHits(ctx.get('If-None-Match'), entry.etag)) {
      ctx.status = 304;
      ctx.body = null;
      return;
    }
    ctx.status = 200;
    ctx.type = entry.type;
    ctx.body = entry.bytes;
  }

  return async function metadataCache(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const route = routes.nameFor('GET', ctx.path);
    if (route !== 'discovery' && route !== 'jwks') return next();
    const version = route === 'jwks' ? keys.document() : await versionOf(route);
    if (version === undefined) return next();
    let entry = prepared.get(route);
    if (entry?.version !== version) {
      await next();
      const body = ctx.body;
      if (ctx.status !== 200 || !body || typeof body !== 'object' || Buffer.isBuffer(body)) return;
      entry = prepare(version, body, ctx.response.get('Content-Type') || 'application/json; charset=utf-8');
      if ((await versionOf(route)) === version) prepared.set(route, entry);
    }
    answer(ctx, route, entry);
  };
}
