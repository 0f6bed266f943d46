// The applications of the tenant, for the Management API (/api/v2/clients) and the Dashboard
// alike: one place that lists them, validates a change with the library's own client schema before
// storing it, and deletes a client with everything it holds. Clients declared by ops (the config
// file, the Dashboard's own client) are listed first-party and read-only. Errors are Auth0's
// (ManagementError); each caller audits with its own actor.
import { randomBytes } from 'node:crypto';

import type Provider from 'oidc-provider';

import { firstPartyClientIds } from '../config.ts';
import type { Config } from '../config.ts';
import { dashboardClients } from '../dashboard/client.ts';
import type { AdapterPayload, Store } from '../../adapters/contract.ts';
import { corsOrigins, ORIGIN_MODEL } from '../provider/client_cors.ts';
import { comparableName } from '../registration/metadata.ts';
import { configClientToAuth0, newClientSecret, toAuth0Client, toLibraryMetadata } from './client_fields.ts';
import type { Auth0Client } from './client_fields.ts';
import { ManagementError } from './errors.ts';

const SCAN_CHUNK = 500;
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

export type ClientFilter = {
  firstParty?: boolean;
  appTypes?: ReadonlySet<string>;
  global?: boolean;
  /** Only clients that registered themselves at /oidc/register (no app_type, third-party). */
  registeredOnly?: boolean;
};

export type ClientPage = { clients: Auth0Client[]; offset: number; total: number };

export type ClientsService = {
  /** Names a registrant or an API caller may not take (comparableName form). */
  readonly reservedNames: ReadonlySet<string>;
  isDeclared(clientId: string): boolean;
  /** Throws Auth0's 400 for a declared client, 404 for an unknown one. */
  assertChangeable(clientId: string): Promise<void>;
  list(options: ClientFilter & { offset: number; limit: number; withSecret: boolean }): Promise<ClientPage>;
  get(clientId: string, withSecret: boolean): Promise<Auth0Client>;
  create(fields: Record<string, unknown>): Promise<Auth0Client>;
  update(clientId: string, fields: Record<string, unknown>): Promise<Auth0Client>;
  /** Delete the client, then everything it holds (grants, tokens, sessions' authorizations). */
  remove(clientId: string): Promise<void>;
  rotateSecret(clientId: string): Promise<Auth0Client>;
};

function notFound(): ManagementError {
  return new ManagementError(404, 'inexistent_client', 'The client does not exist');
}

export function createClientsService(deps: { config: Pick<Config, 'clients' | 'env' | 'dashboard' | 'issuer'>; provider: Provider; store: Store }): ClientsService {
  const { config, provider, store } = deps;
  const declared = firstPartyClientIds(config);
  const declaredClients = (withSecret: boolean): Auth0Client[] => [
    ...config.clients.map((client) => configClientToAuth0(client, withSecret)),
    ...dashboardClients(config).map((metadata) => ({ ...toAuth0Client(metadata as Record<string, unknown>, withSecret), app_type: 'spa' as const, is_first_party: true })),
  ];
  const adapter = () => store.adapterFor('Client');
  const production = config.env === 'production';

  function readOnly(clientId: string): ManagementError {
    return new ManagementError(400, 'operation_not_supported', `The client ${clientId} is declared in the config file and cannot be changed through the Management API; change it in the file`);
  }

  async function findStored(clientId: string): Promise<AdapterPayload> {
    if (!CLIENT_ID.test(clientId)) throw notFound();
    const stored = await adapter().find(clientId);
    if (!stored) throw notFound();
    return stored;
  }

  async function changeable(clientId: string): Promise<AdapterPayload> {
    if (declared.has(clientId)) throw readOnly(clientId);
    return findStored(clientId);
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

  return {
    reservedNames: new Set(config.clients.map((client) => comparableName(client.name))),
    isDeclared: (clientId) => declared.has(clientId),
    async assertChangeable(clientId) {
      await changeable(clientId);
    },

    async list({ offset, limit, withSecret, ...filter }) {
      const wanted = (client: Auth0Client) =>
        (filter.firstParty === undefined || client.is_first_party === filter.firstParty) &&
        (filter.global !== true) &&
        (!filter.appTypes || (client.app_type !== undefined && filter.appTypes.has(client.app_type))) &&
        (!filter.registeredOnly || (!client.is_first_party && client.app_type === undefined));
      const fromFile = declaredClients(withSecret).filter(wanted);
      const storedWanted = filter.firstParty !== true && filter.global !== true;
      if (!storedWanted) return { clients: fromFile.slice(offset, offset + limit), offset, total: fromFile.length };
      if (!filter.appTypes && !filter.registeredOnly) {
        // Unfiltered stored clients page in the store itself.
        const skip = Math.max(0, offset - fromFile.length);
        const fileSlice = fromFile.slice(offset, offset + limit);
        const room = limit - fileSlice.length;
        const stored = await store.listClients({ offset: skip, limit: Math.max(room, 1) });
        const storedClients = stored.clients.filter((c) => !declared.has(String(c.client_id))).map((c) => toAuth0Client(c, withSecret));
        return { clients: [...fileSlice, ...storedClients.slice(0, room)], offset, total: fromFile.length + stored.total };
      }
      // Filtering by what each client's metadata says: scan the store in chunks.
      const matching: Auth0Client[] = [...fromFile];
      for (let at = 0; ; at += SCAN_CHUNK) {
        const chunk = await store.listClients({ offset: at, limit: SCAN_CHUNK });
        matching.push(...chunk.clients.map((c) => toAuth0Client(c, withSecret)).filter(wanted));
        if (chunk.clients.length < SCAN_CHUNK) break;
      }
      return { clients: matching.slice(offset, offset + limit), offset, total: matching.length };
    },

    async get(clientId, withSecret) {
      const file = declared.has(clientId) ? declaredClients(withSecret).find((c) => c.client_id === clientId) : undefined;
      return file ?? toAuth0Client(await findStored(clientId), withSecret);
    },

    async create(fields) {
      const clientId = randomBytes(24).toString('base64url');
      return toAuth0Client(await validateAndStore(toLibraryMetadata(fields, undefined, { clientId, production })), true);
    },

    async update(clientId, fields) {
      const existing = await changeable(clientId);
      return toAuth0Client(await validateAndStore(toLibraryMetadata(fields, existing, { clientId, production })), true);
    },

    async remove(clientId) {
      await changeable(clientId);
      // The client first, so that nothing new is issued to it; then everything it holds.
      await adapter().destroy(clientId);
      await store.revokeByClientId(clientId);
    },

    async rotateSecret(clientId) {
      const existing = await changeable(clientId);
      if (existing.token_endpoint_auth_method === 'none') {
        throw new ManagementError(400, 'operation_not_supported', 'The client has no secret (token_endpoint_auth_method is none)');
      }
      return toAuth0Client(await validateAndStore({ ...existing, client_secret: newClientSecret() }), true);
    },
  };
}
