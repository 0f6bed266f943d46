// The Dashboard at /dashboard: sign-in through the issuer, then Settings › Advanced (the tenant
// flags, through the same service as PATCH /api/v2/tenants/settings), Applications (the same
// service as /api/v2/clients) and Signing keys (the key ring behind /api/v2/keys/signing). Every
// page is for admins only; every form carries the session's CSRF token; nothing here runs script.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

import type { Store } from '../../adapters/contract.ts';
import type { ClientsService } from '../management/clients_service.ts';
import type { KeyRing } from '../provider/key_ring.ts';
import { addApplicationRoutes } from './applications.ts';
import { addSigningKeyRoutes } from './signing_keys.ts';
import { dashboardEnabled } from '../config.ts';
import type { Config } from '../config.ts';
import type { Account, Accounts } from '../provider/accounts.ts';
import { auditSettingChanges } from '../tenant/audit.ts';
import { FLAG_NAMES } from '../tenant/settings.ts';
import type { TenantFlags, TenantSettingsService } from '../tenant/settings.ts';
import { dashboardCallback, DASHBOARD_PATH } from './client.ts';
import { createDashboardSessions, sameToken } from './session.ts';
import type { DashboardSession } from './session.ts';
import { authorizeUrl, redeemCode } from './sign_in.ts';
import { DASHBOARD_STYLE_SOURCE, messagePage, notAdministratorPage, settingsPage } from './views.ts';
import type { PageContext } from './views.ts';

export const SESSION_COOKIE = 'dashboard_session';
const SIGN_IN_COOKIE = 'dashboard_sign_in';

export type DashboardDeps = {
  config: Config;
  store: Store;
  provider: Provider;
  accounts: Accounts;
  tenant: TenantSettingsService;
  clients: ClientsService;
  keys: KeyRing;
  logger: Logger;
};

/** What a Dashboard handler gets once the admin is known. */
export type AdminContext = { ctx: Context; session: DashboardSession; account: Account; page: PageContext };

/** The pieces every Dashboard section's routes use. */
export type DashboardKit = {
  /** The signed-in admin, or undefined once a sign-in redirect or a refusal was answered. */
  admin(ctx: Context): Promise<AdminContext | undefined>;
  /** The same for a form, which must also carry the session's CSRF token (403 otherwise). */
  adminForm(ctx: Context): Promise<AdminContext | undefined>;
  /** The form's string fields. */
  form(ctx: Context): Record<string, string>;
  parseForm: ReturnType<typeof bodyParser>;
  html(ctx: Context, status: number, body: string): void;
  logger: Logger;
};

