// createApp: the Koa application. Own routes first (health, interactions), then the mounted
// provider, which answers everything else under the issuer.
import type { RequestListener } from 'node:http';

import Koa from 'koa';
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

import type { Config } from './config.ts';
import { firstPartyClientIds } from './config.ts';
import type { Store } from '../adapters/contract.ts';
import { createAccounts } from './provider/accounts.ts';
import { createProvider } from './provider/create_provider.ts';
import { createKeyRing } from './provider/key_ring.ts';
import type { KeyRing } from './provider/key_ring.ts';
import { createInteractionRoutes } from './interactions/routes.ts';
import { createErrorHandler } from './error_handler.ts';
import { createStoreUnavailableHandler } from './store_unavailable.ts';
import { createSecurityHeaders, securityHeaderList } from './security_headers.ts';
import { instrumentStore } from './observability/instrumented_store.ts';
import { createMetrics } from './observability/metrics.ts';
import type { Metrics } from './observability/metrics.ts';
import { createRequestLog, createRequestRecorder } from './observability/request_log.ts';
import { createTenantSettings } from './tenant/settings.ts';
import { createClientIdMetadataDocumentHooks } from './provider/client_id_metadata_document.ts';
import { auditSettingChanges } from './tenant/audit.ts';
import { createManagementApi } from './management/router.ts';
import { createClientsService } from './management/clients_service.ts';
import { createDashboard } from './dashboard/router.ts';
import { createTokenJsonBody } from './provider/token_json_body.ts';
import { createDiscoveryFilter, createRegistrationGate } from './registration/gate.ts';
import { createDefaultAuthorizeScope } from './provider/default_scope.ts';
import { createAuthorizationResponse } from './provider/authorization_response.ts';
import { createRouteResolver, INTERACTION_PATH } from './provider/routes.ts';
import { pinIssuerOrigin } from './http/issuer_origin.ts';
import { createUserinfoForApiTokens } from './provider/userinfo_for_api_tokens.ts';
import type { TenantSettingsService } from './tenant/settings.ts';
import { createClientCors } from './provider/client_cors.ts';
import { createWebMessageFraming } from './provider/web_message_response_mode.ts';
import { createAuth0Logout } from './provider/auth0_logout.ts';
import { createMetadataCache } from './provider/metadata_cache.ts';

export type AppDeps = {
  config: Config;
  store: Store;
  logger: Logger;
  /** The one line per request (src/observability/request_log.ts); defaults to `logger`. */
  requestLogger?: Logger;
  /** Defaults to a registry of this app's own. */
  metrics?: Metrics;
  /** True once a stop signal arrived (src/shutdown.ts): /readyz answers 503 from then on. */
  draining?: () => boolean;
};

export type Issuer = {
  app: Koa;
  /** What the HTTP server runs: discovery and the JWKS from prepared bytes, everything else `app`. */
  listener: RequestListener;
  provider: Provider;
  tenant: TenantSettingsService;
  metrics: Metrics;
  /** The signing and cookie keys, kept in step with the store. */
  keys: KeyRing;
  /** Stop the timers (the key refresh); the store is closed by whoever made it. */
  stop(): void;
  /** Apply the config file's tenant flags again (SIGHUP), with the audit lines it logs. */
  reloadTenantFlags(config: Config): Promise<void>;
};

/**
 * /metrics on the issuer's port only in development and test, and only without a metrics port
 * of its own (src/main.ts serves that one): a production issuer's port is public.
 */
function metricsOnIssuerPort(config: Config): boolean {
  return config.env !== 'production' && (config.metrics.port === undefined || config.metrics.port === null);
}

function operationsRoutes(config: Config, store: Store, metrics: Metrics, draining: () => boolean): Router {
  const router = new Router();
  if (metricsOnIssuerPort(config)) {
    router.get('/metrics', async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
    });
  }
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (draining()) {
      ctx.status = 503;
      ctx.body = { status: 'shutting_down', store: store.kind };
      return;
    }
    try {
      await store.ping();
      ctx.body = { status: 'ready', store: store.kind };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'not_ready', store: store.kind, error: 'the store does not answer' };
    }
  });
  return router;
}

/** The router's routes and allowed methods, for requests whose path matches `paths`. */
function onlyFor(paths: RegExp, router: Router): Koa.Middleware {
  const routes = router.routes() as Koa.Middleware;
  const allowed = router.allowedMethods() as Koa.Middleware;
  return (ctx, next) => (paths.test(ctx.path) ? routes(ctx, () => allowed(ctx, next)) : next());
}

