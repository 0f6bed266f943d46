// Security headers for every response, through helmet: a strict Content-Security-Policy for the
// HTML pages (no script of ours, the one inline style by hash, no framing), nosniff and
// no-referrer. oidc-provider adds the hash of its own inline script (form_post) to script-src.
// form-action is left out: browsers apply it to the redirect that follows a login form, which
// goes to the client's redirect_uri on another origin.
import helmet from 'koa-helmet';

import { STYLE_SOURCE } from './interactions/views.ts';

export function createSecurityHeaders() {
  return helmet({
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
  });
}
