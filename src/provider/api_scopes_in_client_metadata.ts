// Bend: API scopes in a client's `scope` metadata. oidc-provider checks a client's `scope`
// against its own `scopes` configuration, which holds the OIDC scopes only (API scopes belong to
// resource servers, src/provider/create_provider.ts), so a client registering the scopes of its
// resource, as the MCP SDK does with `mcp:tools`, was refused ("scope must only contain
// Authorization Server supported scope values"). Making API scopes OIDC scopes instead would put
// them in ID tokens, consent's OIDC part and discovery. So the schema's `scopes()` check runs on
// the OIDC part only and the API part is put back after it. The library uses a client's `scope`
// only to restrict the OIDC scopes a client may request, so the API part changes nothing else.
// Reaches into the library's client schema: pinned to 9.13.3 (package.json), and
// test/code_flow_resource.test.ts fails loudly if an upgrade moves it.
import type Provider from 'oidc-provider';

/** The oidc-provider version this bend was written and tested against. */
export const API_SCOPES_BEND_VERSION = '9.13.3';

type SchemaInstance = { scope?: string };
type Schema = { prototype: { scopes?(this: SchemaInstance): void } };

export function allowApiScopesInClientMetadata(provider: Provider, apiScopes: ReadonlySet<string>): void {
  const schema = (provider.Client as unknown as { Schema?: Schema }).Schema;
  const original = schema?.prototype.scopes;
  if (typeof original !== 'function') {
    throw new Error(`the API scopes bend no longer fits oidc-provider (written for ${API_SCOPES_BEND_VERSION}): Client.Schema.prototype.scopes is gone`);
  }
  schema!.prototype.scopes = function scopes(this: SchemaInstance) {
    if (typeof this.scope !== 'string') return original.call(this);
    const words = this.scope.split(' ');
    const api = [...new Set(words.filter((word) => apiScopes.has(word)))];
    if (!api.length) return original.call(this);
    const rest = words.filter((word) => !apiScopes.has(word));
    this.scope = rest.length ? rest.join(' ') : undefined;
    original.call(this);
    this.scope = [...(this.scope ? this.scope.split(' ') : []), ...api].join(' ');
  };
}