export async function createApp(deps: AppDeps): Promise<Issuer> {
  const { config, logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const store = instrumentStore(deps.store, metrics);
  const keys = await createKeyRing({ store, config, logger });
  const cookieKeys = keys.cookieKeys;
  const accounts = createAccounts(config.users);
  let fileFlags = config.tenant.flags;
  const tenant = createTenantSettings({
    store,
    fileFlags: () => fileFlags,
    onHealed: (flags) => logger.warn({ audit: 'tenant_settings', event: 'store_healed', flags }, 'the tenant settings were missing from the store; wrote back the config file\'s flags'),
  });
  const provider = createProvider({ config, store, accounts, signingKeys: keys.signingKeys(), cookieKeys, tenant });
  // The same array as the app's: a cookie key rotation reaches both at once.
  provider.keys = cookieKeys;
  keys.attach(provider);
  const routes = createRouteResolver(provider);
  const clients = createClientsService({ config, provider, store });

  async function reloadTenantFlags(next: Config): Promise<void> {
    fileFlags = next.tenant.flags;
    auditSettingChanges(logger, 'config-file', await tenant.applyConfigFlags(next.tenant.flags));
  }
  await reloadTenantFlags(config);

  provider.on('server_error', (ctx, error) => logger.error({ err: error, request_id: ctx.state?.requestId }, 'provider server error'));
  provider.on('authorization.success', () => metrics.authorizations.inc({ outcome: 'success' }));
  provider.on('authorization.error', (_ctx, error) => metrics.authorizations.inc({ outcome: (error as { error?: string }).error ?? 'error' }));

  const app = new Koa();
  // The provider reads cookies through the outer context when mounted: same keys, or no session survives.
  app.keys = cookieKeys;
  app.proxy = config.proxy;
  // X-Forwarded-For is `client, proxy1, ...`: its leftmost entries are whatever the client sent.
  // ctx.ip is the entry `proxy_hops` from the right, the address the trusted proxy saw.
  app.maxIpsCount = config.proxy_hops;
  app.silent = true;

  pinIssuerOrigin(app, config.issuer);
  const recorder = createRequestRecorder({ logger: deps.requestLogger ?? logger, metrics });
  const securityHeaders = securityHeaderList();
  // Discovery and the JWKS from prepared bytes; a change of flags or keys runs the chain below once.
  const metadata = createMetadataCache({ routes, tenant, keys, recorder, securityHeaders });
  app.use(createRequestLog(recorder));
  app.use(createErrorHandler(logger));
  app.use(createStoreUnavailableHandler(logger));
  app.use(createSecurityHeaders(securityHeaders));
  app.use(metadata.middleware);

  // Each router runs only for the paths it can match (as @koa/router matches: any case, an
  // optional trailing slash), instead of trying every route and its allowed methods on every
  // request the library answers.
  app.use(onlyFor(/^\/(?:healthz|readyz|metrics)\/?$/i, operationsRoutes(config, store, metrics, deps.draining ?? (() => false))));
  app.use(onlyFor(new RegExp(`^${INTERACTION_PATH}`, 'i'), createInteractionRoutes({ provider, accounts, config, store, metrics })));
  // The bends below decide by the library route a request will run (src/provider/routes.ts),
  // so their order among themselves carries no meaning; they all come before the provider.
  // Browser clients (SPA SDK): logout the Auth0 way, silent sign-in framing, client-based CORS.
  const clientCors = createClientCors({ config, store, routes });
  app.use(createAuth0Logout({ provider, routes, firstParty: firstPartyClientIds(config) }));
  app.use(createWebMessageFraming(routes));
  app.use(createDashboard({ config, store, provider, accounts, tenant, clients, keys, logger }));
  app.use(createDefaultAuthorizeScope(routes));
  app.use(createAuthorizationResponse(routes));
  app.use(createUserinfoForApiTokens({ issuer: config.issuer, verificationKeys: keys.verificationKeys, accounts, provider, routes }));
  app.use(createDiscoveryFilter(tenant, routes));
  app.use(createClientIdMetadataDocumentHooks({ tenant, routes }));
  app.use(createRegistrationGate({ config, store, tenant, logger, metrics, provider, routes }));
  app.use(createManagementApi({ config, tenant, keys, clients, logger }));
  app.use(clientCors.middleware);
  app.use(createTokenJsonBody({ isToken: (ctx) => routes.of(ctx) === 'token' }));
  for (const middleware of provider.middleware) app.use(middleware);

  const listener = metadata.listener(app.callback());
  return { app, listener, provider, tenant, metrics, keys, stop: () => keys.stop(), reloadTenantFlags };
}
