// Every URL the issuer builds derives from the configured issuer, never from the request.
// oidc-provider 9.13.3 builds endpoint URLs (discovery, redirects to the login page, the audiences
// it accepts in client assertions) from `ctx.href`, which Koa takes from the Host header, or from
// X-Forwarded-Host and X-Forwarded-Proto with `proxy: true`. A request with `Host: evil.example`
// would otherwise get discovery pointing at evil.example, which a caching proxy in front serves to
// everyone. So the request's host and protocol are pinned to the issuer's before anything reads
// them. The client's address (ctx.ip, from X-Forwarded-For and `proxy_hops`) is left as it is.
import type Koa from 'koa';

/**
 * Pins host, hostname and protocol (and through them origin, href, secure and URL) on the app's
 * request prototype, which every request's `ctx.request` inherits from: once, at start. Defining
 * them on each request instead (a middleware) cost a property redefinition per request and left
 * every `ctx.request` in V8's slow dictionary mode for the rest of the request (npm run bench).
 */
export function pinIssuerOrigin(app: Koa, issuer: string): void {
  const { host, hostname, protocol } = new URL(issuer);
  Object.defineProperties(app.request, {
    host: { value: host, configurable: true },
    hostname: { value: hostname, configurable: true },
    protocol: { value: protocol.slice(0, -1), configurable: true },
  });
}
