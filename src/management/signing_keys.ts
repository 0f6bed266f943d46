// /api/v2/keys/signing: Auth0's signing key endpoints over the key ring (src/provider/key_ring.ts).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Logger } from 'pino';

import type { KeyRing } from '../provider/key_ring.ts';
import { FileKeysError, RotationTooSoonError } from '../provider/key_ring.ts';
import { certificateViews } from '../provider/keys.ts';
import type { SigningKeyDocument } from '../provider/keys.ts';
import { auditManagementChange } from './audit.ts';
import type { ManagementCaller } from './bearer.ts';
import { ManagementError } from './errors.ts';

export const SIGNING_KEY_SCOPES = { read: 'read:signing_keys', create: 'create:signing_keys', update: 'update:signing_keys' } as const;

/** One key as Auth0 shows it. */
export type Auth0SigningKey = {
  kid: string;
  cert: string;
  pkcs7: string;
  fingerprint: string;
  thumbprint: string;
  current: boolean;
  next: boolean;
  previous: boolean;
  current_since?: string;
  current_until?: string;
  revoked: boolean;
  revoked_at?: string;
};

const views = new Map<string, ReturnType<typeof certificateViews>>();
/** Certificates never change for a kid: their views are computed once per instance. */
function viewsOf(kid: string, x5c: string): ReturnType<typeof certificateViews> {
  let found = views.get(kid);
  if (!found) {
    found = certificateViews(x5c);
    views.set(kid, found);
  }
  return found;
}

export function toAuth0SigningKeys(document: SigningKeyDocument): Auth0SigningKey[] {
  const live = document.keys.map((key): Auth0SigningKey => {
    const life = document.life?.[key.kid!];
    const status = life?.status ?? 'previous';
    return {
      kid: key.kid!,
      ...viewsOf(key.kid!, key.x5c![0]!),
      current: status === 'current',
      next: status === 'next',
      previous: status === 'previous',
      ...(life?.current_since ? { current_since: life.current_since } : {}),
      ...(life?.current_until ? { current_until: life.current_until } : {}),
      revoked: false,
    };
  });
  const revoked = (document.revoked ?? []).map((key): Auth0SigningKey => ({
    kid: key.kid,
    ...viewsOf(key.kid, key.x5c),
    current: false,
    next: false,
    previous: false,
    ...(key.current_since ? { current_since: key.current_since } : {}),
    ...(key.current_until ? { current_until: key.current_until } : {}),
    revoked: true,
    revoked_at: key.revoked_at,
  }));
  return [...live, ...revoked];
}

export type SigningKeysDeps = {
  keys: KeyRing;
  logger: Logger;
  authorize(ctx: Context, ...scopes: string[]): Promise<ManagementCaller>;
};

function fixed(error: unknown): never {
  if (error instanceof FileKeysError) throw new ManagementError(400, 'operation_not_supported', error.message);
  if (error instanceof RotationTooSoonError) throw new ManagementError(429, 'too_many_requests', error.message, { 'Retry-After': String(error.retryAfterSeconds) });
  throw error;
}

export function addSigningKeyRoutes(router: Router, deps: SigningKeysDeps): void {
  const { keys, logger, authorize } = deps;
  const find = (kid: string) => toAuth0SigningKeys(keys.document()).find((key) => key.kid === kid);

  router.get('/keys/signing', async (ctx) => {
    await authorize(ctx, SIGNING_KEY_SCOPES.read);
    ctx.body = toAuth0SigningKeys(keys.document());
  });

  router.post('/keys/signing/rotate', async (ctx) => {
    const caller = await authorize(ctx, SIGNING_KEY_SCOPES.create);
    const before = keys.document();
    const previous = before.keys.find((k) => before.life?.[k.kid!]?.status === 'current')?.kid;
    const rotated = await keys.rotate().catch(fixed);
    const current = rotated.keys[0]!;
    const next = rotated.keys.find((k) => rotated.life?.[k.kid!]?.status === 'next')?.kid;
    auditManagementChange(logger, caller.clientId, 'signing_key_rotated', { kid: current.kid!, ...(previous ? { previous_kid: previous } : {}), ...(next ? { next_kid: next } : {}) });
    ctx.status = 201;
    // The key that signs from now on (until this rotation it was the published next key).
    ctx.body = { cert: viewsOf(current.kid!, current.x5c![0]!).cert, kid: current.kid! };
  });

  router.get('/keys/signing/:kid', async (ctx) => {
    await authorize(ctx, SIGNING_KEY_SCOPES.read);
    const key = find(ctx.params.kid!);
    if (!key) throw new ManagementError(404, 'not_found', 'Signing key not found');
    ctx.body = key;
  });

  router.put('/keys/signing/:kid/revoke', async (ctx) => {
    const caller = await authorize(ctx, SIGNING_KEY_SCOPES.update);
    const kid = ctx.params.kid!;
    const result = await keys.revoke(kid).catch(fixed);
    if ('refusal' in result) {
      if (result.refusal === 'not_found') throw new ManagementError(404, 'not_found', 'Signing key not found');
      if (result.refusal === 'already_revoked') throw new ManagementError(400, 'operation_not_supported', 'The signing key is already revoked');
      throw new ManagementError(400, 'operation_not_supported', 'Only a previous signing key can be revoked; the current and the next key cannot (rotate first)');
    }
    auditManagementChange(logger, caller.clientId, 'signing_key_revoked', { kid });
    const revoked = result.document.revoked!.find((k) => k.kid === kid)!;
    ctx.body = { cert: viewsOf(kid, revoked.x5c).cert, kid };
  });
}
