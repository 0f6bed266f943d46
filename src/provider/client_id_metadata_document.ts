// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, the MCP
// specification's preferred registration): an https URL as client_id is fetched and used as that
// client's metadata. oidc-provider has it as an experimental feature that must acknowledge the
// draft it implements; the ack is pinned here, and test/client_id_metadata_document.test.ts fails
// loudly when an upgrade of the library (9.13.3) moves to another draft.
// The feature is on in the library for good (features are fixed at construction); the tenant
// flag `enable_client_id_metadata_document` decides per request, like the registration flag:
// no fetch and no use of a cached document while it is off, and discovery advertises
// `client_id_metadata_document_supported` only while it is on.
// A document is held to the registration gate's rules (src/registration/metadata.ts): it must not
// open a way around them (jwks_uri, implicit to http, unknown grants).
import type { Context, Next } from 'koa';
import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';

import { StoreUnavailableError } from '../../adapters/contract.ts';
import type { TenantSettingsService } from '../tenant/settings.ts';
import { checkRegistrationMetadata } from '../registration/metadata.ts';
import type { RegistrationCheckOptions } from '../registration/metadata.ts';
import type { RouteResolver } from './routes.ts';
import { refusalReason, withRefusalScope } from './metadata_document_fetch.ts';

/** The draft of the specification oidc-provider 9.13.3 implements, acknowledged by name. */
export const CLIENT_ID_METADATA_DOCUMENT_DRAFT = 'draft-02';

const DISABLED = 'client_id metadata documents are disabled for this tenant (tenant flag enable_client_id_metadata_document is off)';

type Feature = NonNullable<NonNullable<Configuration['features']>['clientIdMetadataDocument']>;

export function clientIdMetadataDocumentFeature(deps: { tenant: TenantSettingsService; checks: RegistrationCheckOptions }): Feature {
  const { tenant, checks } = deps;
  async function assertEnabled(): Promise<void> {
    if (!(await tenant.get()).flags.enable_client_id_metadata_document) throw new errors.InvalidClient(DISABLED);
  }
  return {
    enabled: true,
    ack: CLIENT_ID_METADATA_DOCUMENT_DRAFT,
    async allowFetch() {
      await assertEnabled();
      return true;
    },
    async allowClient(_ctx: KoaContextWithOIDC, client: InstanceType<Provider['Client']>) {
      await assertEnabled();
      const checked = checkRegistrationMetadata(client.metadata(), checks);
      if ('refusal' in checked) throw new errors.InvalidClient(`client_id metadata document refused: ${checked.refusal.error_description}`);
      return true;
    },
    // HTTP caching headers decide, within a day; a document that says nothing is fetched again.
    cacheDuration: { min: 0, max: 86_400 },
  };
}

/** The client_id a request named, as the library read it. */
export function clientIdOf(ctx: Context | KoaContextWithOIDC): unknown {
  return (ctx as Partial<KoaContextWithOIDC>).oidc?.params?.client_id;
}

const FETCH_FAILED = 'client_id metadata document fetch failed';

/**
 * The library's description of a failed fetch says nothing of why; add the reason the fetch
 * recorded (a limit hit, an address refused), and say invalid_client for a document that broke
 * the draft's rules (the library says invalid_client_metadata, an answer for registration).
 */
export function describeMetadataDocumentError(out: { error: string; error_description?: string }, clientId: unknown, reason = refusalReason()): { error: string; error_description?: string } {
  const description = out.error_description ?? '';
  // An http URL is never fetched (the draft wants https); say so rather than "client is invalid".
  if (out.error === 'invalid_client' && typeof clientId === 'string' && /^http:\/\//i.test(clientId)) {
    return { ...out, error_description: `${description}: a URL client_id names a client ID metadata document, which must be an https URL` };
  }
  if (out.error === 'invalid_client' && description === FETCH_FAILED) {
    return reason ? { ...out, error_description: `${FETCH_FAILED}: ${reason}` } : out;
  }
  if (out.error === 'invalid_client_metadata' && description.startsWith('client_id metadata document')) {
    return { ...out, error: 'invalid_client' };
  }
  return out;
}

/**
 * In front of the provider: a scope for the fetch to record refusals in, the clearer JSON error
 * (HTML error pages get it in renderError), and discovery without
 * `client_id_metadata_document_supported` while the flag is off.
 */
export function createClientIdMetadataDocumentHooks(deps: { tenant: TenantSettingsService; routes: RouteResolver }) {
  const { tenant, routes } = deps;
  return async function clientIdMetadataDocumentHooks(ctx: Context, next: Next): Promise<void> {
    const { reason } = await withRefusalScope(next);
    const body = ctx.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Buffer.isBuffer(body) || typeof (body as { pipe?: unknown }).pipe === 'function') return;
    if (typeof body.error === 'string') {
      Object.assign(body, describeMetadataDocumentError(body as { error: string; error_description?: string }, clientIdOf(ctx), reason));
      return;
    }
    if (ctx.status !== 200 || !('client_id_metadata_document_supported' in body) || routes.of(ctx) !== 'discovery') return;
    // Discovery answers while the store is away; without the flag's value, it does not advertise.
    const settings = await tenant.get().catch((error: unknown) => {
      if (error instanceof StoreUnavailableError) return undefined;
      throw error;
    });
    if (!settings?.flags.enable_client_id_metadata_document) delete body.client_id_metadata_document_supported;
  };
}
