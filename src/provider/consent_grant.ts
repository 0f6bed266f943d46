// The grant that remembers one user's consent for one client across sessions: stored under a
// well-known id, so a new session finds what the user already allowed.
import { createHash } from 'node:crypto';

import type Provider from 'oidc-provider';

/** The id of the grant that remembers one user's consent for one client, across sessions. */
export function consentGrantId(accountId: string, clientId: string): string {
  return createHash('sha256').update(`${accountId}\0${clientId}`).digest('base64url');
}

type Grant = InstanceType<Provider['Grant']>;

/** The user's remembered grant for this client: the session's, else the one under the well-known id. */
export async function findConsentGrant(provider: Provider, accountId: string, clientId: string, grantId?: string): Promise<Grant | undefined> {
  const grant = await provider.Grant.find(grantId ?? consentGrantId(accountId, clientId));
  return grant && grant.accountId === accountId && grant.clientId === clientId ? grant : undefined;
}

export function newConsentGrant(provider: Provider, accountId: string, clientId: string): Grant {
  const grant = new provider.Grant({ accountId, clientId });
  grant.jti = consentGrantId(accountId, clientId);
  // The well-known id is the same for every grant one user gives one client, so after a logout
  // (which destroys the grant) the next consent creates another grant under the same id. Its
  // creation time tells the two apart; the library would set it in whole seconds, in which a
  // grant, its tokens, a logout and a new grant can all fit: milliseconds make it unique.
  grant.iat = Date.now() / 1000;
  return grant;
}

/**
 * Which incarnation of a consent grant this is: the same for the grant's whole life (through
 * every save that adds scopes), another after the grant was destroyed and given again. API
 * tokens carry it (access_token_claims.ts) so that /userinfo honours them only for the grant
 * that issued them (userinfo_for_api_tokens.ts). Opaque: a hash, not a time callers could read.
 */
export function grantIncarnation(grant: { jti?: string; iat?: number }): string {
  return createHash('sha256').update(`${grant.jti ?? ''}\0${grant.iat ?? ''}`).digest('base64url').slice(0, 22);
}