const CSP = [
  "default-src 'none'",
  `style-src ${DASHBOARD_STYLE_SOURCE}`,
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

function html(ctx: Context, status: number, body: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = body;
}

function isAdmin(account: Account | undefined): boolean {
  return account?.roles.includes('admin') === true;
}

/** A path under the Dashboard to come back to after sign-in; anything else is the start page. */
function safeReturn(value: unknown): string {
  return typeof value === 'string' && /^\/dashboard(\/[A-Za-z0-9._~%/-]*)?(\?[A-Za-z0-9._~%&=-]*)?$/.test(value) && !value.includes('//') ? value : `${DASHBOARD_PATH}/settings`;
}

export function createDashboard(deps: DashboardDeps) {
  const { config, store, provider, accounts, tenant, logger } = deps;
  if (!dashboardEnabled(config)) return async (_ctx: Context, next: Next) => next();

  const sessions = createDashboardSessions({ store });
  const redirectUri = dashboardCallback(config.issuer);
  const secure = new URL(config.issuer).protocol === 'https:';
  const router = new Router({ prefix: DASHBOARD_PATH });
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '64kb' });

  function form(ctx: Context): Record<string, string> {
    const body = (ctx.request as { body?: unknown }).body;
    const out: Record<string, string> = {};
    if (body && typeof body === 'object') for (const [key, value] of Object.entries(body)) if (typeof value === 'string') out[key] = value;
    return out;
  }

  async function startSignIn(ctx: Context): Promise<void> {
    const signIn = await sessions.beginSignIn(safeReturn(ctx.method === 'GET' ? ctx.originalUrl : undefined));
    ctx.cookies.set(SIGN_IN_COOKIE, signIn.state, { httpOnly: true, sameSite: 'lax', secure, path: DASHBOARD_PATH, maxAge: 600_000, overwrite: true });
    ctx.redirect(authorizeUrl(config.issuer, redirectUri, signIn));
  }

  /** The signed-in admin, or an answer already given (sign-in redirect, refusal). */
  async function admin(ctx: Context): Promise<AdminContext | undefined> {
    const session = await sessions.load(ctx.cookies.get(SESSION_COOKIE));
    if (!session) {
      await startSignIn(ctx);
      return undefined;
    }
    const account = accounts.find(session.accountId);
    // Roles come from the config file: a user who lost `admin` since signing in is refused now.
    if (!account || !isAdmin(account)) {
      await sessions.destroy(ctx.cookies.get(SESSION_COOKIE));
      html(ctx, 403, notAdministratorPage(account?.email ?? session.email));
      return undefined;
    }
    return { ctx, session, account, page: { email: account.email, csrf: session.csrf } };
  }

  /** For forms: the admin, provided the form carries this session's CSRF token (403 otherwise). */
  async function adminForm(ctx: Context): Promise<AdminContext | undefined> {
    const session = await sessions.load(ctx.cookies.get(SESSION_COOKIE));
    if (!session || !sameToken(form(ctx).csrf, session.csrf)) {
      html(ctx, 403, messagePage('Request refused', 'This form was not sent from your Dashboard session (its security token is missing or wrong). Nothing was changed.', { href: `${DASHBOARD_PATH}/settings`, text: 'Back to the Dashboard' }));
      return undefined;
    }
    return admin(ctx);
  }

  router.get('/', (ctx) => ctx.redirect(`${DASHBOARD_PATH}/settings`));

  router.get('/login', startSignIn);

  router.get('/callback', async (ctx) => {
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : undefined;
    const cookieState = ctx.cookies.get(SIGN_IN_COOKIE);
    ctx.cookies.set(SIGN_IN_COOKIE, null, { path: DASHBOARD_PATH });
    const restart = { href: `${DASHBOARD_PATH}/login`, text: 'Sign in again' };
    if (!state || !sameToken(state, cookieState)) {
      html(ctx, 400, messagePage('Sign-in failed', 'This sign-in was not started in this browser, or it was already finished.', restart));
      return;
    }
    const signIn = await sessions.takeSignIn(state);
    if (!signIn) {
      html(ctx, 400, messagePage('Sign-in failed', 'This sign-in has expired or was already finished.', restart));
      return;
    }
    if (typeof ctx.query.error === 'string') {
      html(ctx, 400, messagePage('Sign-in failed', `The issuer answered ${ctx.query.error}${typeof ctx.query.error_description === 'string' ? `: ${ctx.query.error_description}` : ''}.`, restart));
      return;
    }
    const redeemed = await redeemCode(provider, typeof ctx.query.code === 'string' ? ctx.query.code : '', { redirectUri, verifier: signIn.verifier, nonce: signIn.nonce });
    if ('refusal' in redeemed) {
      logger.warn({ event: 'dashboard_sign_in_refused', reason: redeemed.refusal, ip: ctx.ip }, 'dashboard sign-in refused');
      html(ctx, 400, messagePage('Sign-in failed', `The sign-in could not be completed: ${redeemed.refusal}.`, restart));
      return;
    }
    const account = accounts.find(redeemed.accountId);
    if (!account || !isAdmin(account)) {
      logger.warn({ event: 'dashboard_sign_in_refused', reason: 'not_admin', sub: redeemed.accountId, ip: ctx.ip }, 'dashboard sign-in refused');
      html(ctx, 403, notAdministratorPage(account?.email ?? 'an unknown user'));
      return;
    }
    const { id } = await sessions.start(account);
    ctx.cookies.set(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', secure, path: DASHBOARD_PATH, overwrite: true });
    logger.info({ audit: 'dashboard', event: 'signed_in', actor: account.email, ip: ctx.ip }, 'dashboard sign-in');
    ctx.redirect(signIn.returnTo);
  });

  router.post('/logout', parseForm, async (ctx) => {
    const current = await adminForm(ctx);
    if (!current) return;
    await sessions.destroy(ctx.cookies.get(SESSION_COOKIE));
    ctx.cookies.set(SESSION_COOKIE, null, { path: DASHBOARD_PATH });
    logger.info({ audit: 'dashboard', event: 'signed_out', actor: current.account.email }, 'dashboard sign-out');
    html(ctx, 200, messagePage('Signed out', 'You are signed out of the Dashboard.', { href: `${DASHBOARD_PATH}/login`, text: 'Sign in again' }));
  });

  router.get('/settings', async (ctx) => {
    const current = await admin(ctx);
    if (!current) return;
    const [settings, lastChanges] = await Promise.all([tenant.read(), tenant.lastChanges()]);
    const notice = ctx.query.changed === '1' ? 'Saved. Every instance follows within a second.' : undefined;
    html(ctx, 200, settingsPage(current.page, { flags: { ...settings.flags }, lastChanges, notice }));
  });

  router.post('/settings/flags/:name', parseForm, async (ctx) => {
    const current = await adminForm(ctx);
    if (!current) return;
    const name = FLAG_NAMES.find((flag) => flag === ctx.params.name);
    const enabled = form(ctx).enabled;
    if (!name || (enabled !== 'true' && enabled !== 'false')) {
      html(ctx, 400, messagePage('Not changed', 'There is no such setting, or the form was incomplete.', { href: `${DASHBOARD_PATH}/settings`, text: 'Back to Settings' }));
      return;
    }
    const patch: Partial<TenantFlags> = { [name]: enabled === 'true' };
    const { changes } = await tenant.updateFlags(patch, { type: 'admin', id: current.account.email });
    auditSettingChanges(logger, current.account.email, changes);
    ctx.redirect(`${DASHBOARD_PATH}/settings?changed=1`);
  });

  const kit: DashboardKit = { admin, adminForm, form, parseForm, html, logger };
  addApplicationRoutes(router, kit, deps.clients);
  addSigningKeyRoutes(router, kit, deps.keys);

  const routes = router.routes();
  const allowed = router.allowedMethods();
  return async function dashboard(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== DASHBOARD_PATH && !ctx.path.startsWith(`${DASHBOARD_PATH}/`)) return next();
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Security-Policy', CSP);
    await routes(ctx as Parameters<typeof routes>[0], () => allowed(ctx as Parameters<typeof allowed>[0], next));
  };
}
