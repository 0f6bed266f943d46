// /api/v2/clients: Auth0's applications endpoints over the library's clients. Clients declared in
// the config file are listed (first-party) but read-only; registered and API-created clients live
// in the store, are validated by the library's own client schema before they are stored, and take
// everything they hold with them when deleted.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Logger } from 'pino';

import { readBodyWithin } from '../http/request_body.ts';
import { auditManagementChange } from './audit.ts';
import type { ManagementCaller } from './bearer.ts';
import { APP_TYPES, parseClientBody } from './client_fields.ts';
import type { Auth0Client } from './client_fields.ts';
import type { ClientsService } from './clients_service.ts';
import { ManagementError } from './errors.ts';
import { parseFieldSelection } from './settings_request.ts';
import type { FieldSelection } from './settings_request.ts';

export const CLIENT_SCOPES = {
  read: 'read:clients',
  create: 'create:clients',
  update: 'update:clients',
  delete: 'delete:clients',
  readKeys: 'read:client_keys',
  updateKeys: 'update:client_keys',
} as const;

/** A client is a few URLs and names: a body larger than this is not one. */
export const MAX_CLIENT_BODY_BYTES = 64 * 1024;
const MAX_PER_PAGE = 100;
const DEFAULT_PER_PAGE = 50;

export type ClientsDeps = {
  clients: ClientsService;
  logger: Logger;
  authorize(ctx: Context, ...scopes: string[]): Promise<ManagementCaller>;
};

type ListQuery = { page: number; perPage: number; totals: boolean; firstParty?: boolean; appTypes?: Set<string>; global?: boolean; selection: FieldSelection };

const KNOWN_QUERY = new Set(['page', 'per_page', 'include_totals', 'fields', 'include_fields', 'is_first_party', 'app_type', 'is_global']);

function invalidQuery(detail: string, property: string): ManagementError {
  return new ManagementError(400, 'invalid_query_string', `Query validation error: '${detail}' on property ${property}.`);
}

function single(query: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw invalidQuery('Expected a single value but found several', name);
  return value;
}

function integer(query: Record<string, string | string[] | undefined>, name: string, min: number, max: number): number | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw invalidQuery(`Expected type integer but found type string`, name);
  const n = Number(value);
  if (n < min || n > max) throw invalidQuery(`Must be from ${min} to ${max}`, name);
  return n;
}

function boolean(query: Record<string, string | string[] | undefined>, name: string): boolean | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw invalidQuery('Expected type boolean but found type string', name);
  return value === 'true';
}

export function parseListQuery(query: Record<string, string | string[] | undefined>): ListQuery {
  const unknown = Object.keys(query).filter((name) => !KNOWN_QUERY.has(name));
  if (unknown.length) throw invalidQuery(`Additional properties not allowed: ${unknown.slice(0, 10).join(',')}`, unknown[0]!);
  const appType = single(query, 'app_type');
  const appTypes = appType === undefined ? undefined : new Set(appType.split(',').map((t) => t.trim()).filter(Boolean));
  for (const type of appTypes ?? []) {
    if (!(APP_TYPES as readonly string[]).includes(type)) throw invalidQuery(`Must be a comma-separated list of ${APP_TYPES.join(', ')}`, 'app_type');
  }
  return {
    page: integer(query, 'page', 0, 100_000) ?? 0,
    perPage: integer(query, 'per_page', 1, MAX_PER_PAGE) ?? DEFAULT_PER_PAGE,
    totals: boolean(query, 'include_totals') ?? false,
    firstParty: boolean(query, 'is_first_party'),
    global: boolean(query, 'is_global'),
    appTypes,
    selection: parseFieldSelection(query),
  };
}

function select(client: Auth0Client, selection: FieldSelection): Partial<Auth0Client> {
  if (!selection.fields.length) return client;
  const named = new Set(selection.fields);
  return Object.fromEntries(Object.entries(client).filter(([name]) => named.has(name) === selection.include)) as Partial<Auth0Client>;
}

export function addClientRoutes(router: Router, deps: ClientsDeps): void {
  const { logger, authorize, clients } = deps;

  async function body(ctx: Context, mode: 'create' | 'update'): Promise<Record<string, unknown>> {
    const raw = await readBodyWithin(ctx.req, MAX_CLIENT_BODY_BYTES);
    if (!raw) throw new ManagementError(413, 'payload_too_large', `Payload content length greater than maximum allowed: ${MAX_CLIENT_BODY_BYTES}`);
    return parseClientBody(raw.toString('utf8') || (mode === 'update' ? '{}' : ''), mode, clients.reservedNames);
  }

  const canReadKeys = (caller: ManagementCaller) => caller.scopes.has(CLIENT_SCOPES.readKeys);
  const withoutSecret = (client: Auth0Client, keep: boolean): Auth0Client => {
    if (keep) return client;
    const { client_secret: _secret, ...rest } = client;
    return rest;
  };

  router.get('/clients', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.read, CLIENT_SCOPES.readKeys);
    const query = parseListQuery(ctx.query);
    const offset = query.page * query.perPage;
    const page = await clients.list({ offset, limit: query.perPage, withSecret: canReadKeys(caller), firstParty: query.firstParty, appTypes: query.appTypes, global: query.global });
    const listed = page.clients.map((client) => select(client, query.selection));
    ctx.body = query.totals ? { clients: listed, start: offset, limit: query.perPage, total: page.total } : listed;
  });

  router.get('/clients/:id', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.read, CLIENT_SCOPES.readKeys);
    const selection = parseFieldSelection(ctx.query);
    ctx.body = select(await clients.get(ctx.params.id!, canReadKeys(caller)), selection);
  });

  router.post('/clients', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.create);
    const fields = await body(ctx, 'create');
    const created = await clients.create(fields);
    auditManagementChange(logger, caller.clientId, 'client_created', { client_id: created.client_id, fields: Object.keys(fields) });
    ctx.status = 201;
    // The secret is shown once at creation, as Auth0 does.
    ctx.body = created;
  });

  router.patch('/clients/:id', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.update, CLIENT_SCOPES.updateKeys);
    const clientId = ctx.params.id!;
    await clients.assertChangeable(clientId);
    const fields = await body(ctx, 'update');
    const updated = await clients.update(clientId, fields);
    auditManagementChange(logger, caller.clientId, 'client_updated', { client_id: clientId, fields: Object.keys(fields) });
    ctx.body = withoutSecret(updated, canReadKeys(caller) || caller.scopes.has(CLIENT_SCOPES.updateKeys));
  });

  router.delete('/clients/:id', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.delete);
    await clients.remove(ctx.params.id!);
    auditManagementChange(logger, caller.clientId, 'client_deleted', { client_id: ctx.params.id });
    ctx.status = 204;
  });

  router.post('/clients/:id/rotate-secret', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.updateKeys);
    const rotated = await clients.rotateSecret(ctx.params.id!);
    auditManagementChange(logger, caller.clientId, 'client_secret_rotated', { client_id: ctx.params.id });
    ctx.body = rotated;
  });
}
