// Dashboard › Applications: list (paged, filter for dynamically registered ones), one
// application's page with name, callbacks, logout URLs and web origins to edit, a secret revealed
// on its own page, and delete after a confirmation. Every change goes through the same service as
// /api/v2/clients and is audited with the admin's email as the actor.
import type Router from '@koa/router';
import type { Context } from 'koa';

import { auditManagementChange } from '../management/audit.ts';
import type { ClientsService } from '../management/clients_service.ts';
import { ManagementError } from '../management/errors.ts';
import { applicationPage, applicationsPage, APPLICATIONS_PATH, secretPage } from './application_views.ts';
import type { DashboardKit } from './router.ts';
import { confirmPage, messagePage } from './views.ts';

const PER_PAGE = 25;
const EDITABLE = ['name', 'callbacks', 'allowed_logout_urls', 'web_origins'] as const;

/** Lines of a textarea, trimmed, blank lines dropped. */
function lines(value: string | undefined): string[] {
  return (value ?? '').split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
}

function pageNumber(value: unknown): number {
  return typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : 0;
}

export function addApplicationRoutes(router: Router, kit: DashboardKit, clients: ClientsService): void {
  const { admin, adminForm, form, parseForm, html, logger } = kit;

  /** The application, or a 404 page already answered. */
  async function find(ctx: Context, withSecret = false) {
    try {
      return await clients.get(String(ctx.params.id), withSecret);
    } catch (error) {
      if (!(error instanceof ManagementError) || error.status !== 404) throw error;
      html(ctx, 404, messagePage('Not found', 'There is no such application (it may have been deleted).', { href: APPLICATIONS_PATH, text: 'Back to Applications' }));
      return undefined;
    }
  }

  router.get('/applications', async (ctx) => {
    const current = await admin(ctx);
    if (!current) return;
    const registered = ctx.query.registered === '1';
    const page = pageNumber(ctx.query.page);
    const listed = await clients.list({ offset: page * PER_PAGE, limit: PER_PAGE, withSecret: false, registeredOnly: registered });
    const notice = ctx.query.deleted === '1' ? 'The application was deleted and its tokens withdrawn.' : undefined;
    html(ctx, 200, applicationsPage(current.page, { clients: listed.clients, total: listed.total, page, perPage: PER_PAGE, registered, notice }));
  });

  router.get('/applications/:id', async (ctx) => {
    const current = await admin(ctx);
    if (!current) return;
    const client = await find(ctx, true);
    if (!client) return;
    const hasSecret = typeof client.client_secret === 'string';
    delete client.client_secret;
    html(ctx, 200, applicationPage(current.page, client, { hasSecret, notice: ctx.query.saved === '1' ? 'Saved. Every instance uses the new values at once.' : undefined }));
  });

  router.post('/applications/:id', parseForm, async (ctx) => {
    const current = await adminForm(ctx);
    if (!current) return;
    const client = await find(ctx, true);
    if (!client) return;
    const fields = form(ctx);
    const values = Object.fromEntries(EDITABLE.map((name) => [name, fields[name] ?? ''])) as Record<(typeof EDITABLE)[number], string>;
    const hasSecret = typeof client.client_secret === 'string';
    delete client.client_secret;
    try {
      await clients.update(client.client_id, {
        name: values.name.trim(),
        callbacks: lines(values.callbacks),
        allowed_logout_urls: lines(values.allowed_logout_urls),
        web_origins: lines(values.web_origins),
      });
    } catch (error) {
      if (!(error instanceof ManagementError) || error.status !== 400) throw error;
      html(ctx, 400, applicationPage(current.page, client, { hasSecret, error: `Not saved: ${error.message}`, values }));
      return;
    }
    auditManagementChange(logger, current.account.email, 'client_updated', { client_id: client.client_id, fields: [...EDITABLE] });
    ctx.redirect(`${APPLICATIONS_PATH}/${encodeURIComponent(client.client_id)}?saved=1`);
  });

  router.post('/applications/:id/secret', parseForm, async (ctx) => {
    const current = await adminForm(ctx);
    if (!current) return;
    const client = await find(ctx, true);
    if (!client) return;
    logger.info({ audit: 'dashboard', event: 'client_secret_revealed', actor: current.account.email, client_id: client.client_id }, 'dashboard: client secret revealed');
    html(ctx, 200, secretPage(current.page, client));
  });

  router.get('/applications/:id/delete', async (ctx) => {
    const current = await admin(ctx);
    if (!current) return;
    const client = await find(ctx);
    if (!client) return;
    const base = `${APPLICATIONS_PATH}/${encodeURIComponent(client.client_id)}`;
    html(ctx, 200, confirmPage({ ...current.page, section: 'applications' }, {
      title: `Delete ${client.name}?`,
      explanation: [
        `The application ${client.name} (${client.client_id}) will be deleted on every instance.`,
        'Everything it holds is withdrawn at once: its users\' grants, its access and refresh tokens (they stop working at /userinfo and at your APIs), and its sessions\' authorizations. /authorize refuses it from then on.',
        'This cannot be undone.',
      ],
      action: `${base}/delete`,
      button: 'Delete the application',
      cancel: base,
    }));
  });

  router.post('/applications/:id/delete', parseForm, async (ctx) => {
    const current = await adminForm(ctx);
    if (!current) return;
    const client = await find(ctx);
    if (!client) return;
    try {
      await clients.remove(client.client_id);
    } catch (error) {
      if (!(error instanceof ManagementError) || error.status !== 400) throw error;
      html(ctx, 400, messagePage('Not deleted', error.message, { href: `${APPLICATIONS_PATH}/${encodeURIComponent(client.client_id)}`, text: 'Back to the application' }));
      return;
    }
    auditManagementChange(logger, current.account.email, 'client_deleted', { client_id: client.client_id });
    ctx.redirect(`${APPLICATIONS_PATH}?deleted=1`);
  });
}
