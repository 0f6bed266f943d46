// Bend: which loopback redirect URIs a native app may use on another port. RFC 8252 section 7.3
// asks for any port at request time on the loopback IP literals (127.0.0.1, [::1]): the app
// listens on whatever port the system gives it. oidc-provider also lets `localhost` change port,
// a name the RFC advises against (section 8.3: it may resolve elsewhere, or be firewalled);
// here a `localhost` redirect URI must match what was registered, port included.
// Wraps two methods of the library's Client; pinned to 9.13.3 (package.json) and
// test/native_clients.test.ts fails loudly if an upgrade moves them.
import type Provider from 'oidc-provider';

type Method = (this: { redirectUris?: string[]; postLogoutRedirectUris?: string[] }, value: string) => boolean;
const METHODS = { redirectUriAllowed: 'redirectUris', postLogoutRedirectUriAllowed: 'postLogoutRedirectUris' } as const;

export function exactPortForLocalhost(provider: Provider): void {
  const prototype = provider.Client.prototype as unknown as Record<keyof typeof METHODS, Method>;
  for (const [method, list] of Object.entries(METHODS) as Array<[keyof typeof METHODS, 'redirectUris' | 'postLogoutRedirectUris']>) {
    const original = prototype[method];
    if (typeof original !== 'function') throw new Error(`the localhost redirect bend no longer fits oidc-provider (written for 9.13.3): Client.prototype.${method} is gone`);
    prototype[method] = function allowed(value) {
      if (!this[list]?.includes(value) && URL.parse(value)?.hostname === 'localhost') return false;
      return original.call(this, value);
    };
  }
}
