// Auth0's application fields and oidc-provider's client metadata, both ways, and the checks on
// what POST and PATCH /api/v2/clients accept. Pure: each function returns a value or throws a
// 400 ManagementError in Auth0's words. The library validates the result again (its own schema)
// before anything is stored (src/management/clients.ts).
import { randomBytes } from 'node:crypto';

import type { ClientConfig } from '../config.ts';
import { comparableName, MAX_REDIRECT_URIS, MAX_URI_LENGTH } from '../registration/metadata.ts';
import { ManagementError } from './errors.ts';

export const APP_TYPES = ['spa', 'regular_web', 'native', 'non_interactive'] as const;
export type AppType = (typeof APP_TYPES)[number];

/** An application as Auth0's Management API shows it. */
export type Auth0Client = {
  client_id: string;
  client_secret?: string;
  name: string;
  description?: string;
  app_type?: AppType;
  is_first_party: boolean;
  callbacks: string[];
  allowed_logout_urls: string[];
  web_origins: string[];
  allowed_origins: string[];
  grant_types: string[];
  token_endpoint_auth_method: string;
  logo_uri?: string;
  client_metadata: Record<string, string>;
  created_at?: string;
};

const AUTH_METHODS = ['none', 'client_secret_post', 'client_secret_basic'];
const GRANT_TYPES = ['authorization_code', 'implicit', 'refresh_token', 'client_credentials'];
/** Auth0's grant types for a new application of each type. */
const DEFAULT_GRANTS: Record<AppType, string[]> = {
  spa: ['authorization_code', 'implicit', 'refresh_token'],
  native: ['authorization_code', 'implicit', 'refresh_token'],
  regular_web: ['authorization_code', 'implicit', 'refresh_token', 'client_credentials'],
  non_interactive: ['client_credentials'],
};
const MAX_NAME = 200;
const MAX_DESCRIPTION = 140;
const MAX_METADATA_KEYS = 10;
const MAX_METADATA_LENGTH = 255;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
// Shown on the login and consent pages: markup is refused as Auth0 refuses it, and control,
// format and bidi-override characters as registration refuses them (a name that renders as
// another, src/registration/metadata.ts).
const UNSHOWABLE = /[<>\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]/u;

type Metadata = Record<string, unknown>;

