// Security headers for every response, through helmet: a strict Content-Security-Policy for the
// HTML pages (no script of ours, the one inline style by hash, no framing), nosniff and
// no-referrer. oidc-provider adds the hash of its own inline script (form_post) to script-src.
// form-action is left out: browsers apply it to the redirect that follows a login form, which
// goes to the client's redirect_uri on another origin.
//
// Helmet decides the headers; it runs once, at start, and each response gets the headers it set.
// Run per request (koa-helmet), it rebuilt the same Content-Security-Policy string and went
// through a promise for every request (issue 15, npm run bench).
import type { IncomingMessage, ServerResponse } from 'node:http';

import helmet from 'helmet';
import type { Context, Next } from 'koa';

import { STYLE_SOURCE } from './interactions/views.ts';

const options: Parameters<typeof helmet>[0] = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: [STYLE_SOURCE],
      imgSrc: ["'self'", 'data:', 'https:'],
      baseUri: ["'none'"],
      frameAncestors: ["'none'"],
    },
  },
  referrerPolicy: { policy: 'no-referrer' },
  xFrameOptions: { action: 'deny' },
  // Discovery, JWKS, /userinfo and /oidc/register are read cross-origin by browser apps.
  crossOriginResourcePolicy: false,
  strictTransportSecurity: { maxAge: 15_552_000, includeSubDomains: false },
};

/** The headers helmet sets with these options (none of them depends on the request). */
export function securityHeaderList(): Array<[name: string, value: string]> {
  const headers = new Map<string, string>();
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.set(name, String(value));
      return response;
    },
    removeHeader(name: string) {
      headers.delete(name);
    },
  };
  let failure: unknown;
  let done = false;
  helmet(options)({ headers: {} } as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
    done = true;
  });
  if (!done || failure) throw new Error(`helmet did not set its headers synchronously: ${String(failure ?? 'next() not called')}`);
  return [...headers];
}

export function createSecurityHeaders(headers: ReadonlyArray<readonly [string, string]> = securityHeaderList()) {
  return function securityHeaders(ctx: Context, next: Next): Promise<void> {
    const { res } = ctx;
    for (const [name, value] of headers) res.setHeader(name, value);
    return next();
  };
}
