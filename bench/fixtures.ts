// What the issuer and the baseline are configured with for a benchmark run, and what the
// scenarios send: the same API, the same first-party machine client, the same account and the
// same registration body for both, so that the ratio compares like with like.
import { randomBytes } from 'node:crypto';

import { stringify } from 'yaml';

export const CONTACTS_API = 'https://contacts.example.com/';
export const BASELINE_READY = 'baseline ready at';
export const ISSUER_READY = 'issuer ready at';

// Fixed values: the baseline, a separate process, must know the same ones.
/** A first-party client with a client_grant on the API (client_credentials). */
export const OPS_CLIENT = { client_id: 'ops-console', client_secret: 'bench-ops-console-secret-4f1c9a' };
export const BASELINE_ACCOUNT = { sub: 'alice', email: 'alice@example.com', name: 'Alice Example' };
export const ISSUER_USER = { email: 'alice@example.com', password: 'bench-alice-password-7d2e', name: 'Alice Example' };

export const REDIRECT_URI = 'https://app.example.com/callback';

/**
 * The registration body: what the issuer's gate hands the library for Auth0's minimal
 * `{client_name, redirect_uris}` body, written out so the bare library does the same work.
 */
export const REGISTRATION_BODY = JSON.stringify({
  client_name: 'Benchmark application',
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code', 'implicit'],
  response_types: ['code', 'id_token token', 'id_token'],
  token_endpoint_auth_method: 'client_secret_post',
});

/**
 * The client of the refresh scenario: a confidential web app with a secret, allowed refresh
 * tokens. A confidential client keeps its refresh token until 70% of its life has passed
 * (src/provider/refresh_tokens.ts, the baseline uses the same rule), so under load every request
 * spends the same token and none is rotated.
 */
export const OFFLINE_REGISTRATION_BODY = JSON.stringify({
  client_name: 'Benchmark offline application',
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
});

/** The refresh tokens' lifetimes: the issuer's defaults (config/default.yaml), given to the baseline too. */
export const REFRESH_TOKEN_LIFETIMES = { token_lifetime: 2_592_000, idle_token_lifetime: 1_296_000 } as const;

/**
 * The issuer's CONFIG_FILE: production mode (what users run), registration on, its rate limit
 * and client cap out of the way of the load, the API, the machine client and the account.
 */
export function issuerConfigYaml(): string {
  return stringify({
    env: 'production',
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    tenant: { flags: { enable_dynamic_client_registration: true } },
    apis: [{ identifier: CONTACTS_API, name: 'Contacts API', scopes: ['read:contacts', 'write:contacts'] }],
    clients: [{ ...OPS_CLIENT, name: 'Ops console', grant_types: ['client_credentials'] }],
    client_grants: [{ client_id: OPS_CLIENT.client_id, audience: CONTACTS_API, scope: ['read:contacts'] }],
    users: [ISSUER_USER],
    refresh_tokens: REFRESH_TOKEN_LIFETIMES,
    registration: { rate_limit: { per_second: 100_000, burst: 100_000 }, max_clients: 1_000_000_000 },
  });
}
