// Bend: the provider's signing keys change while it runs. oidc-provider 9.13.3 takes `jwks` once,
// at construction (lib/provider.js builds its keystore and the published JWKS from it, then
// deletes `configuration.jwks`), and reads both from its private state on every use: the
// signing code asks `instance(provider).keystore`, /.well-known/jwks.json serves
// `instance(provider).jwks`. Rotation therefore runs the library's own initializer
// (lib/helpers/initialize_keystore.js) again with the new set: the same checks as at start, and
// both the signing keystore and the published JWKS are replaced in one synchronous step, so no
// request can sign with a key its JWKS does not list. The keystore signs with the first key
// that fits (RS256), which is why the set is kept in signing order (src/provider/keys.ts).
// The version is pinned in package.json; test/signing_keys.test.ts fails loudly if an upgrade
// moves these internals.
import type Provider from 'oidc-provider';
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

import type { SigningKeys } from './keys.ts';

/** The oidc-provider version whose keystore internals this was written and tested against. */
export const LIBRARY_KEYSTORE_VERSION = '9.13.3';

/** Replace the provider's signing keys (private JWKs, signing key first) and its published JWKS. */
export function replaceProviderKeys(provider: Provider, keys: SigningKeys): void {
  const state = instance(provider);
  if (!state?.keystore || !state.jwks || typeof initializeKeystore !== 'function') {
    throw new Error(`oidc-provider's keystore is no longer where the key rotation bend looks for it (written for ${LIBRARY_KEYSTORE_VERSION})`);
  }
  initializeKeystore.call(provider, structuredClone(keys));
}
