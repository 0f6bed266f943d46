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
  return grant;
}
