// Bend: http://localhost and http://127.0.0.1 redirect URIs for implicit web clients during local
// development. oidc-provider refuses them outright; its documented way out is to skip the two
// schema checks that carry the codes `implicit-force-https` and `implicit-forbid-localhost`.
// Installed only outside production; the registration gate (src/registration/metadata.ts) still
// refuses plain-http URIs on any host other than the loopback ones.
import type Provider from 'oidc-provider';

const SKIPPED = new Set(['implicit-force-https', 'implicit-forbid-localhost']);

type Schema = { prototype: { invalidate(this: unknown, message: string, code?: string): void } };

export function allowLocalRedirectsForImplicit(provider: Provider): void {
  const schema = (provider.Client as unknown as { Schema: Schema }).Schema;
  const original = schema.prototype.invalidate;
  if (typeof original !== 'function') throw new Error('the local development redirect bend no longer fits oidc-provider: Client.Schema.prototype.invalidate is gone');
  schema.prototype.invalidate = function invalidate(message, code) {
    if (code && SKIPPED.has(code)) return;
    original.call(this, message, code);
  };
}
