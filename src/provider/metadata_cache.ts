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
//
// Once prepared and current, the bytes are answered in front of Koa (`listener`), with the same
// headers, request id, log line and histogram as the app gives them: a Koa context and the
// middleware chain were most of what such a request cost (issue 15, item 2). Anything the fast
// path is not sure of (another method, a request target parseurl would not split on its first
// `?`, nothing prepared, a version that moved, a store that does not answer) goes to Koa.
import { createHash } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

import type { Context, Middleware, Next } from 'koa';

import { StoreUnavailableError } from '../../adapters/contract.ts';
import type { TenantSettingsService } from '../tenant/settings.ts';
import type { KeyRing } from './key_ring.ts';
import type { RouteResolver } from './routes.ts';
import type { RequestRecorder } from '../observability/request_log.ts';

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

/**
 * Characters on which parseurl (Koa's ctx.path) stops splitting a request target on its first `?`
 * and parses it as a URL instead: such targets go through Koa, so both paths route alike.
 */
const UNUSUAL_TARGET = /[\t\n\f\r #\u00a0\ufeff]/;

export type MetadataCache = {
  /** In the app: prepares the bytes on a miss (the chain below answers once), answers from them otherwise. */
  middleware: Middleware;
  /** In front of the app: answers a GET or HEAD of a prepared, current document; hands anything else to `next`. */
  listener(next: RequestListener): RequestListener;
};

export function createMetadataCache(deps: {
  routes: RouteResolver;
  tenant: TenantSettingsService;
  keys: Pick<KeyRing, 'document' | 'refreshMs'>;
  /** The request id, log line and histogram of src/observability/request_log.ts. */
  recorder: RequestRecorder;
  /** The headers every response carries (src/security_headers.ts). */
  securityHeaders: ReadonlyArray<readonly [string, string]>;
}): MetadataCache {
  const { routes, tenant, keys, recorder } = deps;
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

  /**
   * The status and the headers of the answer from `entry` (the request id and the security
   * headers come from the layers around it), for both ways of sending it.
   */
  function answerFor(route: Route, entry: Prepared, origin: string | undefined, ifNoneMatch: string | undefined): { status: 200 | 304; headers: string[] } {
    const notModified = ifNoneMatchHits(ifNoneMatch ?? '', entry.etag);
    // What the library's CORS.open gives these routes: any origin, no credentials.
    const headers = ['Vary', 'Origin', 'Access-Control-Allow-Origin', origin || '*', 'ETag', entry.etag, 'Cache-Control', cacheControl[route]];
    if (notModified) return { status: 304, headers };
    headers.push('Content-Type', entry.type, 'Content-Length', String(entry.bytes.length));
    return { status: 200, headers };
  }

  function answer(ctx: Context, route: Route, entry: Prepared): void {
    const { status, headers } = answerFor(route, entry, ctx.get('Origin'), ctx.get('If-None-Match'));
    for (let i = 0; i < headers.length; i += 2) ctx.set(headers[i]!, headers[i + 1]!);
    ctx.state.route = route;
    ctx.status = status;
    ctx.body = status === 304 ? null : entry.bytes;
  }

  const middleware = async function metadataCache(ctx: Context, next: Next): Promise<void> {
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
  const securityHeaders = deps.securityHeaders.flat();

  /** What `answer` and the app around it give, without a Koa context. */
  function answerDirectly(req: IncomingMessage, res: ServerResponse, next: RequestListener, route: Route, entry: Prepared, started: bigint): void {
    const requestId = recorder.idFor(req.headers['x-request-id'] as string | undefined);
    const { status, headers } = answerFor(route, entry, req.headers.origin, req.headers['if-none-match']);
    try {
      res.writeHead(status, ['X-Request-Id', requestId, ...securityHeaders, ...headers]);
    } catch {
      // A header value Node refuses to send: the app answers, as it would have.
      return next(req, res);
    }
    recorder.record({ requestId, method: req.method!, route, status, started });
    res.end(status === 304 || req.method === 'HEAD' ? undefined : entry.bytes);
  }

  function listener(next: RequestListener): RequestListener {
    return (req, res) => {
      const started = process.hrtime.bigint();
      const { method, url = '' } = req;
      if ((method !== 'GET' && method !== 'HEAD') || url.charCodeAt(0) !== 0x2f || UNUSUAL_TARGET.test(url)) return next(req, res);
      const query = url.indexOf('?');
      const route = routes.nameFor('GET', query === -1 ? url : url.slice(0, query));
      if (route !== 'discovery' && route !== 'jwks') return next(req, res);
      const entry = prepared.get(route);
      if (!entry) return next(req, res);
      if (route === 'jwks') {
        if (entry.version !== keys.document()) return next(req, res);
        return answerDirectly(req, res, next, route, entry, started);
      }
      versionOf(route).then(
        (version) => (version !== undefined && version === entry.version ? answerDirectly(req, res, next, route, entry, started) : next(req, res)),
        () => next(req, res),
      );
    };
  }

  return { middleware, listener };
}
