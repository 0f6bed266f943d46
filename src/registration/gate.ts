// The gate in front of POST /oidc/register: CORS for browser apps, the tenant flag, the rate
// limit, the client cap, the body's size, type and RFC 7591 checks. Only what passes reaches
// oidc-provider, which stores the client.
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

import type { Config } from '../config.ts';
import { StoreUnavailableError } from '../../adapters/contract.ts';
import type { Store } from '../../adapters/contract.ts';
import type { TenantSettingsService } from '../tenant/settings.ts';
import type { Metrics } from '../observability/metrics.ts';
import { AUTH0_ROUTES } from '../provider/routes.ts';
import type { RouteResolver } from '../provider/routes.ts';
import { lockRegistrationRoute, newClientId, passGate } from './library_route_lock.ts';
import { createClientCap } from './client_cap.ts';
import { checkRegistrationMetadata, registrationCheckOptions } from './metadata.ts';
import { createRateLimiter, rateLimitKey } from './rate_limit.ts';
import { readJsonBody, replayBody } from '../http/request_body.ts';

export type RegistrationGateDeps = {
  config: Config;
  store: Store;
  tenant: TenantSettingsService;
  logger: Logger;
  metrics: Pick<Metrics, 'registrations'>;
  provider: Provider;
  routes: RouteResolver;
};

const PATH = AUTH0_ROUTES.registration;

/**
 * For answers given before the body is read: the rest of the body is still on the connection,
 * and a keep-alive client would send its next request behind it (or Node would read and drop
 * every byte of a body it refused for its size). Close the connection instead.
 */
function closeAfterAnswer(ctx: Context): void {
  ctx.set('Connection', 'close');
}

