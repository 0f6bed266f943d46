// Every URL the issuer builds derives from the configured issuer, never from the request.
// oidc-provider 9.13.3 builds endpoint URLs (discovery, redirects to the login page, the audiences
// it accepts in client assertions) from `ctx.href`, which Koa takes from the Host header, or from
// X-Forwarded-Host and X-Forwarded-Proto with `proxy: true`. A request with `Host: evil.example`
// would otherwise get discovery pointing at evil.example, which a caching proxy in front serves to
// everyone. So the request's host and protocol are pinned to the issuer's before anything reads
// them. The client's address (ctx.ip, from X-Forwarded-For and `proxy_hops`) is left as it is.
import type { Context, Next } from 'koa';

export function pinIssuerOrigin(issuer: string) {
  const { host, hostname, protocol } = new URL(issuer);
  const pinned = {
    host: { value: host },
    hostname: { value: hostname },
    protocol: { value: protocol.slice(0, -1) },
  };
  return function issuerOrigin(ctx: Context, next: Next): Promise<void> {
    // Own properties on this request shadow Koa's getters (host, hostname, protocol, and through
    // them origin, href, secure and URL).
    Object.defineProperties(ctx.request, pinned);
    return next();
  };
}
