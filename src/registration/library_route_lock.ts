// Second lock on registration: the library's own registration route runs only for requests the
// gate let through. The gate already decides by the route the library's router will run
// (src/provider/routes.ts), so every spelling of the path meets it; this lock holds even if a
// future router change or a middleware mounted in the wrong order let a request reach the
// library without the gate. It replaces the route's handler in the library's router (private
// state, oidc-provider 9.13.3 pinned; test/route_spellings.test.ts fails loudly if it moves).
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import nanoid from 'oidc-provider/lib/helpers/nanoid.js';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

import { AUTH0_ROUTES, LIBRARY_ROUTER_VERSION } from '../provider/routes.ts';

/** The requests the gate passed, with the client id it reserved a slot for. */
const passed = new WeakMap<object, string>();

/** A new client id, as the library makes them (its default idFactory). */
export function newClientId(): string {
  return nanoid();
}

/**
 * features.registration.idFactory: the id the gate reserved a slot for (the stored client takes
 * that reservation over, src/registration/client_cap.ts), else one of the library's own.
 */
export function registrationClientId(ctx: object): string {
  return passed.get(ctx) ?? newClientId();
}

/** The gate calls this for a request it checked in full, just before handing it to the library. */
export function passGate(ctx: Context, clientId: string): void {
  passed.set(ctx, clientId);
}

export function lockRegistrationRoute(provider: Provider): void {
  const route = instance(provider)?.router?.match('POST', AUTH0_ROUTES.registration)?.route;
  if (route?.name !== 'registration' || typeof route.run !== 'function') {
    throw new Error(`the registration route lock no longer fits oidc-provider's router (written for ${LIBRARY_ROUTER_VERSION})`);
  }
  const run = route.run;
  route.run = function registrationBehindGate(ctx: Context, next: Next) {
    if (passed.has(ctx)) return run(ctx, next);
    ctx.status = 403;
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Connection', 'close');
    ctx.body = { error: 'access_denied', error_description: 'registration is only accepted through the registration gate' };
    return Promise.resolve();
  };
}