function invalid(detail: string, property?: string): ManagementError {
  return new ManagementError(400, 'invalid_body', `Payload validation error: '${detail}'${property ? ` on property ${property}` : ''}.`);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

export function newClientSecret(): string {
  return randomBytes(48).toString('base64url');
}

function appTypeOf(metadata: Metadata): AppType | undefined {
  const stored = metadata.app_type;
  if (typeof stored === 'string' && (APP_TYPES as readonly string[]).includes(stored)) return stored as AppType;
  return undefined;
}

/** A stored client in Auth0's shape; `withSecret` when the caller may read client keys. */
export function toAuth0Client(metadata: Metadata, withSecret: boolean): Auth0Client {
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
  const out: Auth0Client = {
    client_id: String(metadata.client_id),
    name: String(metadata.client_name ?? metadata.client_id),
    ...(typeof metadata.description === 'string' ? { description: metadata.description } : {}),
    ...(appTypeOf(metadata) ? { app_type: appTypeOf(metadata) } : {}),
    is_first_party: false,
    callbacks: strings(metadata.redirect_uris),
    allowed_logout_urls: strings(metadata.post_logout_redirect_uris),
    web_origins: strings(metadata.web_origins),
    allowed_origins: strings(metadata.allowed_origins),
    grant_types: strings(metadata.grant_types),
    token_endpoint_auth_method: String(metadata.token_endpoint_auth_method ?? 'client_secret_basic'),
    ...(typeof metadata.logo_uri === 'string' ? { logo_uri: metadata.logo_uri } : {}),
    client_metadata: (metadata.client_metadata && typeof metadata.client_metadata === 'object' ? metadata.client_metadata : {}) as Record<string, string>,
    ...(typeof metadata.created_at === 'string' ? { created_at: metadata.created_at } : {}),
  };
  if (withSecret && typeof metadata.client_secret === 'string') out.client_secret = metadata.client_secret;
  return out;
}

/** A client declared in the config file, in Auth0's shape: first-party, read-only. */
export function configClientToAuth0(client: ClientConfig, withSecret: boolean): Auth0Client {
  const interactive = client.grant_types.some((g) => g === 'authorization_code' || g === 'implicit');
  const auth = client.token_endpoint_auth_method ?? (client.client_secret ? 'client_secret_basic' : 'none');
  const appType: AppType = !interactive ? 'non_interactive' : auth === 'none' ? 'spa' : 'regular_web';
  return {
    client_id: client.client_id,
    ...(withSecret && client.client_secret ? { client_secret: client.client_secret } : {}),
    name: client.name,
    app_type: appType,
    is_first_party: true,
    callbacks: client.redirect_uris,
    allowed_logout_urls: [],
    web_origins: [],
    allowed_origins: [],
    grant_types: client.grant_types,
    token_endpoint_auth_method: auth,
    client_metadata: {},
  };
}

function stringList(value: unknown, property: string, check: (item: string) => string | undefined): string[] {
  if (!Array.isArray(value)) throw invalid(`Expected type array but found type ${jsonType(value)}`, property);
  if (value.length > MAX_REDIRECT_URIS) throw invalid(`Array is too long (${value.length}), maximum ${MAX_REDIRECT_URIS}`, property);
  return value.map((item, i) => {
    if (typeof item !== 'string') throw invalid(`Expected type string but found type ${jsonType(item)}`, `${property}[${i}]`);
    const problem = check(item);
    if (problem) throw invalid(problem, `${property}[${i}]`);
    return item;
  });
}

function uriProblem(value: string): string | undefined {
  if (value.length === 0 || value.length > MAX_URI_LENGTH) return `String must be 1 to ${MAX_URI_LENGTH} characters`;
  const url = URL.parse(value);
  if (!url || !/^[a-z][a-z0-9+.-]*:$/.test(url.protocol)) return 'Must be an absolute URI';
  if (value.includes('#')) return 'Must not contain a fragment';
  if (/[\p{Cc}\s]/u.test(value)) return 'Must not contain spaces or control characters';
  return undefined;
}

function originProblem(value: string): string | undefined {
  const url = URL.parse(value);
  if (!url || !/^https?:$/.test(url.protocol) || url.origin !== value.replace(/\/$/, '')) return 'Must be an origin (scheme://host[:port])';
  return undefined;
}

function httpUrlProblem(value: string): string | undefined {
  if (value.length > MAX_URI_LENGTH || !/^https?:$/.test(URL.parse(value)?.protocol ?? '')) return `Must be an http(s) URL of at most ${MAX_URI_LENGTH} characters`;
  return undefined;
}

/** What a create or update may set, Auth0's names. */
const WRITABLE = ['name', 'description', 'app_type', 'callbacks', 'allowed_logout_urls', 'web_origins', 'allowed_origins', 'grant_types', 'token_endpoint_auth_method', 'logo_uri', 'client_metadata'];
/** Auth0 fields this issuer shows but does not let a request set, and why. */
const NOT_WRITABLE: Record<string, string> = {
  client_id: 'client_id is generated',
  client_secret: 'client_secret is generated; use POST /api/v2/clients/{id}/rotate-secret',
  is_first_party: 'only clients declared in the config file are first-party',
  created_at: 'created_at is set by the issuer',
};

/** Parse a POST or PATCH body (text) into Auth0 fields; a PATCH may be partial. */
export function parseClientBody(text: string, mode: 'create' | 'update', reservedNames: ReadonlySet<string> = new Set()): Partial<Record<string, unknown>> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ManagementError(400, 'invalid_body', 'Invalid request payload JSON format');
  }
  if (jsonType(body) !== 'object') throw invalid(`Expected type object but found type ${jsonType(body)}`);
  const fields = body as Record<string, unknown>;
  for (const [name, reason] of Object.entries(NOT_WRITABLE)) {
    if (fields[name] !== undefined) throw invalid(`Property cannot be set: ${reason}`, name);
  }
  const extra = Object.keys(fields).filter((name) => !WRITABLE.includes(name));
  if (extra.length) throw invalid(`Additional properties not allowed: ${extra.slice(0, 10).join(',')}`);
  if (mode === 'create' && fields.name === undefined) throw invalid('Missing required property: name');

  const out: Record<string, unknown> = {};
  if (fields.name !== undefined) {
    const name = fields.name;
    if (typeof name !== 'string') throw invalid(`Expected type string but found type ${jsonType(name)}`, 'name');
    if (name.trim().length === 0 || [...name].length > MAX_NAME) throw invalid(`String must be 1 to ${MAX_NAME} characters`, 'name');
    if (UNSHOWABLE.test(name)) throw invalid('String must not contain < > or control, format or bidirectional-override characters', 'name');
    // Third-party by construction: it may not pose as an application ops declared.
    if (reservedNames.has(comparableName(name))) throw invalid('String is the name of an application declared in the config file; choose another', 'name');
    out.name = name;
  }
  if (fields.description !== undefined) {
    const description = fields.description;
    if (typeof description !== 'string') throw invalid(`Expected type string but found type ${jsonType(description)}`, 'description');
    if ([...description].length > MAX_DESCRIPTION) throw invalid(`String is too long, maximum ${MAX_DESCRIPTION}`, 'description');
    if (UNSHOWABLE.test(description)) throw invalid('String must not contain < > or control, format or bidirectional-override characters', 'description');
    out.description = description;
  }
  if (fields.app_type !== undefined) {
    if (typeof fields.app_type !== 'string' || !(APP_TYPES as readonly string[]).includes(fields.app_type)) throw invalid(`Must be one of ${APP_TYPES.join(', ')}`, 'app_type');
    out.app_type = fields.app_type;
  }
  if (fields.callbacks !== undefined) out.callbacks = stringList(fields.callbacks, 'callbacks', uriProblem);
  if (fields.allowed_logout_urls !== undefined) out.allowed_logout_urls = stringList(fields.allowed_logout_urls, 'allowed_logout_urls', uriProblem);
  if (fields.web_origins !== undefined) out.web_origins = stringList(fields.web_origins, 'web_origins', originProblem);
  if (fields.allowed_origins !== undefined) out.allowed_origins = stringList(fields.allowed_origins, 'allowed_origins', originProblem);
  if (fields.grant_types !== undefined) {
    out.grant_types = stringList(fields.grant_types, 'grant_types', (g) => (GRANT_TYPES.includes(g) ? undefined : `Must be one of ${GRANT_TYPES.join(', ')}`));
  }
  if (fields.token_endpoint_auth_method !== undefined) {
    const method = fields.token_endpoint_auth_method;
    if (typeof method !== 'string' || !AUTH_METHODS.includes(method)) throw invalid(`Must be one of ${AUTH_METHODS.join(', ')}`, 'token_endpoint_auth_method');
    out.token_endpoint_auth_method = method;
  }
  if (fields.logo_uri !== undefined) {
    if (typeof fields.logo_uri !== 'string') throw invalid(`Expected type string but found type ${jsonType(fields.logo_uri)}`, 'logo_uri');
    const problem = httpUrlProblem(fields.logo_uri);
    if (problem) throw invalid(problem, 'logo_uri');
    out.logo_uri = fields.logo_uri;
  }
  if (fields.client_metadata !== undefined) {
    const metadata = fields.client_metadata;
    if (jsonType(metadata) !== 'object') throw invalid(`Expected type object but found type ${jsonType(metadata)}`, 'client_metadata');
    const entries = Object.entries(metadata as Record<string, unknown>);
    if (entries.length > MAX_METADATA_KEYS) throw invalid(`Too many properties, maximum ${MAX_METADATA_KEYS}`, 'client_metadata');
    for (const [key, value] of entries) {
      if (!/^[A-Za-z0-9_-]{1,255}$/.test(key)) throw invalid('Keys must be 1 to 255 characters of A-Z a-z 0-9 _ -', 'client_metadata');
      if (typeof value !== 'string' || value.length > MAX_METADATA_LENGTH) throw invalid(`Values must be strings of at most ${MAX_METADATA_LENGTH} characters`, `client_metadata.${key}`);
    }
    out.client_metadata = metadata;
  }
  return out;
}

