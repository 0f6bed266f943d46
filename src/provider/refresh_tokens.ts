// Refresh tokens as Auth0 issues them: `offline_access` in the code flow, for a client whose
// grant types include refresh_token, without `prompt=consent` (Auth0's SPA SDK never sends it);
// rotation for public clients, with reuse of a spent token refused and the rest of its family
// (the grant) revoked; Auth0's absolute and idle lifetimes.
//
// Bend: oidc-provider 9.13.3 drops `offline_access` from an authorization request unless it
// carries prompt=consent (OIDC Core 11). It runs every `extraParams` validator after that check,
// on the initial request only, whether or not the parameter was sent: `keepOfflineAccess` is
// installed as one and puts the scope back when the request asked for it. The consent prompt
// then lists it for third-party clients (asked once, remembered in the grant); first-party clients
// get it granted. A pushed authorization request (PAR) keeps the library's rule.
// test/refresh_tokens.test.ts fails if an upgrade changes either step.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { Config } from '../config.ts';

/** The extraParams name under which `keepOfflineAccess` runs; its value is never read. */
export const OFFLINE_ACCESS_HOOK = 'offline_access_hook';

type Client = InstanceType<Provider['Client']>;

function requestedScope(ctx: KoaContextWithOIDC): string {
  const source = ctx.method === 'POST' ? (ctx.oidc.body as Record<string, unknown> | undefined) : ctx.query;
  const scope = source?.scope;
  return typeof scope === 'string' ? scope : '';
}

export function keepOfflineAccess(ctx: KoaContextWithOIDC, _value: unknown, client: Client | undefined): void {
  const { params } = ctx.oidc;
  if (ctx.oidc.route !== 'authorization' || !client || !params) return;
  const responseType = typeof params.response_type === 'string' ? params.response_type.split(' ') : [];
  if (!responseType.includes('code') || !client.grantTypeAllowed('refresh_token')) return;
  if (!requestedScope(ctx).split(' ').includes('offline_access')) return;
  const scopes = typeof params.scope === 'string' ? params.scope.split(' ') : [];
  if (!scopes.includes('offline_access')) params.scope = [...scopes, 'offline_access'].join(' ');
}

/** Public clients get a new refresh token at each use; confidential ones once 70% of its life has passed. */
export function rotateRefreshToken(ctx: KoaContextWithOIDC): boolean {
  const { RefreshToken: token, Client: client } = ctx.oidc.entities;
  if (!token || !client) return false;
  if (client.clientAuthMethod === 'none') return true;
  return token.ttlPercentagePassed() >= 70;
}

/** Seconds a refresh token lives: the idle lifetime, cut to what is left of the family's absolute one. */
export function refreshTokenTtl(config: Pick<Config, 'refresh_tokens'>) {
  const { token_lifetime: absolute, idle_token_lifetime: idle } = config.refresh_tokens;
  return (_ctx: KoaContextWithOIDC, token: { totalLifetime(): number }): number => Math.max(1, Math.min(idle, absolute - token.totalLifetime()));
}
