// Our own checks on a registration request (RFC 7591 section 2 and 3.2.2), before the library
// sees it, and the defaults that let a client sending only client_name and redirect_uris use the
// implicit and authorization code flows at once.

import type { Config } from '../config.ts';
import { registrableScopes } from '../provider/scopes.ts';
import { isWebOrigin } from '../config.ts';

export type RegistrationError = { error: 'invalid_redirect_uri' | 'invalid_client_metadata'; error_description: string };

export const MAX_CLIENT_NAME = 200;
export const MAX_REDIRECT_URIS = 20;
export const MAX_URI_LENGTH = 2000;

const AUTH_METHODS = new Set(['none', 'client_secret_post', 'client_secret_basic']);
const GRANT_TYPES = new Set(['authorization_code', 'implicit', 'refresh_token', 'client_credentials']);
const RESPONSE_TYPES = new Set(['code', 'token', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token', 'none']);
const RESPONSE_TYPE_ORDER = ['code', 'id_token', 'token', 'none'];

/** Space-separated parts in one canonical order, duplicates removed; unknown parts kept as sent. */
function normalizeResponseType(type: string): string {
  const parts = [...new Set(type.split(' '))];
  if (!parts.every((part) => RESPONSE_TYPE_ORDER.includes(part))) return type;
  return parts.sort((a, b) => RESPONSE_TYPE_ORDER.indexOf(a) - RESPONSE_TYPE_ORDER.indexOf(b)).join(' ');
}

/** Metadata the issuer fills in when a client does not say. */
export const DEFAULT_GRANT_TYPES = ['authorization_code', 'implicit'];
export const DEFAULT_RESPONSE_TYPES = ['code', 'token', 'id_token token', 'id_token'];
export const DEFAULT_AUTH_METHOD = 'client_secret_post';

const STRING_FIELDS = ['scope', 'client_name', 'logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'initiate_login_uri', 'software_id', 'software_version', 'token_endpoint_auth_method', 'id_token_signed_response_alg', 'userinfo_signed_response_alg', 'application_type', 'subject_type'];
const URI_FIELDS = ['logo_uri', 'client_uri', 'policy_uri', 'tos_uri'];
const STRING_ARRAY_FIELDS = ['redirect_uris', 'post_logout_redirect_uris', 'grant_types', 'response_types', 'contacts', 'default_acr_values'];

// Control and format characters (bidi overrides and isolates, zero-width joiners, line and
// paragraph separators) let a name render as something else on the login and consent pages:
// `Ops console \u202Emoc.elpmaxe\u202C` shows as "Ops console example.com".
const UNSAFE_NAME_CHARACTERS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]/u;

/**
 * The form in which two names count as the same to a reader: compatibility forms folded (a
 * full-width "Ｏｐｓ" is "Ops"), case and runs of white space ignored.
 */
export function comparableName(name: string): string {
  return name.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}

function fail(error: RegistrationError['error'], description: string): RegistrationError {
  return { error, error_description: description };
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

// Metadata that makes the library fetch a URL of the registrant's choosing (any host and port)
// during registration or later: a server-side request forgery from an open endpoint.
const UNSUPPORTED_FIELDS = ['sector_identifier_uri', 'jwks_uri', 'request_uris'];

const ORIGIN_FIELDS = ['web_origins', 'allowed_origins'];

function originsProblem(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return `${field} must be an array of origins`;
  if (value.length > MAX_REDIRECT_URIS) return `at most ${MAX_REDIRECT_URIS} ${field} may be registered`;
  const bad = value.find((v) => typeof v !== 'string' || v.length > MAX_URI_LENGTH || !isWebOrigin(v));
  return bad === undefined ? undefined : `${field} must hold origins, http(s)://host[:port] without a path (${JSON.stringify(String(bad).slice(0, 100))} is not)`;
}

type RedirectField = 'redirect_uris' | 'post_logout_redirect_uris';

function redirectUriProblem(value: unknown, field: RedirectField = 'redirect_uris'): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return `${field} members must be non-empty strings`;
  if (value.length > MAX_URI_LENGTH) return `${field} members must be at most ${MAX_URI_LENGTH} characters`;
  const url = URL.parse(value);
  if (!url) return `${field} must be absolute URIs (${JSON.stringify(value.slice(0, 100))} is not)`;
  if (value.includes('#')) return `${field} must not contain a fragment`;
  return undefined;
}

/**
 * Tokens in a URL fragment go only to https, or to this machine while developing, whatever the
 * application type (a custom scheme or plain http can be claimed by another app or host).
 */
function implicitRedirectProblem(value: string, production: boolean, field: RedirectField = 'redirect_uris'): string | undefined {
  const url = new URL(value);
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return `${field} of clients using the implicit flow must use https`;
  if (production) return `${field} of clients using the implicit flow must use https`;
  if (!LOOPBACK_HOSTS.has(url.hostname)) return `${field} of clients using the implicit flow must use https (http is allowed only for localhost and 127.0.0.1 in development)`;
  return undefined;
}

function responseTypesFor(grantTypes: string[]): string[] {
  return DEFAULT_RESPONSE_TYPES.filter((type) => {
    const parts = type.split(' ');
    const needsCode = parts.includes('code');
    const needsImplicit = parts.includes('token') || parts.includes('id_token');
    return (!needsCode || grantTypes.includes('authorization_code')) && (!needsImplicit || grantTypes.includes('implicit'));
  });
}

function grantTypesFor(responseTypes: string[]): string[] {
  const parts = new Set(responseTypes.flatMap((type) => type.split(' ')));
  return [...(parts.has('code') ? ['authorization_code'] : []), ...(parts.has('token') || parts.has('id_token') ? ['implicit'] : [])];
}

/**
 * Check a parsed body; return the metadata to hand to the library (with our defaults filled
 * in), or the RFC 7591 error to answer with.
 */
export type RegistrationCheckOptions = {
  production: boolean;
  /** The values `scope` may keep (OIDC scopes and the configured APIs' scopes); others are dropped. */
  scopes: ReadonlySet<string>;
  /** Names of the clients ops declared (in comparableName form): a registrant may not take one. */
  reservedNames?: ReadonlySet<string>;
};

/** RFC 8252: native apps use the authorization code flow with PKCE, never the implicit flow. */
const NATIVE_GRANT_TYPES = ['authorization_code'];
const NATIVE_RESPONSE_TYPES = ['code'];

/** The options the issuer's configuration implies: for the gate and for metadata documents alike. */
export function registrationCheckOptions(config: Pick<Config, 'env' | 'apis' | 'clients'>): RegistrationCheckOptions {
  return { production: config.env === 'production', scopes: registrableScopes(config), reservedNames: new Set(config.clients.map((client) => comparableName(client.name))) };
}

export function checkRegistrationMetadata(body: unknown, options: RegistrationCheckOptions): { metadata: Record<string, unknown> } | { refusal: RegistrationError } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { refusal: fail('invalid_client_metadata', 'the request body must be a JSON object') };
  }
  const metadata: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of UNSUPPORTED_FIELDS) {
    if (metadata[field] !== undefined) return { refusal: fail('invalid_client_metadata', `${field} is not supported`) };
  }

  const uris = metadata.redirect_uris;
  if (uris === undefined) return { refusal: fail('invalid_redirect_uri', 'redirect_uris is required') };
  if (!Array.isArray(uris)) return { refusal: fail('invalid_redirect_uri', 'redirect_uris must be an array of URIs') };
  if (uris.length === 0) return { refusal: fail('invalid_redirect_uri', 'redirect_uris must contain at least one URI') };
  if (uris.length > MAX_REDIRECT_URIS) return { refusal: fail('invalid_client_metadata', `at most ${MAX_REDIRECT_URIS} redirect_uris may be registered`) };
  for (const uri of uris) {
    const problem = redirectUriProblem(uri);
    if (problem) return { refusal: fail('invalid_redirect_uri', problem) };
  }

  for (const field of STRING_FIELDS) {
    if (metadata[field] !== undefined && typeof metadata[field] !== 'string') return { refusal: fail('invalid_client_metadata', `${field} must be a string`) };
  }
  for (const field of STRING_ARRAY_FIELDS) {
    const value = metadata[field];
    if (value !== undefined && (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))) {
      return { refusal: fail('invalid_client_metadata', `${field} must be an array of strings`) };
    }
  }
  const logoutUris = (metadata.post_logout_redirect_uris as string[] | undefined) ?? [];
  if (logoutUris.length > MAX_REDIRECT_URIS) return { refusal: fail('invalid_client_metadata', `at most ${MAX_REDIRECT_URIS} post_logout_redirect_uris may be registered`) };
  for (const uri of logoutUris) {
    const problem = redirectUriProblem(uri, 'post_logout_redirect_uris');
    if (problem) return { refusal: fail('invalid_client_metadata', problem) };
  }
  // Auth0's web_origins and allowed_origins: browser origins for CORS and silent sign-in.
  for (const field of ORIGIN_FIELDS) {
    const problem = originsProblem(field, metadata[field]);
    if (problem) return { refusal: fail('invalid_client_metadata', problem) };
  }
  for (const field of URI_FIELDS) {
    const value = metadata[field] as string | undefined;
    if (value !== undefined && (value.length > MAX_URI_LENGTH || !/^https?:$/.test(URL.parse(value)?.protocol ?? ''))) {
      return { refusal: fail('invalid_client_metadata', `${field} must be an http(s) URL of at most ${MAX_URI_LENGTH} characters`) };
    }
  }
  const name = metadata.client_name as string | undefined;
  if (name !== undefined && (name.trim().length === 0 || [...name].length > MAX_CLIENT_NAME)) {
    return { refusal: fail('invalid_client_metadata', `client_name must be 1 to ${MAX_CLIENT_NAME} characters`) };
  }
  if (name !== undefined && UNSAFE_NAME_CHARACTERS.test(name)) {
    return { refusal: fail('invalid_client_metadata', 'client_name must not contain control, format or bidirectional-override characters') };
  }
  if (name !== undefined && options.reservedNames?.has(comparableName(name))) {
    return { refusal: fail('invalid_client_metadata', 'client_name is the name of an application of this tenant; choose another') };
  }
  // An MCP client copies its resource's scopes (`mcp:tools`): keep what the issuer knows, drop the rest.
  if (typeof metadata.scope === 'string') {
    const known = [...new Set(metadata.scope.split(' ').filter((value) => options.scopes.has(value)))];
    if (known.length) metadata.scope = known.join(' ');
    else delete metadata.scope;
  }
  const native = metadata.application_type === 'native';
  // A native app cannot keep a secret (RFC 8252 section 8.5): public unless it says otherwise.
  const auth = (metadata.token_endpoint_auth_method as string | undefined) ?? (native ? 'none' : DEFAULT_AUTH_METHOD);
  if (!AUTH_METHODS.has(auth)) {
    return { refusal: fail('invalid_client_metadata', `token_endpoint_auth_method must be one of ${[...AUTH_METHODS].join(', ')}`) };
  }
  metadata.token_endpoint_auth_method = auth;

  let grantTypes = metadata.grant_types as string[] | undefined;
  let responseTypes = metadata.response_types as string[] | undefined;
  const unknownGrant = grantTypes?.find((g) => !GRANT_TYPES.has(g));
  if (unknownGrant !== undefined) return { refusal: fail('invalid_client_metadata', `unsupported grant_type ${JSON.stringify(unknownGrant.slice(0, 100))}`) };
  if (grantTypes?.includes('client_credentials')) {
    return { refusal: fail('invalid_client_metadata', 'registered clients cannot use the client_credentials grant') };
  }
  // `token id_token` and `id_token token` name the same response type (OIDC Core, section 3).
  responseTypes = responseTypes?.map(normalizeResponseType);
  const unknownResponse = responseTypes?.find((r) => !RESPONSE_TYPES.has(r));
  if (unknownResponse !== undefined) return { refusal: fail('invalid_client_metadata', `unsupported response_type ${JSON.stringify(unknownResponse.slice(0, 100))}`) };

  if (grantTypes && responseTypes) {
    const implied = new Set(grantTypesFor(responseTypes));
    const redirectGrants = grantTypes.filter((g) => g === 'authorization_code' || g === 'implicit');
    if (redirectGrants.length !== implied.size || !redirectGrants.every((g) => implied.has(g))) {
      return { refusal: fail('invalid_client_metadata', 'grant_types and response_types are inconsistent (code needs authorization_code; token and id_token need implicit)') };
    }
  } else if (grantTypes) {
    responseTypes = responseTypesFor(grantTypes);
  } else if (responseTypes) {
    grantTypes = grantTypesFor(responseTypes);
  } else {
    grantTypes = [...(native ? NATIVE_GRANT_TYPES : DEFAULT_GRANT_TYPES)];
    responseTypes = [...(native ? NATIVE_RESPONSE_TYPES : DEFAULT_RESPONSE_TYPES)];
  }
  if (native && (grantTypes.includes('implicit') || responseTypes.some((type) => type !== 'code'))) {
    return { refusal: fail('invalid_client_metadata', 'native clients use the authorization code flow with PKCE (RFC 8252): grant_types authorization_code (and refresh_token), response_types code') };
  }
  metadata.grant_types = grantTypes;
  metadata.response_types = responseTypes;
  if (grantTypes.includes('implicit')) {
    for (const uri of uris as string[]) {
      const problem = implicitRedirectProblem(uri, options.production);
      if (problem) return { refusal: fail('invalid_redirect_uri', problem) };
    }
    for (const uri of logoutUris) {
      const problem = implicitRedirectProblem(uri, options.production, 'post_logout_redirect_uris');
      if (problem) return { refusal: fail('invalid_client_metadata', problem) };
    }
  }
  return { metadata };
}
