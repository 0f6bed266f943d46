// While the store cannot answer (Redis down, failing over), requests fail fast with 503 and
// OAuth's `temporarily_unavailable`, the same way wherever the failure surfaced:
// - in the project's own routes (registration gate, tenant settings, interactions), the
//   StoreUnavailableError is caught here;
// - inside oidc-provider, the library's error handler has already rendered it (the error is
//   shaped like the library's own: see adapters/contract.ts), and this adds what it cannot.
// Placed right inside the outer error handler, so nothing below it turns the outage into a 500.
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

import { StoreUnavailableError } from '../adapters/contract.ts';
import { errorPage } from './interactions/views.ts';

/** Seconds a client should wait before retrying: about how long a reconnect takes. */
const RETRY_AFTER_SECONDS = 1;

function unavailable(ctx: Context, error: StoreUnavailableError): void {
  ctx.status = 503;
  if (ctx.accepts('json', 'html') === 'html') {
    ctx.type = 'html';
    ctx.body = errorPage({ error: error.error, description: error.error_description });
  } else {
    ctx.body = { error: error.error, error_description: error.error_description };
  }
}

export function createStoreUnavailableHandler(logger: Logger) {
  // One warning per outage second is enough: every request fails the same way meanwhile.
  let lastLogged = 0;
  function log(ctx: Context, reason: string): void {
    const now = Date.now();
    if (now - lastLogged < 1000) return;
    lastLogged = now;
    logger.warn({ event: 'store_unavailable', path: ctx.path, reason, request_id: ctx.state.requestId }, 'the store is unavailable; answering 503');
  }

  return async function storeUnavailable(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      log(ctx, error.reason);
      unavailable(ctx, error);
    }
    // Rendered by oidc-provider (JSON or its error page) from a StoreUnavailableError.
    const body = ctx.body as { error?: unknown } | undefined;
    if (ctx.status === 503) {
      if (body && typeof body === 'object' && body.error === 'temporarily_unavailable') log(ctx, 'inside oidc-provider');
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.set('Cache-Control', 'no-store');
    }
  };
}
