// Which scope values the issuer knows: the OIDC scopes it serves itself, and the scopes of the
// APIs in `apis`. A registration's `scope` keeps only these (src/registration/metadata.ts).
import type { Config } from '../config.ts';

/** The OIDC scopes the provider serves (its `scopes` configuration). */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;

/** Every configured API's scopes, without the OIDC ones. */
export function apiScopes(config: Pick<Config, 'apis'>): Set<string> {
  const oidc = new Set<string>(OIDC_SCOPES);
  return new Set(config.apis.flatMap((api) => api.scopes).filter((scope) => !oidc.has(scope)));
}

/** The values a client may register in `scope`: OIDC scopes and the scopes of any configured API. */
export function registrableScopes(config: Pick<Config, 'apis'>): Set<string> {
  return new Set([...OIDC_SCOPES, ...apiScopes(config)]);
}
