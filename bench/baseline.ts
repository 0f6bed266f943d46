// The baseline: bare oidc-provider 9.13.3 with its own in-memory adapter and the configuration
// the issuer gives it (Auth0's paths, open registration, client_credentials and resource
// indicators for the same API, the same scopes and claims, an RS256 key), behind node:http with
// no Koa app, logs, metrics or gates in front. It is the upper bound of any extension of the
// library: every benchmark scenario runs against it in the same run (bench/run.ts).
//
// With BASELINE_REDIS_URL, the library stores through the project's Redis adapter
// (adapters/redis.ts) instead of its memory; with BASELINE_SQLITE_FILE, through the SQLite one
// (adapters/sqlite.ts, built as src/main.ts builds it: synchronous=FULL with group commit). The
// issuer over a store against the bare library over the same store is the extension's own cost
// (issue 15, item 1), with what the store costs on both sides.
//
// Run as a child process: `PORT=... ISSUER=http://127.0.0.1:PORT/ node bench/baseline.ts`; it
// prints `baseline ready at <issuer>` once listening. Its login is headless: GET
// /interaction/<uid> logs in the fixed account, and grants what the consent prompt asks.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { Configuration, InteractionResults } from 'oidc-provider';

import { createRedisStore } from '../adapters/redis.ts';
import { createRedisClient } from '../adapters/redis_client.ts';
import { createSqliteStore } from '../adapters/sqlite.ts';
import { isClientCredentials } from '../src/provider/client_credentials.ts';
import { OIDC_CLAIMS } from '../src/provider/accounts.ts';
import { refreshTokenTtl, rotateRefreshToken } from '../src/provider/refresh_tokens.ts';
import { AUTH0_ROUTES } from '../src/provider/routes.ts';
import { BASELINE_ACCOUNT, BASELINE_READY, CONTACTS_API, OPS_CLIENT, REFRESH_TOKEN_LIFETIMES } from './fixtures.ts';

const port = Number(process.env.PORT ?? 0);
const issuer = process.env.ISSUER ?? `http://127.0.0.1:${port}/`;

const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'baseline', alg: 'RS256', use: 'sig' };

function createStore() {
  const redisUrl = process.env.BASELINE_REDIS_URL;
  const sqliteFile = process.env.BASELINE_SQLITE_FILE;
  if (redisUrl && sqliteFile) throw new Error('baseline: BASELINE_REDIS_URL or BASELINE_SQLITE_FILE, not both');
  if (redisUrl) return createRedisStore({ client: createRedisClient({ kind: 'server', url: redisUrl }), prefix: process.env.REDIS_PREFIX ?? 'baseline:' });
  if (sqliteFile) return createSqliteStore({ file: sqliteFile });
  return undefined;
}
const store = createStore();

const configuration: Configuration = {
  ...(store ? { adapter: (name: string) => store.adapterFor(name) } : {}),
  clients: [{ ...OPS_CLIENT, client_name: 'Ops console', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' }],
  jwks: { keys: [jwk] } as Configuration['jwks'],
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // The issuer's own constants, so the two cannot drift apart.
  routes: AUTH0_ROUTES,
  claims: OIDC_CLAIMS,
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  extraParams: ['audience'],
  conformIdTokenClaims: false,
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'HS256'] },
  // The issuer's PKCE rule (src/provider/create_provider.ts); the scenarios send S256 anyway.
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' || client.applicationType === 'native' },
  responseTypes: ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token', 'none'],
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(ctx) {
        // `audience`, as the issuer reads it: from the body at the token endpoint, else the params.
        const audience = isClientCredentials(ctx) ? ctx.oidc.body?.audience : ctx.oidc.params?.audience;
        return typeof audience === 'string' && audience ? audience : undefined;
      },
      async getResourceServerInfo(ctx, indicator) {
        if (indicator !== CONTACTS_API) throw new Error(`unknown API ${indicator}`);
        const scope = isClientCredentials(ctx) ? 'read:contacts' : 'read:contacts write:contacts';
        return { scope, audience: indicator, accessTokenTTL: 7200, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
      async useGrantedResource() {
        return true;
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    if (sub !== BASELINE_ACCOUNT.sub) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: BASELINE_ACCOUNT.email, email_verified: true, name: BASELINE_ACCOUNT.name, nickname: 'alice' };
      },
    };
  },
  clientBasedCORS: (ctx) => ctx.oidc.route === 'userinfo',
  // The issuer's rotation rule: the refresh scenario's confidential client keeps its token.
  rotateRefreshToken,
  ttl: {
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 7200,
    AuthorizationCode: 60,
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 86_400,
    IdToken: 36_000,
    Interaction: 3600,
    RefreshToken: refreshTokenTtl({ refresh_tokens: REFRESH_TOKEN_LIFETIMES }) as NonNullable<Configuration['ttl']>['RefreshToken'],
    Session: 3 * 86_400,
    Grant: 365 * 86_400,
  },
};

const provider = new Provider(issuer, configuration);
const callback = provider.callback();

/** Headless login and consent: the fixed account, and everything the consent prompt asks for. */
async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  let result: InteractionResults;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: BASELINE_ACCOUNT.sub } };
  } else {
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/interaction/')) {
    interaction(req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
    return;
  }
  void callback(req, res);
});
server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  process.stdout.write(`${BASELINE_READY} ${issuer}\n`);
});

function stop(): void {
  server.closeAllConnections();
  server.close(() => process.exit(0));
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
