// createApp: the Koa application. Own routes first (health, interactions), then the mounted
// provider, which answers everything else under the issuer.
import Koa from 'koa';
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

import type { Config } from './config.ts';
import type { Store } from '../adapters/contract.ts';
import { createAccounts } from './provider/accounts.ts';
import { createProvider } from './provider/create_provider.ts';
import { loadCookieKeys, loadSigningKeys } from './provider/keys.ts';
import { createInteractionRoutes } from './interactions/routes.ts';
import { errorPage } from './interactions/views.ts';
import { createTenantSettings } from './tenant/settings.ts';
import type { TenantSettingsService } from './tenant/settings.ts';
import { createDiscoveryFilter, createRegistrationGate } from './registration/gate.ts';
import { defaultAuthorizeScope } from './provider/default_scope.ts';

export type AppDeps = {
  config: Config;
  store: Store;
  logger: Logger;
};

export type Issuer = {
  app: Koa;
  provider: Provider;
  tenant: TenantSettingsService;
  /** Apply the config file's tenant flags again (SIGHUP), with the audit lines it logs. */
  reloadTenantFlags(config: Config): Promise<void>;
};

function healthRoutes(store: Store): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
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

export async function createApp(deps: AppDeps): Promise<Issuer> {
  const { config, store, logger } = deps;
  const [signingKeys, cookieKeys] = await Promise.all([loadSigningKeys(store, config), loadCookieKeys(store, config)]);
  const accounts = createAccounts(config.users);
  const provider = createProvider({ config, store, accounts, signingKeys, cookieKeys });
  const tenant = createTenantSettings({ store });

  async function reloadTenantFlags(next: Config): Promise<void> {
    const changes = await tenant.applyConfigFlags(next.tenant.flags);
    for (const change of changes) logger.info({ audit: 'tenant_settings', actor: 'config-file', ...change, at: new Date().toISOString() }, 'tenant setting changed');
  }
  await reloadTenantFlags(config);

  provider.on('server_error', (_ctx, error) => logger.error({ err: error }, 'provider server error'));

  const app = new Koa();
  // The provider reads cookies through the outer context when mounted: same keys, or no session survives.
  app.keys = cookieKeys;
  app.proxy = config.proxy;
  app.silent = true;

  // Our own routes fail in our shape; 5xx details never reach the caller.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const err = error as { status?: number; expose?: boolean; message?: string };
      const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500;
      if (status >= 500) logger.error({ err: error, path: ctx.path }, 'request failed');
      const description = status < 500 && err.expose ? err.message : 'The server could not complete the request.';
      ctx.status = status;
      if (ctx.accepts('html', 'json') === 'html') {
        ctx.type = 'html';
        ctx.body = errorPage({ error: status < 500 ? 'invalid_request' : 'server_error', description });
      } else {
        ctx.body = { error: status < 500 ? 'invalid_request' : 'server_error', error_description: description };
      }
    }
  });

  for (const router of [healthRoutes(store), createInteractionRoutes({ provider, accounts, config })]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use(defaultAuthorizeScope);
  app.use(createDiscoveryFilter(tenant));
  app.use(createRegistrationGate({ config, store, tenant, logger }));
  for (const middleware of provider.middleware) app.use(middleware);

  return { app, provider, tenant, reloadTenantFlags };
}
