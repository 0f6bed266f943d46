// One load run with autocannon used as a library: keep-alive connections to 127.0.0.1, bounded
// by a duration or a request count, every response checked. Latency is recorded here for every
// response (autocannon's own histogram keeps whole milliseconds of 2xx answers only, and the
// silent authorize answers with redirects).
//
// A scenario may be a sequence whose later requests use what an earlier response returned (the
// code exchange: the code in the redirect of the /authorize before it). autocannon keeps one
// context per connection for that, and starts the sequence over (with a fresh context) after its
// last request, or when a request cannot be built because the response before it failed.
import type { IncomingHttpHeaders } from 'node:http';

import autocannon from 'autocannon';

export type Headers = Record<string, string>;

/** Per connection: what earlier responses of a sequence left for the requests after them. */
export type Context = Record<string, string>;

export type RequestSpec = {
  method: 'GET' | 'POST';
  path: string;
  headers?: Headers;
  body?: string;
  /** The parts of the request that come from the context; undefined when it lacks what they need. */
  build?(context: Context): { path?: string; body?: string } | undefined;
  /** True when the response is what the scenario must get; anything else counts as an error. */
  check(status: number, headers: Headers, body: string): boolean;
  /** After a response that passed its check: keep in the context what later requests need. */
  remember?(headers: Headers, body: string, context: Context): void;
};

export type LoadOptions = { connections: number; seconds?: number; amount?: number };

export type LoadResult = {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** Responses that failed their check, connection errors and timeouts. */
  errors: number;
  /** One failed response, to say what went wrong. */
  sample?: string;
  statuses: Record<string, number>;
};

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function lowerCase(headers: IncomingHttpHeaders | undefined): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

export async function runLoad(url: string, requests: RequestSpec[], options: LoadOptions): Promise<LoadResult> {
  let failures = 0;
  let sample: string | undefined;
  const latencies: number[] = [];
  const started = performance.now();
  const instance = autocannon(
    {
      url,
      connections: options.connections,
      ...(options.amount ? { amount: options.amount } : { duration: options.seconds ?? 5 }),
      timeout: 10,
      requests: requests.map((spec) => ({
        method: spec.method,
        path: spec.path,
        headers: spec.headers,
        body: spec.body,
        ...(spec.build
          ? {
              // A falsy result makes autocannon start the sequence over instead of sending this one.
              setupRequest: ((request: autocannon.Request, context: Context) => {
                const built = spec.build!(context);
                return built && { ...request, ...built };
              }) as (request: autocannon.Request, context: object) => autocannon.Request,
            }
          : {}),
        onResponse(status: number, body: string, context: object, headers: IncomingHttpHeaders | undefined) {
          const lower = lowerCase(headers);
          if (!spec.check(status, lower, body)) {
            failures++;
            sample ??= `${spec.method} ${spec.path} -> ${status} ${lower.location ?? ''} ${body.slice(0, 300)}`;
          } else {
            spec.remember?.(lower, body, context as Context);
          }
        },
      })),
    },
    () => {},
  );
  instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  const result = await new Promise<autocannon.Result>((resolve) => instance.on('done', resolve));
  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count ?? 0;
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: failures + result.errors,
    sample: sample ?? (result.errors ? `${result.errors} connection errors (${result.timeouts} timeouts)` : undefined),
    statuses,
  };
}
