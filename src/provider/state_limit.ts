// A documented limit on `state` at /authorize: 2048 characters. The library takes any length and
// keeps `state` in the interaction while the user logs in; Node refuses a request line past its
// header limit (16 KiB) with 431. Below that, this limit keeps what is stored and echoed bounded.
// It uses the library's validators for extra authorization parameters (`extraParams`), which run
// once the client and its redirect_uri are checked: a longer `state` gets an error redirect with
// invalid_request (the error echoes `state`, as RFC 6749 4.1.2.1 asks), never a 5xx.
import { errors } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

export const MAX_STATE_LENGTH = 2048;

export function checkStateLength(_ctx: KoaContextWithOIDC, value: string | undefined): void {
  if (typeof value === 'string' && value.length > MAX_STATE_LENGTH) {
    throw new errors.InvalidRequest(`state must be at most ${MAX_STATE_LENGTH} characters`);
  }
}
