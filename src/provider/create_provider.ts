// The one configured oidc-provider instance: Auth0's paths, the store as adapter, our keys,
// accounts, pages and resource servers. OAuth and OIDC logic stays in the library.
import Provider, { errors } from 'oidc-provider';
import type { ClientMetadata, Configuration, KoaContextWithOIDC, ResourceServer, ResponseType } from 'oidc-provider';

import type { Config } from '../config.ts';
import { firstPartyClientIds, managementAudience } from '../config.ts';
import { dashboardClients } from '../dashboard/client.ts';
import type { Store } from '../../adapters/contract.ts';
import type { Accounts } from './accounts.ts';
import { accountClaims, OIDC_CLAIMS } from './accounts.ts';
import { findConsentGrant, newConsentGrant } from './consent_grant.ts';
import { AUTH0_ROUTES, INTERACTION_PATH } from './routes.ts';
import type { SigningKeys } from './keys.ts';
import { createAccessTokenCustomizer } from './access_token_claims.ts';
import { clientCredentialsAudience, grantedScopesFor, isClientCredentials } from './client_credentials.ts';
import { allowBareTokenResponseType } from './bare_token_response_type.ts';
import { allowLocalRedirectsForImplicit } from './local_development_redirects.ts';
import { checkStateLength } from './state_limit.ts';
import { apiScopes, OIDC_SCOPES } from './scopes.ts';
import { registrationClientId } from '../registration/library_route_lock.ts';
import { registrationCheckOptions } from '../registration/metadata.ts';
import { clientIdMetadataDocumentFeature, clientIdOf, describeMetadataDocumentError } from './client_id_metadata_document.ts';
import { createMetadataDocumentFetch, METADATA_DOCUMENT_MAX_BYTES } from './metadata_document_fetch.ts';
import type { TenantSettingsService } from '../tenant/settings.ts';
import { allowApiScopesInClientMetadata } from './api_scopes_in_client_metadata.ts';
import { exactPortForLocalhost } from './loopback_redirects.ts';
import { errorPage } from '../interactions/views.ts';
import { isWebOrigin } from '../config.ts';
import { clientBasedCORS } from './client_cors.ts';
import { webMessageResponseMode } from './web_message_response_mode.ts';
import { keepOfflineAccess, OFFLINE_ACCESS_HOOK, refreshTokenTtl, rotateRefreshToken } from './refresh_tokens.ts';
import { logoutSource, postLogoutSuccessSource } from './auth0_logout.ts';
import { MANAGEMENT_CLIENT_METADATA, managementMetadataValidator } from './management_metadata.ts';

export const MANAGEMENT_TOKEN_LIFETIME = 86_400;

export type ProviderDeps = {
  config: Config;
  store: Store;
  accounts: Accounts;
  signingKeys: SigningKeys;
  cookieKeys: string[];
  /** Tenant flags decided per request (Client ID Metadata Documents). */
  tenant: TenantSettingsService;
};

function staticClients(config: Config): ClientMetadata[] {
  return config.clients.map((client) => {
    const implied: ResponseType[] = [
      ...(client.grant_types.includes('authorization_code') ? (['code'] as const) : []),
      ...(client.grant_types.includes('implicit') ? (['id_token token', 'id_token'] as const) : []),
    ];
    const responseTypes = client.response_types.length ? (client.response_types as ResponseType[]) : implied;
    return {
      client_id: client.client_id,
      client_secret: client.client_secret,
      client_name: client.name,
      grant_types: client.grant_types,
      response_types: responseTypes,
      redirect_uris: client.redirect_uris,
      token_endpoint_auth_method: client.token_endpoint_auth_method ?? (client.client_secret ? 'client_secret_basic' : 'none'),
      // Auth0's client fields: browser origins (CORS, silent sign-in) and where logout may return.
      web_origins: client.web_origins,
      allowed_origins: client.allowed_origins,
      post_logout_redirect_uris: client.allowed_logout_urls,
    };
  });
}

