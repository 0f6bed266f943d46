// The library's private parts this project relies on, declared in one place. Each use is a
// named bend in src/provider/ with a test that fails loudly when an upgrade changes it.
declare module 'oidc-provider/lib/helpers/weak_cache.js' {
  /** The provider's internal state; `configuration` is the resolved configuration object. */
  export default function instance(provider: object): {
    configuration: { responseTypes: string[] };
    /** The library's own router (lib/helpers/router.js): folds case, accepts one trailing slash. */
    router: { match(method: string, path: string): { route: { name: string; path: string; run: (ctx: import('koa').Context, next: import('koa').Next) => Promise<unknown> } } | undefined };
    /** The signing keystore (lib/helpers/keystore.js), replaced by initialize_keystore.js. */
    keystore: object;
    /** The published JWKS (public members only), served by /.well-known/jwks.json. */
    jwks: { keys: { kid: string }[] };
  };
}

declare module 'oidc-provider/lib/helpers/nanoid.js' {
  /** The library's default client id generator (features.registration.idFactory): 43 URL-safe characters. */
  export default function nanoid(): string;
}

declare module 'oidc-provider/lib/helpers/features.js' {
  /** The experimental features and the draft version each implements (acknowledged with `ack`). */
  export const EXPERIMENTS: Map<string, { name: string; version: string | string[] }>;
}

declare module 'oidc-provider/lib/response_modes/form_post.js' {
  /** The library's auto-submitting form page (its inline script's hash is added to the CSP). */
  export default function formPost(ctx: object, action: string, inputs: Record<string, string>): void;
}

declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  /** Builds the provider's keystore and published JWKS from a JWKS of private keys; `this` is the provider. */
  export default function initialize(this: object, jwks: { keys: object[] }): void;
}
