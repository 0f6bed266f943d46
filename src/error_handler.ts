// Errors of our own routes in our shape: the page for browsers, JSON otherwise. 5xx details
// never reach the caller; they are logged with the request id.
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

import { errorPage } from './interactions/views.ts';

export function createErrorHandler(logger: Logger) {
  return async function errorHandler(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      const err = error as { status?: number; expose?: boolean; message?: string };
      const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500;
      if (status >= 500) logger.error({ err: error, request_id: ctx.state.requestId }, 'request failed');
      const code = status < 500 ? 'invalid_request' : 'server_error';
      const description = status < 500 && err.expose ? err.message : 'The server could not complete the request.';
      ctx.status = status;
      if (ctx.accepts('json', 'html') === 'html') {
        ctx.type = 'html';
        ctx.body = errorPage({ error: code, description });
      } else {
        ctx.body = { error: code, error_description: description };
      }
    }
  };
}