export function createProvider(deps: ProviderDeps): Provider {
  const { config, store, accounts, signingKeys, cookieKeys } = deps;
  const firstParty = firstPartyClientIds(config);
  const apis = new Map(config.apis.map((api) => [api.identifier, api]));
  const mgmtAudience = managementAudience(config);
  const userinfoAudience = new URL('userinfo', config.issuer).href;

  function grantedScopes(clientId: string, audience: string): string[] | undefined {
    const grant = config.client_grants.find((g) => g.client_id === clientId && g.audience === audience);
    return grant?.scope;
  }

  async function getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string, client: InstanceType<Provider['Client']>): Promise<ResourceServer> {
    const machine = isClientCredentials(ctx);
    const api = apis.get(indicator);
    // Machine tokens: only the scopes of `client_grants`, refused in Auth0's words otherwise.
    const granted = machine ? grantedScopesFor(ctx, indicator, indicator === mgmtAudience || api !== undefined, grantedScopes(client.clientId, indicator)) : undefined;
    if (indicator === mgmtAudience) {
      if (!granted) throw new errors.InvalidTarget('the Management API is only available to clients granted access to it');
      return { scope: granted.join(' '), audience: indicator, accessTokenTTL: MANAGEMENT_TOKEN_LIFETIME, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
    }
    if (!api) throw new errors.InvalidTarget(`unknown audience: ${indicator} is not an API of this issuer`);
    const scopes = machine ? granted : api.scopes;
    if (!scopes) throw new errors.InvalidTarget(`this client is not granted access to ${indicator}`);
    return { scope: scopes.join(' '), audience: indicator, accessTokenTTL: api.token_lifetime, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
  }

  const configuration: Configuration = {
    adapter: (name: string) => store.adapterFor(name),
    clients: [...staticClients(config), ...dashboardClients(config)],
    jwks: signingKeys as Configuration['jwks'],
    cookies: { keys: cookieKeys },
    routes: AUTH0_ROUTES,
    claims: OIDC_CLAIMS,
    scopes: [...OIDC_SCOPES],
    extraParams: { audience: null, state: checkStateLength, [OFFLINE_ACCESS_HOOK]: keepOfflineAccess },
    // Auth0's web_origins and allowed_origins: lists of browser origins (src/provider/client_cors.ts).
    // And the Management API's own fields (src/provider/management_metadata.ts).
    extraClientMetadata: {
      properties: ['web_origins', 'allowed_origins', ...MANAGEMENT_CLIENT_METADATA],
      validator(ctx, key, value, metadata) {
        if (MANAGEMENT_CLIENT_METADATA.includes(key)) return managementMetadataValidator(ctx, key, value, metadata);
        if (value === undefined) return;
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && isWebOrigin(v))) {
          throw new errors.InvalidClientMetadata(`${key} must be an array of origins (http(s)://host[:port], without a path)`);
        }
      },
    },
    conformIdTokenClaims: false,
    // Never fetch a registrant's sector_identifier_uri (any host and port: SSRF). The registration
    // gate refuses the field; this holds should a client carrying it reach the library another way.
    sectorIdentifierUriValidate: () => false,
    // RS256 with the issuer's key, or HS256 with the client's secret for clients that register it.
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'HS256'] },
    // PKCE (S256, the library's only method) for public clients, and for every native app
    // (RFC 8252 section 8.1), secret or not.
    pkce: {
      required: (_ctx, client) => client.clientAuthMethod === 'none' || client.applicationType === 'native',
    },
    responseTypes: ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token', 'none'],
    // Client ID Metadata Documents: fetched under the issuer's own limits (metadata_document_fetch.ts).
    fetch: createMetadataDocumentFetch({ development: config.env === 'development' }) as Configuration['fetch'],
    fetchResponseBodyLimits: { 'client_id metadata document': METADATA_DOCUMENT_MAX_BYTES },
    features: {
      clientIdMetadataDocument: clientIdMetadataDocumentFeature({ tenant: deps.tenant, checks: registrationCheckOptions(config) }),
      devInteractions: { enabled: false },
      // No registration access token: RFC 7592 management is not offered, so the response carries
      // neither registration_access_token nor registration_client_uri, and nothing is stored for them.
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false, idFactory: registrationClientId },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      // Auth0's /v2/logout: no question asked; third-party logout URLs only when proven (auth0_logout.ts).
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      webMessageResponseMode,
      resourceIndicators: {
        enabled: true,
        // Auth0 names the API with `audience`; the library with `resource` (RFC 8707).
        async defaultResource(ctx) {
          if (isClientCredentials(ctx)) return clientCredentialsAudience(ctx);
          const audience = ctx.oidc.params?.audience;
          // Auth0's `audience=<issuer>userinfo` asks for a token for /userinfo only: no API.
          return typeof audience === 'string' && audience && audience !== userinfoAudience ? audience : undefined;
        },
        getResourceServerInfo,
        async useGrantedResource() {
          return true;
        },
      },
    },
    formats: {
      customizers: { jwt: createAccessTokenCustomizer(config.issuer) as NonNullable<NonNullable<Configuration['formats']>['customizers']>['jwt'] },
    },
    interactions: {
      url: (_ctx, interaction) => `${INTERACTION_PATH}${interaction.uid}`,
    },
    async findAccount(_ctx, sub) {
      const account = accounts.find(sub);
      if (!account) return undefined;
      return {
        accountId: account.sub,
        async claims() {
          return accountClaims(account);
        },
      };
    },
    async loadExistingGrant(ctx) {
      const client = ctx.oidc.client!;
      const accountId = ctx.oidc.session!.accountId!;
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(client.clientId);
      const existing = await findConsentGrant(ctx.oidc.provider, accountId, client.clientId, grantId);
      // Third-party clients get what the user consented to (the consent prompt asks for the rest);
      // clients declared by ops are first-party: what they ask for is granted without a page.
      if (!firstParty.has(client.clientId)) return existing;
      const grant = existing ?? newConsentGrant(ctx.oidc.provider, accountId, client.clientId);
      grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
      if (ctx.oidc.claims) grant.addOIDCClaims(Object.keys({ ...ctx.oidc.claims.id_token, ...ctx.oidc.claims.userinfo }));
      for (const [indicator, server] of Object.entries(ctx.oidc.resourceServers ?? {})) {
        grant.addResourceScope(indicator, [...ctx.oidc.requestParamScopes].filter((s) => server.scopes.has(s)).join(' '));
      }
      await grant.save();
      return grant;
    },
    clientBasedCORS,
    rotateRefreshToken,
    async renderError(ctx, out) {
      ctx.type = 'html';
      const described = describeMetadataDocumentError(out, clientIdOf(ctx));
      ctx.body = errorPage({ error: described.error, description: described.error_description });
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 7200,
      AuthorizationCode: 60,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? MANAGEMENT_TOKEN_LIFETIME,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      IdToken: 36_000,
      Interaction: 3600,
      RefreshToken: refreshTokenTtl(config) as NonNullable<Configuration['ttl']>['RefreshToken'],
      Session: 3 * 86_400,
      Grant: 365 * 86_400,
    },
  };

  const provider = new Provider(config.issuer, configuration);
  allowBareTokenResponseType(provider);
  allowApiScopesInClientMetadata(provider, apiScopes(config));
  exactPortForLocalhost(provider);
  if (config.env !== 'production') allowLocalRedirectsForImplicit(provider);
  provider.proxy = config.proxy;
  return provider;
}
