// The Management API under /api/v2: Auth0's tenant settings, applications (clients.ts) and
// signing keys (signing_keys.ts) endpoints behind scoped Bearer tokens. Every response under /api/v2, errors included (unknown routes, wrong methods), is in
// Auth0's shape, so Auth0's Management API SDKs work against this issuer unchanged.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

import type { Config } from '../config.ts';
import { managementAudience } from '../config.ts';
import type { Store } from '../../adapters/contract.ts';
import type { KeyRing } from '../provider/key_ring.ts';
import { readBodyWithin } from '../http/request_body.ts';
import { auditSettingChanges } from '../tenant/audit.ts';
import type { TenantSettingsService } from '../tenant/settings.ts';
import { createBearerVerifier } from './bearer.ts';
import type { BearerVerifier, ManagementCaller } from './bearer.ts';
import { createManagementErrors, ManagementError } from './errors.ts';
import { parseFieldSelection, parseSettingsPatch, selectFields } from './settings_request.ts';
import { addClientRoutes } from './clients.ts';
import type { ClientsService } from './clients_service.ts';
import { addSigningKeyRoutes } from './signing_keys.ts';

export const MANAGEMENT_PREFIX = '/api/v2';
export const MANAGEMENT_SCOPES = { readSettings: 'read:tenant_settings', updateSettings: 'update:tenant_settings' } as const;
/** Tenant settings are a few flags: a body larger than this is not one. */
export const MAX_SETTINGS_BODY_BYTES = 16 * 1024;

export type ManagementApiDeps = {
  config: Pick<Config, 'issuer' | 'client_grants'>;
  tenant: TenantSettingsService;
  keys: KeyRing;
  clients: ClientsService;
  logger: Logger;
};

/** The caller, if its token carries any of `scopes`; 401 or 403 in Auth0's words otherwise. */
async function authorize(verifier: BearerVerifier, ctx: Context, ...scopes: string[]): Promise<ManagementCaller> {
  const caller = await verifier.verify(ctx.get('Authorization') || undefined);
  if (!scopes.some((scope) => caller.scopes.has(scope))) {
    throw new ManagementError(403, 'insufficient_scope', `Insufficient scope, expected any of: ${scopes.join(',')}`, {
      'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scopes.join(' ')}"`,
    });
  }
  return caller;
}

function settingsRouter(deps: ManagementApiDeps, verifier: BearerVerifier): Router {
  const { tenant, logger } = deps;
  const router = new Router({ prefix: MANAGEMENT_PREFIX });

  router.get('/tenants/settings', async (ctx) => {
    await authorize(verifier, ctx, MANAGEMENT_SCOPES.readSettings);
    const selection = parseFieldSelection(ctx.query);
    ctx.body = selectFields(await tenant.read(), selection);
  });

  router.patch('/tenants/settings', async (ctx) => {
    const caller = await authorize(verifier, ctx, MANAGEMENT_SCOPES.updateSettings);
    const raw = await readBodyWithin(ctx.req, MAX_SETTINGS_BODY_BYTES);
    if (!raw) throw new ManagementError(413, 'payload_too_large', `Payload content length greater than maximum allowed: ${MAX_SETTINGS_BODY_BYTES}`);
    const patch = parseSettingsPatch(raw.toString('utf8'));
    const { settings, changes } = await tenant.updateFlags(patch, { type: 'api_client', id: caller.clientId });
    auditSettingChanges(logger, caller.clientId, changes);
    ctx.body = settings;
  });

  return router;
}

/** The /api/v2 middleware: mount before the provider; other paths pass through. */
export function createManagementApi(deps: ManagementApiDeps) {
  const audience = managementAudience(deps.config);
  const granted = new Map<string, ReadonlySet<string>>(deps.config.client_grants.filter((g) => g.audience === audience).map((g) => [g.client_id, new Set(g.scope)]));
  const verifier = createBearerVerifier({ issuer: deps.config.issuer, audience, verificationKeys: deps.keys.verificationKeys, grantedScopes: (clientId) => granted.get(clientId) });
  const router = settingsRouter(deps, verifier);
  const scoped = (ctx: Context, ...scopes: string[]) => authorize(verifier, ctx, ...scopes);
  addClientRoutes(router, { clients: deps.clients, logger: deps.logger, authorize: scoped });
  addSigningKeyRoutes(router, { keys: deps.keys, logger: deps.logger, authorize: scoped });
  const routes = router.routes();
  const allowedMethods = router.allowedMethods();
  const errors = createManagementErrors(deps.logger);

  async function dispatch(ctx: Context): Promise<void> {
    await allowedMethods(ctx as Parameters<typeof allowedMethods>[0], () => routes(ctx as Parameters<typeof routes>[0], async () => {}));
    if (ctx.status === 405 || ctx.status === 501) {
      const allow = ctx.response.get('Allow');
      throw new ManagementError(405, 'method_not_allowed', `Method ${ctx.method} is not allowed on ${ctx.path}${allow ? `; allowed: ${allow}` : ''}`, allow ? { Allow: allow } : {});
    }
    if (ctx.status === 404 && ctx.body === undefined) throw new ManagementError(404, 'not_found', 'Not Found');
  }

  return async function managementApi(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== MANAGEMENT_PREFIX && !ctx.path.startsWith(`${MANAGEMENT_PREFIX}/`)) return next();
    ctx.set('Cache-Control', 'no-store');
    await errors(ctx, () => dispatch(ctx));
  };
}
