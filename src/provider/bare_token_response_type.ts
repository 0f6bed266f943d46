// Bend: `response_type=token` (the bare OAuth 2.0 implicit grant), which Auth0 serves and
// oidc-provider refuses at construction since v7 ("unsupported response type: token"). The
// library still handles `token` at run time (it is part of `id_token token`), so the provider is
// built without it and `token` is added to the resolved configuration afterwards. This reaches
// into the library's private state: the exact version is pinned in package.json, and
// test/bare_token_bend.test.ts fails loudly if an upgrade moves it.
import type Provider from 'oidc-provider';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

/** The oidc-provider version this bend was written and tested against. */
export const BARE_TOKEN_BEND_VERSION = '9.13.3';

export function allowBareTokenResponseType(provider: Provider): void {
  const configuration = instance(provider)?.configuration;
  if (!Array.isArray(configuration?.responseTypes)) {
    throw new Error(`the bare "token" response type bend no longer fits oidc-provider (written for ${BARE_TOKEN_BEND_VERSION}): configuration.responseTypes is not an array`);
  }
  if (!configuration.responseTypes.includes('token')) configuration.responseTypes.push('token');
}
