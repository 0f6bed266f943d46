// Client metadata the library stores for the Management API (Auth0's application fields that
// OAuth has no name for): declared in the library's `extraClientMetadata` (create_provider.ts,
// beside web_origins and allowed_origins, which registrants may set), so that it keeps them with
// the client. Set by the Management API only: on dynamic registration, a registrant's values are
// dropped and `created_at` is stamped, so no registrant can pose as another app type or forge
// its creation date.
import type { Configuration } from 'oidc-provider';

export const MANAGEMENT_CLIENT_METADATA = ['description', 'app_type', 'client_metadata', 'created_at'];

type Validator = NonNullable<NonNullable<Configuration['extraClientMetadata']>['validator']>;

export const managementMetadataValidator: Validator = (ctx, key, _value, metadata) => {
  if (ctx?.oidc?.route !== 'registration') return;
  const target = metadata as Record<string, unknown>;
  if (key === 'created_at') target.created_at = new Date().toISOString();
  else delete target[key];
};
