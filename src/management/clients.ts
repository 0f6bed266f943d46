// /api/v2/clients: Auth0's applications endpoints over the library's clients. Clients declared in
// the config file are listed (first-party) but read-only; registered and API-created clients live
// in the store, are validated by the library's own client schema before they are stored, and take
// everything they hold with them when deleted.
import { randomBytes } from 'node:crypto';

import type Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

import { firstPartyClientIds } from '../config.ts';
import type { Config } from '../config.ts';
import { dashboardClients } from '../dashboard/client.ts';
import type { AdapterPayload, Store } from '../../adapters/contract.ts';
import { readBodyWithin } from '../http/request_body.ts';
import { corsOrigins, ORIGIN_MODEL } from '../provider/client_cors.ts';
import { auditManagementChange } from './audit.ts';
import type { ManagementCaller } from './bearer.ts';
import { APP_TYPES, configClientToAuth0, newClientSecret, parseClientBody, toAuth0Client, toLibraryMetadata } from './client_fields.ts';
import type { Auth0Client } from './client_fields.ts';
import { comparableName } from '../registration/metadata.ts';
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
const SCAN_CHUNK = 500;
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

export type ClientsDeps = {
  config: Pick<Config, 'clients' | 'env' | 'dashboard' | 'issuer'>;
  provider: Provider;
  store: Store;
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

function notFound(): ManagementError {
  return new ManagementError(404, 'inexistent_client', 'The client does not exist');
}

export function addClientRoutes(router: Router, deps: ClientsDeps): void {
  const { config, provider, store, logger, authorize } = deps;
  // Declared by ops (the file, and the Dashboard's own client): first-party and read-only here.
  const declared = firstPartyClientIds(config);
  const declaredClients = (withSecret: boolean): Auth0Client[] => [
    ...config.clients.map((client) => configClientToAuth0(client, withSecret)),
    ...dashboardClients(config).map((metadata) => ({ ...toAuth0Client(metadata as Record<string, unknown>, withSecret), app_type: 'spa' as const, is_first_party: true })),
  ];
  const adapter = () => store.adapterFor('Client');
  const production = config.env === 'production';
  const reservedNames = new Set(config.clients.map((client) => comparableName(client.name)));

  function readOnly(clientId: string): ManagementError {
    return new ManagementError(400, 'operation_not_supported', `The client ${clientId} is declared in the config file and cannot be changed through the Management API; change it in the file`);
  }

  async function findStored(clientId: string): Promise<AdapterPayload> {
    if (!CLIENT_ID.test(clientId)) throw notFound();
    const stored = await adapter().find(clientId);
    if (!stored) throw notFound();
    return stored;
  }

  async function body(ctx: Context, mode: 'create' | 'update'): Promise<Record<string, unknown>> {
    const raw = await readBodyWithin(ctx.req, MAX_CLIENT_BODY_BYTES);
    if (!raw) throw new ManagementError(413, 'payload_too_large', `Payload content length greater than maximum allowed: ${MAX_CLIENT_BODY_BYTES}`);
    return parseClientBody(raw.toString('utf8') || (mode === 'update' ? '{}' : ''), mode, reservedNames);
  }

  /** The library's own schema decides last; its refusal is a 400 with its description. */
  async function validateAndStore(metadata: Record<string, unknown>): Promise<Record<string, unknown>> {
    let client: { metadata(): Record<string, unknown> };
    try {
      client = new (provider.Client as unknown as new (metadata: Record<string, unknown>) => { metadata(): Record<string, unknown> })(metadata);
    } catch (error) {
      const { error: code, error_description: description } = error as { error?: string; error_description?: string };
      if (code === 'invalid_client_metadata' || code === 'invalid_redirect_uri') {
        throw new ManagementError(400, 'invalid_body', `Payload validation error: '${description ?? code}'.`);
      }
      throw error;
    }
    const stored = client.metadata();
    await adapter().upsert(String(stored.client_id), stored as AdapterPayload);
    // Its browser origins may send preflights to /oauth/token, as a registered client's may
    // (src/provider/client_cors.ts keeps that index; an origin no client lists any more stays
    // in it harmlessly: the request itself is still decided per client).
    for (const origin of corsOrigins(stored)) await store.adapterFor(ORIGIN_MODEL).upsert(origin, { origin });
    return stored;
  }

  const canReadKeys = (caller: ManagementCaller) => caller.scopes.has(CLIENT_SCOPES.readKeys);

  router.get('/clients', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.read, CLIENT_SCOPES.readKeys);
    const query = parseListQuery(ctx.query);
    const withSecret = canReadKeys(caller);
    const offset = query.page * query.perPage;
    const wanted = (client: Auth0Client) =>
      (query.firstParty === undefined || client.is_first_party === query.firstParty) &&
      (query.global !== true) &&
      (!query.appTypes || (client.app_type !== undefined && query.appTypes.has(client.app_type)));

    const fromFile = declaredClients(withSecret).filter(wanted);
    const storedWanted = query.firstParty !== true && query.global !== true;
    let page: Auth0Client[];
    let total: number;
    if (!storedWanted) {
      page = fromFile.slice(offset, offset + query.perPage);
      total = fromFile.length;
    } else if (!query.appTypes) {
      // Unfiltered stored clients page in the store itself.
      const skip = Math.max(0, offset - fromFile.length);
      const fileSlice = fromFile.slice(offset, offset + query.perPage);
      const room = query.perPage - fileSlice.length;
      const stored = await store.listClients({ offset: skip, limit: Math.max(room, 1) });
      const storedClients = stored.clients.filter((c) => !declared.has(String(c.client_id))).map((c) => toAuth0Client(c, withSecret));
      page = [...fileSlice, ...storedClients.slice(0, room)];
      total = fromFile.length + stored.total;
    } else {
      // Filtering by app_type needs each client's metadata: scan the store in chunks.
      const matching: Auth0Client[] = [...fromFile];
      for (let at = 0; ; at += SCAN_CHUNK) {
        const chunk = await store.listClients({ offset: at, limit: SCAN_CHUNK });
        matching.push(...chunk.clients.map((c) => toAuth0Client(c, withSecret)).filter(wanted));
        if (chunk.clients.length < SCAN_CHUNK) break;
      }
      page = matching.slice(offset, offset + query.perPage);
      total = matching.length;
    }
    const clients = page.map((client) => select(client, query.selection));
    ctx.body = query.totals ? { clients, start: offset, limit: query.perPage, total } : clients;
  });

  router.get('/clients/:id', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.read, CLIENT_SCOPES.readKeys);
    const selection = parseFieldSelection(ctx.query);
    const file = declared.has(ctx.params.id!) ? declaredClients(canReadKeys(caller)).find((c) => c.client_id === ctx.params.id) : undefined;
    const client = file ?? toAuth0Client(await findStored(ctx.params.id!), canReadKeys(caller));
    ctx.body = select(client, selection);
  });

  router.post('/clients', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.create);
    const fields = await body(ctx, 'create');
    const clientId = randomBytes(24).toString('base64url');
    const stored = await validateAndStore(toLibraryMetadata(fields, undefined, { clientId, production }));
    auditManagementChange(logger, caller.clientId, 'client_created', { client_id: clientId, fields: Object.keys(fields) });
    ctx.status = 201;
    // The secret is shown once at creation, as Auth0 does.
    ctx.body = toAuth0Client(stored, true);
  });

  router.patch('/clients/:id', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.update, CLIENT_SCOPES.updateKeys);
    const clientId = ctx.params.id!;
    if (declared.has(clientId)) throw readOnly(clientId);
    const existing = await findStored(clientId);
    const fields = await body(ctx, 'update');
    const stored = await validateAndStore(toLibraryMetadata(fields, existing, { clientId, production }));
    auditManagementChange(logger, caller.clientId, 'client_updated', { client_id: clientId, fields: Object.keys(fields) });
    ctx.body = toAuth0Client(stored, canReadKeys(caller) || caller.scopes.has(CLIENT_SCOPES.updateKeys));
  });

  router.delete('/clients/:id', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.delete);
    const clientId = ctx.params.id!;
    if (declared.has(clientId)) throw readOnly(clientId);
    await findStored(clientId);
    // The client first, so that nothing new is issued to it; then everything it holds.
    await adapter().destroy(clientId);
    await store.revokeByClientId(clientId);
    auditManagementChange(logger, caller.clientId, 'client_deleted', { client_id: clientId });
    ctx.status = 204;
  });

  router.post('/clients/:id/rotate-secret', async (ctx) => {
    const caller = await authorize(ctx, CLIENT_SCOPES.updateKeys);
    const clientId = ctx.params.id!;
    if (declared.has(clientId)) throw readOnly(clientId);
    const existing = await findStored(clientId);
    if (existing.token_endpoint_auth_method === 'none') {
      throw new ManagementError(400, 'operation_not_supported', 'The client has no secret (token_endpoint_auth_method is none)');
    }
    const stored = await validateAndStore({ ...existing, client_secret: newClientSecret() });
    auditManagementChange(logger, caller.clientId, 'client_secret_rotated', { client_id: clientId });
    ctx.body = toAuth0Client(stored, true);
  });
}