function answer(ctx: Context, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

/** Browser apps register from any origin; no credentials are involved. */
function allowCors(ctx: Context): void {
  if (!ctx.get('Origin')) return;
  ctx.set('Access-Control-Allow-Origin', '*');
  ctx.set('Access-Control-Expose-Headers', 'Retry-After');
}

export function createRegistrationGate(deps: RegistrationGateDeps) {
  const { config, store, tenant, logger, metrics, routes } = deps;
  lockRegistrationRoute(deps.provider);
  function refuse(ctx: Context, status: number, error: string, description: string, reason: string = error): void {
    metrics.registrations.inc({ outcome: 'refused', reason });
    answer(ctx, status, error, description);
  }
  const { rate_limit: rateLimit, max_clients: maxClients, max_body_bytes: maxBodyBytes } = config.registration;
  const limiter = createRateLimiter({ store, name: 'register', perSecond: rateLimit.per_second, burst: rateLimit.burst });
  const cap = createClientCap({ store, maxClients, logger });
  const checkOptions = registrationCheckOptions(config);

  return async function registrationGate(ctx: Context, next: Next): Promise<void> {
    // Every spelling the library's router sends to registration (any case, a trailing slash),
    // whatever the method: the library decides what its route is, so the gate asks it.
    if (routes.nameFor('POST', ctx.path) !== 'registration') return next();

    if (ctx.method === 'OPTIONS') {
      allowCors(ctx);
      ctx.set('Access-Control-Allow-Methods', 'POST');
      ctx.set('Access-Control-Allow-Headers', ctx.get('Access-Control-Request-Headers') || 'Content-Type');
      ctx.set('Access-Control-Max-Age', '3600');
      ctx.status = 204;
      return;
    }
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST, OPTIONS');
      closeAfterAnswer(ctx);
      answer(ctx, 405, 'invalid_request', `${ctx.method} is not allowed on ${PATH}; register with POST`);
      return;
    }
    allowCors(ctx);

    const settings = await tenant.get();
    if (!settings.flags.enable_dynamic_client_registration) {
      closeAfterAnswer(ctx);
      refuse(ctx, 403, 'access_denied', 'Dynamic client registration is disabled for this tenant (tenant flag enable_dynamic_client_registration is off)', 'disabled');
      return;
    }

    const decision = await limiter.consume(rateLimitKey(ctx.ip));
    if (!decision.allowed) {
      ctx.set('Retry-After', String(decision.retryAfterSeconds));
      closeAfterAnswer(ctx);
      refuse(ctx, 429, 'too_many_requests', `Too many registrations from this address; retry after ${decision.retryAfterSeconds} s`, 'rate_limited');
      logger.info({ event: 'registration_refused', reason: 'rate_limited', ip: ctx.ip }, 'registration refused');
      return;
    }

    if (!ctx.is('application/json')) {
      closeAfterAnswer(ctx);
      refuse(ctx, 415, 'invalid_client_metadata', 'the request body must be application/json', 'unsupported_media_type');
      return;
    }
    const body = await readJsonBody(ctx.req, maxBodyBytes);
    if (body.kind === 'too_large') {
      closeAfterAnswer(ctx);
      refuse(ctx, 413, 'invalid_client_metadata', `the request body must be at most ${maxBodyBytes} bytes`, 'too_large');
      return;
    }
    if (body.kind === 'invalid_json') {
      refuse(ctx, 400, 'invalid_client_metadata', 'the request body is not valid JSON');
      return;
    }
    const checked = checkRegistrationMetadata(body.value, checkOptions);
    if ('refusal' in checked) {
      refuse(ctx, 400, checked.refusal.error, checked.refusal.error_description);
      return;
    }

    // Taken last, just before the library stores the client: a slot is held only for requests
    // that passed every other check. It is reserved for the id the library will store the client
    // under (registrationClientId), so the stored client takes it over; given back otherwise.
    const clientId = newClientId();
    const slot = await cap.reserve(clientId);
    if (!slot) {
      refuse(ctx, 403, 'access_denied', `This tenant has reached its limit of ${maxClients} registered clients`, 'max_clients');
      logger.warn({ event: 'registration_refused', reason: 'max_clients', ip: ctx.ip }, 'registration refused');
      return;
    }

    replayBody(ctx, Buffer.from(JSON.stringify(checked.metadata)));
    passGate(ctx, clientId);
    let stored = false;
    try {
      await next();
      stored = ctx.status === 201;
    } finally {
      if (!stored) await slot.release();
    }

    if (ctx.status !== 201) metrics.registrations.inc({ outcome: 'refused', reason: String((ctx.body as { error?: unknown } | undefined)?.error ?? ctx.status) });
    if (ctx.status === 201 && ctx.body && typeof ctx.body === 'object') {
      metrics.registrations.inc({ outcome: 'accepted', reason: '' });
      // No registration_access_token to drop: issueRegistrationAccessToken is off (create_provider.ts).
      const client = ctx.body as Record<string, unknown>;
      ctx.set('Cache-Control', 'no-store');
      const redirectHosts = [...new Set((client.redirect_uris as string[] | undefined ?? []).map((uri) => URL.parse(uri)?.host ?? ''))];
      logger.info({ event: 'client_registered', client_id: client.client_id, client_name: client.client_name, redirect_hosts: redirectHosts, ip: ctx.ip }, 'client registered');
    }
  };
}

/** Both metadata documents (OIDC discovery and RFC 8414) list registration_endpoint only while registration is on. */
export function createDiscoveryFilter(tenant: TenantSettingsService, routes: RouteResolver) {
  return async function discoveryFilter(ctx: Context, next: Next): Promise<void> {
    if (routes.of(ctx) !== 'discovery') return next();
    await next();
    if (ctx.status !== 200 || !ctx.body || typeof ctx.body !== 'object') return;
    // Discovery is static and relying parties fetch it at start: it keeps answering while the
    // store is away, without registration_endpoint (registration could not work meanwhile).
    const settings = await tenant.get().catch((error: unknown) => {
      if (error instanceof StoreUnavailableError) return undefined;
      throw error;
    });
    if (!settings?.flags.enable_dynamic_client_registration) delete (ctx.body as Record<string, unknown>).registration_endpoint;
  };
}
