// One structured log line per request, a request id on every response, and the duration
// histogram. Paths and query strings are not logged: the route names the endpoint, and query
// strings can carry tokens (id_token_hint) and codes.
import { randomUUID } from 'node:crypto';

import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

import type { Metrics } from './metrics.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The route an endpoint is known by: the provider's route name or our router's pattern. */
export function routeOf(ctx: Context): string {
  const oidcRoute = (ctx as { oidc?: { route?: string } }).oidc?.route;
  if (oidcRoute) return oidcRoute;
  // A library route answered in front of the library (src/provider/metadata_cache.ts).
  const answeredFor = (ctx.state as { route?: unknown }).route;
  if (typeof answeredFor === 'string') return answeredFor;
  const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
  if (typeof matched === 'string') return matched;
  return ctx.status === 404 ? 'not_found' : 'other';
}

/** The per-request bookkeeping, shared by the app and the metadata fast path (src/provider/metadata_cache.ts). */
export type RequestRecorder = {
  /** The request's id: the caller's X-Request-Id when it is well-formed, a new UUID otherwise. */
  idFor(incoming: string | undefined): string;
  /** The duration histogram and the log line, once the response is decided. */
  record(request: { requestId: string; method: string; route: string; status: number; started: bigint }): void;
};

export function createRequestRecorder(deps: { logger: Logger; metrics: Metrics }): RequestRecorder {
  const { logger, metrics } = deps;
  return {
    idFor: (incoming) => (incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID()),
    record({ requestId, method, route, status, started }) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpDuration.observe({ method, route, status: String(status) }, seconds);
      logger.info({ request_id: requestId, method, route, status, duration_ms: Math.round(seconds * 1e5) / 100 }, 'request');
    },
  };
}

export function createRequestLog(recorder: RequestRecorder) {
  return async function requestLog(ctx: Context, next: Next): Promise<void> {
    const started = process.hrtime.bigint();
    const requestId = recorder.idFor(ctx.get('X-Request-Id'));
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      recorder.record({ requestId, method: ctx.method, route: routeOf(ctx), status: ctx.status, started });
    }
  };
}
