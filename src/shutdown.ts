// Graceful shutdown behind a load balancer. On the first stop signal:
// 1. drain: /readyz answers 503 (src/app.ts asks `draining()`), the server keeps serving for
//    `drainMs` (the time a load balancer needs to notice and stop sending), and every response
//    carries `Connection: close`, so that clients leave their kept-alive connections;
// 2. stop listening and close the idle connections (http.Server#close). Doing that while
//    traffic still flows, as the issuer did before, breaks answers: a client sending its next
//    request on an idle kept-alive connection at that moment gets a socket error (measured:
//    6 to 8 per SIGTERM under a keep-alive stream). After the drain the balancer has stopped
//    sending, and the connections it used during the drain were closed by `Connection: close`;
// 3. wait for the requests in flight, up to `graceMs`; then close whatever is left.
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';

import type { Logger } from 'pino';

export type GracefulShutdownOptions = {
  logger: Logger;
  /** How long to keep serving (with `Connection: close`) after the signal. */
  drainMs: number;
  /** How long requests and connections still open get once the server stopped listening. */
  graceMs: number;
};

export type GracefulShutdown = {
  /** True from the first stop signal on. */
  draining(): boolean;
  /** Wrap the app's request listener: during the drain, every response closes its connection. */
  wrap(listener: RequestListener): RequestListener;
  /** Drain, stop listening, wait for the connections of `servers`; resolves once all are closed. */
  drain(servers: Server[], signal: string): Promise<void>;
};

export function createGracefulShutdown(options: GracefulShutdownOptions): GracefulShutdown {
  const { logger, drainMs, graceMs } = options;
  let draining = false;

  function close(server: Server): Promise<void> {
    return new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  }

  return {
    draining: () => draining,
    wrap(listener) {
      return (request: IncomingMessage, response: ServerResponse) => {
        if (draining) response.setHeader('Connection', 'close');
        listener(request, response);
      };
    },
    async drain(servers, signal) {
      draining = true;
      logger.info({ signal, drain_seconds: drainMs / 1000 }, 'shutting down: /readyz answers 503, still serving during the drain');
      if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
      logger.info('drain over: no new connections, finishing requests in flight');
      const forced = setTimeout(() => {
        logger.warn('connections still open after the grace period; closing them');
        for (const server of servers) server.closeAllConnections();
      }, graceMs);
      forced.unref();
      await Promise.all(servers.map(close));
      clearTimeout(forced);
    },
  };
}
