// The Dashboard signs in as a first-party client of this issuer: public, code flow with PKCE,
// its one redirect URI under the issuer. Declared here, added to the provider's static clients
// while the Dashboard is on.
import type { ClientMetadata } from 'oidc-provider';

import { DASHBOARD_CLIENT_ID, dashboardEnabled } from '../config.ts';
import type { Config } from '../config.ts';

export const DASHBOARD_PATH = '/dashboard';

export function dashboardCallback(issuer: string): string {
  return new URL('dashboard/callback', issuer).href;
}

export function dashboardClients(config: Pick<Config, 'env' | 'dashboard' | 'issuer'>): ClientMetadata[] {
  if (!dashboardEnabled(config)) return [];
  return [{
    client_id: DASHBOARD_CLIENT_ID,
    client_name: 'Dashboard',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [dashboardCallback(config.issuer)],
  }];
}
