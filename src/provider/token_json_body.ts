// Bend: JSON bodies at POST /oauth/token. Auth0 accepts `application/json` there (its SDKs and
// docs send JSON); oidc-provider 9.13.3 accepts only form bodies and refuses anything else with
// invalid_request. This middleware, mounted before the provider, turns a JSON object into the
// form body the library expects and replays it; every other request passes untouched.
// test/management_token.test.ts fails loudly if a library upgrade breaks it.
import type { Context, Next } from 'koa';

import { readJsonBody, replayBody } from '../http/request_body.ts';
import type { RouteResolver } from './routes.ts';

/** The library's own limit for form bodies. */
export const MAX_TOKEN_BODY_BYTES = 56 * 1024;

function refuse(ctx: Context, description: string): void {
  ctx.status = 400;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: 'invalid_request', error_description: description };
}

/** A JSON object as form fields: strings, numbers and booleans as text; arrays as repeated fields. */
function toForm(body: Record<string, unknown>): URLSearchParams | string {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      if (!['string', 'number', 'boolean'].includes(typeof item)) return `${name} must be a string`;
      form.append(name, String(item));
    }
  }
  return form;
}

/** `isToken` tells the token endpoint's requests: the library's route (any spelling it routes). */
export function createTokenJsonBody(options: { isToken: (ctx: Context) => boolean; maxBytes?: number }) {
  const { isToken, maxBytes = MAX_TOKEN_BODY_BYTES } = options;
  return async function tokenJsonBody(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'POST' || !ctx.is('application/json') || !isToken(ctx)) return next();
    const body = await readJsonBody(ctx.req, maxBytes);
    if (body.kind === 'too_large') return refuse(ctx, `the request body must be at most ${maxBytes} bytes`);
    if (body.kind === 'invalid_json') return refuse(ctx, 'the request body is not valid JSON');
    const parsed = body.value;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return refuse(ctx, 'the request body must be a JSON object');
    const form = toForm(parsed as Record<string, unknown>);
    if (typeof form === 'string') return refuse(ctx, form);
    // The replayed request reads as a form; the original's other headers stay.
    ctx.req.headers['content-type'] = 'application/x-www-form-urlencoded';
    delete ctx.req.headers['transfer-encoding'];
    replayBody(ctx, Buffer.from(form.toString()));
    await next();
  };
}