function responseTypesFor(grantTypes: string[]): string[] {
  return [
    ...(grantTypes.includes('authorization_code') ? ['code'] : []),
    ...(grantTypes.includes('implicit') ? ['token', 'id_token token', 'id_token'] : []),
    ...(grantTypes.includes('authorization_code') && grantTypes.includes('implicit') ? ['code id_token', 'code token', 'code id_token token'] : []),
  ];
}

/**
 * The library metadata for a client: `existing` (a stored client, for an update) with `fields`
 * (Auth0's names) applied. The secret is kept, made when the method needs one, dropped when not.
 */
export function toLibraryMetadata(fields: Record<string, unknown>, existing: Metadata | undefined, options: { clientId: string; production: boolean; now?: Date }): Metadata {
  const metadata: Metadata = existing ? { ...existing } : { client_id: options.clientId, created_at: (options.now ?? new Date()).toISOString() };
  const appType = (fields.app_type as AppType | undefined) ?? appTypeOf(metadata) ?? 'regular_web';
  metadata.app_type = appType;
  if (fields.name !== undefined) metadata.client_name = fields.name;
  if (fields.description !== undefined) metadata.description = fields.description;
  if (fields.callbacks !== undefined) metadata.redirect_uris = fields.callbacks;
  if (fields.allowed_logout_urls !== undefined) metadata.post_logout_redirect_uris = fields.allowed_logout_urls;
  if (fields.web_origins !== undefined) metadata.web_origins = fields.web_origins;
  if (fields.allowed_origins !== undefined) metadata.allowed_origins = fields.allowed_origins;
  if (fields.logo_uri !== undefined) metadata.logo_uri = fields.logo_uri;
  if (fields.client_metadata !== undefined) metadata.client_metadata = fields.client_metadata;
  if (fields.grant_types !== undefined || !existing) metadata.grant_types = [...new Set((fields.grant_types as string[] | undefined) ?? DEFAULT_GRANTS[appType])];
  const grants = metadata.grant_types as string[];
  // A registered client keeps the response types it registered unless its grants change.
  if (fields.grant_types !== undefined || !existing) metadata.response_types = responseTypesFor(grants);
  metadata.redirect_uris ??= [];
  metadata.application_type = appType === 'native' ? 'native' : 'web';
  const method = (fields.token_endpoint_auth_method as string | undefined) ?? (metadata.token_endpoint_auth_method as string | undefined) ?? (appType === 'spa' || appType === 'native' ? 'none' : 'client_secret_post');
  metadata.token_endpoint_auth_method = method;
  if (method === 'none') delete metadata.client_secret;
  else if (typeof metadata.client_secret !== 'string') metadata.client_secret = newClientSecret();

  if ((metadata.response_types as string[]).length && !(metadata.redirect_uris as string[]).length) {
    throw invalid('callbacks must list at least one URL for the authorization_code and implicit grants', 'callbacks');
  }
  if (method === 'none' && grants.includes('client_credentials')) {
    throw invalid('client_credentials needs a client secret: token_endpoint_auth_method cannot be none', 'grant_types');
  }
  // Tokens in a URL fragment go only to https, or to this machine while developing.
  if (grants.includes('implicit') && metadata.application_type === 'web') {
    for (const uri of [...(metadata.redirect_uris as string[]), ...((metadata.post_logout_redirect_uris as string[] | undefined) ?? [])]) {
      const url = new URL(uri);
      if (url.protocol === 'https:') continue;
      if (options.production || url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname)) {
        throw invalid(`${uri.slice(0, 100)}: clients using the implicit grant need https URLs${options.production ? '' : ' (http only for localhost and 127.0.0.1 in development)'}`, 'callbacks');
      }
    }
  }
  return metadata;
}
