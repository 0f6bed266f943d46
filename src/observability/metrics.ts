// Prometheus metrics (prom-client), one registry per app so that several apps in one process
// (tests, WEB_CONCURRENCY workers) never share counters by accident.
import type { RequestListener } from 'node:http';

import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export type Metrics = {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  registrations: Counter<'outcome' | 'reason'>;
  authorizations: Counter<'outcome'>;
  logins: Counter<'outcome'>;
  storeErrors: Counter<'operation'>;
  storeDuration: Histogram<'operation'>;
};

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'issuer_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    registrations: new Counter({
      name: 'issuer_registrations_total',
      help: 'Dynamic client registrations: accepted, or refused with a reason',
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    }),
    authorizations: new Counter({
      name: 'issuer_authorizations_total',
      help: 'Authorization requests by outcome (success, or the OAuth error code)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    logins: new Counter({
      name: 'issuer_logins_total',
      help: 'Password checks at the login page (success, wrong_credentials), and attempts refused before any check (rate_limited)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: 'issuer_store_errors_total',
      help: 'Store operations that failed',
      labelNames: ['operation'],
      registers: [registry],
    }),
    storeDuration: new Histogram({
      name: 'issuer_store_operation_duration_seconds',
      help: 'Store operation latency',
      labelNames: ['operation'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2],
      registers: [registry],
    }),
  };
}

/**
 * The request listener of the metrics port (`metrics.port`): GET or HEAD /metrics, 404 for
 * anything else. Kept off the issuer's port in production, so the public cannot read them.
 */
export function createMetricsListener(metrics: Metrics): RequestListener {
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    metrics.registry.metrics().then(
      (body) => {
        response.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : body);
      },
      () => response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n'),
    );
  };
}
