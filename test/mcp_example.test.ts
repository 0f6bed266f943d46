// Issue 11 item 9: the MCP SDK's own client against examples/mcp, protected by the issuer.
// Discovery from the 401 (RFC 9728), registration (open DCR, with the resource's scopes in
// `scope`), login and consent through the real pages, the code + PKCE exchange with `resource`
// (RFC 8707), then tools/list and a tool call. A token made for one MCP server is refused by
// another.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { createMcpExample, MCP_SCOPES, protectedResourceMetadataUrl } from '../examples/mcp/server.ts';
import { CONTACTS_API, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { authorize } from './support/implicit.ts';
import { authorizeCode, codeFrom, decodeJwt, pkcePair, tokenRequest } from './support/code_flow.ts';
import { registerClient } from './support/implicit.ts';
import { UserAgent } from './support/user_agent.ts';
import { MemoryProvider } from './support/mcp_client.ts';

const SDK_VERSION = '1.32.2';
const REDIRECT = 'http://127.0.0.1:33418/oauth/callback';

type McpServerHandle = { server: Server; resource: string };
let notes: McpServerHandle;
let other: McpServerHandle;
let issuer: RunningIssuer;

async function listen(): Promise<{ server: Server; port: number }> {
  const { createServer } = await import('node:http');
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

before(async () => {
  // Both MCP servers listen first: their URLs are the issuer's API identifiers.
  const [a, b] = await Promise.all([listen(), listen()]);
  notes = { server: a.server, resource: `http://127.0.0.1:${a.port}/mcp` };
  other = { server: b.server, resource: `http://127.0.0.1:${b.port}/mcp` };
  issuer = await startIssuer({
    overrides: {
      tenant: { flags: { enable_dynamic_client_registration: true } },
      registration: { rate_limit: { per_second: 1000, burst: 1000 } },
      apis: [
        { identifier: CONTACTS_API, name: 'Contacts API', scopes: ['read:contacts'] },
        { identifier: notes.resource, name: 'Notes MCP server', scopes: MCP_SCOPES },
        { identifier: other.resource, name: 'Other MCP server', scopes: MCP_SCOPES },
      ],
    },
  });
  for (const { server, resource } of [notes, other]) server.on('request', createMcpExample({ issuer: issuer.url, resource }));
});
after(async () => {
  for (const handle of [notes, other]) {
    handle?.server.closeAllConnections();
    handle?.server.close();
  }
  await issuer?.close();
});

test('the MCP SDK is pinned to an exact version, and that version is installed', () => {
  const read = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string; devDependencies: Record<string, string> };
  assert.equal(read('../package.json').devDependencies['@modelcontextprotocol/sdk'], SDK_VERSION);
  assert.equal(read('../node_modules/@modelcontextprotocol/sdk/package.json').version, SDK_VERSION);
});

test('without a token: 401 with WWW-Authenticate resource_metadata, and RFC 9728 metadata naming the issuer', async () => {
  const response = await fetch(notes.resource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
  assert.equal(response.status, 401);
  const metadataUrl = protectedResourceMetadataUrl(notes.resource);
  assert.equal(response.headers.get('www-authenticate'), `Bearer resource_metadata="${metadataUrl}", scope="mcp:tools notes:read"`);
  const metadata = (await (await fetch(metadataUrl)).json()) as Record<string, unknown>;
  assert.deepEqual(metadata.authorization_servers, [issuer.url]);
  assert.equal(metadata.resource, notes.resource);
  assert.deepEqual(metadata.scopes_supported, MCP_SCOPES);
});

test('the MCP SDK client: discovery from the 401, DCR, login and consent, the token with resource, tools/list', async () => {
  const provider = new MemoryProvider({ redirectUrl: REDIRECT });
  const first = new Client({ name: 'sdk-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(notes.resource), { authProvider: provider });
  await assert.rejects(first.connect(transport), UnauthorizedError);
  assert.equal(provider.registrations, 1, 'the client registered at /oidc/register');
  assert.equal(typeof provider.client?.client_id, 'string');
  assert.equal((provider.client as { scope?: string }).scope, 'mcp:tools notes:read', 'the registration kept the resource scopes');

  const url = provider.authorizationUrl!;
  assert.equal(url.origin + url.pathname, new URL('authorize', issuer.url).href);
  assert.equal(url.searchParams.get('resource'), notes.resource);
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(url.searchParams.get('scope'), 'mcp:tools notes:read');

  // The user signs in and consents in the browser; the client's redirect receives the code.
  const step = await authorize(new UserAgent(issuer.url), url.href);
  await transport.finishAuth(codeFrom(step));
  const { payload, header } = decodeJwt(provider.saved?.access_token);
  assert.equal(header.alg, 'RS256');
  assert.equal(payload.aud, notes.resource);
  assert.equal(payload.scope, 'mcp:tools notes:read');

  const client = new Client({ name: 'sdk-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(notes.resource), { authProvider: provider }));
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ['list_notes', 'whoami']);
    const whoami = await client.callTool({ name: 'whoami' });
    const text = (whoami.content as Array<{ type: string; text: string }>)[0]!.text;
    assert.equal(JSON.parse(text).sub, payload.sub);
    const listed = await client.callTool({ name: 'list_notes' });
    assert.match((listed.content as Array<{ text: string }>)[0]!.text, /Rotate the signing key/);
  } finally {
    await client.close();
  }

  // The same token at another MCP server of the same issuer: refused (its aud is not that server).
  const refused = await fetch(other.resource, { method: 'POST', headers: { authorization: `Bearer ${provider.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer error="invalid_token", .*resource_metadata="${protectedResourceMetadataUrl(other.resource).replace(/[.?]/g, '\\$&')}"`));
});

test("a token without a tool's scope gets 403 insufficient_scope naming it; tokens for other APIs are refused", async () => {
  const client = await registerClient(issuer.url, { client_name: 'Narrow MCP client', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', scope: 'mcp:tools' });
  const pkce = pkcePair();
  const code = codeFrom(await authorizeCode(issuer.url, { client_id: client.client_id, redirect_uri: REDIRECT, scope: 'mcp:tools', resource: notes.resource }, pkce));
  const token = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code, client_id: client.client_id, redirect_uri: REDIRECT, code_verifier: pkce.verifier });
  assert.equal(token.status, 200, JSON.stringify(token.body));
  const call = (accessToken: string, name: string) => fetch(notes.resource, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: {} } }),
  });
  const forbidden = await call(token.body.access_token as string, 'list_notes');
  assert.equal(forbidden.status, 403);
  assert.match(forbidden.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  assert.match(forbidden.headers.get('www-authenticate') ?? '', /scope="mcp:tools notes:read"/);

  // A token for another API (the contacts API) is not a token for this server.
  const apiClient = await registerClient(issuer.url, { client_name: 'API client', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none' });
  const pkce2 = pkcePair();
  const code2 = codeFrom(await authorizeCode(issuer.url, { client_id: apiClient.client_id, redirect_uri: REDIRECT, scope: 'mcp:tools', resource: other.resource }, pkce2));
  const otherToken = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code: code2, client_id: apiClient.client_id, redirect_uri: REDIRECT, code_verifier: pkce2.verifier });
  assert.equal((await call(otherToken.body.access_token as string, 'whoami')).status, 401);
  // Garbage and a tampered signature.
  assert.equal((await call('not-a-jwt', 'whoami')).status, 401);
  const parts = (token.body.access_token as string).split('.');
  assert.equal((await call(`${parts[0]}.${Buffer.from(JSON.stringify({ ...decodeJwt(token.body.access_token).payload, scope: 'mcp:tools notes:read' })).toString('base64url')}.${parts[2]}`, 'list_notes')).status, 401);
});
