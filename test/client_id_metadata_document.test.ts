// Issue 11 item 8: Client ID Metadata Documents. An https URL as client_id is fetched and used as
// the client's metadata, behind the tenant flag enable_client_id_metadata_document, under the
// issuer's fetch limits; every refusal is a clear invalid_client.
// The flows (a code flow driven by hand, and the MCP SDK's client naming itself by its document)
// run against the issuer as users start it (a child process in development), which
// trusts the document server's self-signed certificate through NODE_EXTRA_CA_CERTS; the address
// refusals run against an in-process issuer outside development.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EXPERIMENTS } from 'oidc-provider/lib/helpers/features.js';

import { CLIENT_ID_METADATA_DOCUMENT_DRAFT } from '../src/provider/client_id_metadata_document.ts';
import { METADATA_DOCUMENT_MAX_BYTES } from '../src/provider/metadata_document_fetch.ts';
import { authorizeCode, codeFrom, decodeJwt, pkcePair, tokenRequest } from './support/code_flow.ts';
import { json, makeCertificate, startDocumentServer } from './support/document_server.ts';
import type { Certificate, DocumentServer } from './support/document_server.ts';
import { authorize, authorizeUrl } from './support/implicit.ts';
import { OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { management, managementToken, SETTINGS_PATH } from './support/management.ts';
import { freePort, startIssuerProcess } from './support/process.ts';
import type { IssuerProcess } from './support/process.ts';
import { useTempDir } from './support/temp_dir.ts';
import { MemoryProvider } from './support/mcp_client.ts';
import { createMcpExample, MCP_SCOPES } from '../examples/mcp/server.ts';
import { UserAgent } from './support/user_agent.ts';

const REDIRECT = 'http://127.0.0.1:7777/callback';
const dir = useTempDir('cimd-');
let certificate: Certificate;
let docs: DocumentServer;
before(async () => {
  certificate = makeCertificate(dir.path);
  docs = await startDocumentServer(certificate);
});
after(() => docs.close());

function documentFor(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { client_id: url, client_name: 'Notes desktop', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none', ...extra };
}

/** GET /authorize for a client_id; the status and page (no redirects followed). */
async function authorizeFor(issuerUrl: string, clientId: string): Promise<{ status: number; location: string | null; body: string }> {
  const url = authorizeUrl(issuerUrl, { client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 'state-1234', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
  const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  return { status: response.status, location: response.headers.get('location'), body: await response.text() };
}

/** The client is accepted: /authorize sends the user to the login page. */
async function assertAccepted(issuerUrl: string, clientId: string): Promise<void> {
  const answer = await authorizeFor(issuerUrl, clientId);
  assert.equal(answer.status, 303, `expected the login page for ${clientId}, got ${answer.status}: ${answer.body.slice(0, 400)}`);
  assert.match(answer.location ?? '', /\/u\//);
}

/** The client is refused with an invalid_client error page that says `reason`; never a redirect. */
async function assertRefused(issuerUrl: string, clientId: string, reason: RegExp): Promise<void> {
  const answer = await authorizeFor(issuerUrl, clientId);
  assert.equal(answer.location, null, `redirected to ${answer.location} for ${clientId}`);
  assert.ok(answer.status >= 400 && answer.status < 500, `expected a 4xx for ${clientId}, got ${answer.status}`);
  assert.match(answer.body, /<strong>invalid_client<\/strong>/, `${clientId}: ${answer.body.slice(0, 600)}`);
  assert.match(answer.body, reason, `${clientId}: ${answer.body.slice(0, 600)}`);
}

async function discovery(issuerUrl: string, path = '.well-known/openid-configuration'): Promise<Record<string, unknown>> {
  const response = await fetch(new URL(path, issuerUrl), { signal: AbortSignal.timeout(5000) });
  assert.equal(response.status, 200);
  return (await response.json()) as Record<string, unknown>;
}

test('the acknowledged draft is the one the pinned oidc-provider implements', () => {
  // A mismatch makes the provider refuse to start; this says why, and where to look.
  assert.equal(EXPERIMENTS.get('clientIdMetadataDocument')?.version, CLIENT_ID_METADATA_DOCUMENT_DRAFT,
    'oidc-provider implements another draft of Client ID Metadata Documents: review src/provider/client_id_metadata_document.ts and metadata_document_fetch.ts against it, then update CLIENT_ID_METADATA_DOCUMENT_DRAFT');
});

describe('in development, with the document server trusted through NODE_EXTRA_CA_CERTS', () => {
  let issuer: IssuerProcess;
  let mcp: Server;
  let mcpResource: string;
  before(async () => {
    // The example MCP server listens first: its URL is one of the issuer's APIs.
    mcp = createServer();
    mcp.listen(0, '127.0.0.1');
    await once(mcp, 'listening');
    mcpResource = `http://127.0.0.1:${(mcp.address() as AddressInfo).port}/mcp`;
    const port = await freePort();
    const config = dir.file('config.yaml', [
      'tenant:',
      '  flags:',
      '    enable_client_id_metadata_document: true',
      'clients:',
      `  - { client_id: ${OPS.client_id}, client_secret: ${OPS.client_secret}, name: Ops console, grant_types: [client_credentials] }`,
      'apis:',
      `  - { identifier: "${mcpResource}", name: Notes MCP server, scopes: [${MCP_SCOPES.join(', ')}] }`,
      '',
    ].join('\n'));
    issuer = await startIssuerProcess({ CONFIG_FILE: config, PORT: String(port), NODE_ENV: 'development', NODE_EXTRA_CA_CERTS: certificate.certFile, SQLITE_FILE: join(dir.path, 'issuer.sqlite') });
    mcp.on('request', createMcpExample({ issuer: issuer.url, resource: mcpResource }));
  });
  after(async () => {
    mcp.closeAllConnections();
    mcp.close();
    await issuer.stop();
  });

  test("the MCP SDK's client names itself by its metadata document: no registration, then tools/list", async () => {
    const url = `${docs.origin}/mcp-client.json`;
    docs.route('/mcp-client.json', json(documentFor(url, { client_name: 'MCP SDK test client', grant_types: ['authorization_code', 'refresh_token'] }), { 'cache-control': 'max-age=300' }));
    const provider = new MemoryProvider({ redirectUrl: REDIRECT, clientMetadataUrl: url });
    const first = new Client({ name: 'sdk-cimd', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(mcpResource), { authProvider: provider });
    await assert.rejects(first.connect(transport), UnauthorizedError);
    // Registration is off on this issuer: the client's id is its document's URL.
    assert.equal(provider.client?.client_id, url);
    assert.equal(provider.authorizationUrl?.searchParams.get('client_id'), url);
    assert.equal(provider.authorizationUrl?.searchParams.get('resource'), mcpResource);
    await transport.finishAuth(codeFrom(await authorize(new UserAgent(issuer.url), provider.authorizationUrl!.href)));
    assert.equal(decodeJwt(provider.saved?.access_token).payload.client_id, url);

    const client = new Client({ name: 'sdk-cimd', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpResource), { authProvider: provider }));
    try {
      assert.deepEqual((await client.listTools()).tools.map((tool) => tool.name).sort(), ['list_notes', 'whoami']);
    } finally {
      await client.close();
    }
  });

  test('an https URL as client_id completes the code flow; the document is cached per its max-age', async () => {
    const url = `${docs.origin}/desktop.json`;
    docs.route('/desktop.json', json(documentFor(url), { 'cache-control': 'max-age=60' }));
    assert.equal((await discovery(issuer.url)).client_id_metadata_document_supported, true);
    assert.equal((await discovery(issuer.url, '.well-known/oauth-authorization-server')).client_id_metadata_document_supported, true);

    const pkce = pkcePair();
    const code = codeFrom(await authorizeCode(issuer.url, { client_id: url, redirect_uri: REDIRECT, scope: 'openid email' }, pkce));
    const { status, body } = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code, client_id: url, redirect_uri: REDIRECT, code_verifier: pkce.verifier });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(decodeJwt(body.id_token).payload.aud, url);
    assert.equal(docs.hits('/desktop.json'), 1, 'one fetch for the authorization, login, consent and token requests');
  });

  test('a document that forbids caching (no-store) is fetched again on every use', async () => {
    const url = `${docs.origin}/fresh.json`;
    docs.route('/fresh.json', json(documentFor(url), { 'cache-control': 'no-store' }));
    await assertAccepted(issuer.url, url);
    await assertAccepted(issuer.url, url);
    assert.equal(docs.hits('/fresh.json'), 2);
  });

  test(`at most ${METADATA_DOCUMENT_MAX_BYTES} bytes: exactly the limit passes, one byte more is refused, whatever Content-Length says`, async () => {
    const sized = (url: string, bytes: number) => {
      const text = JSON.stringify(documentFor(url));
      return text.slice(0, -1) + ' '.repeat(bytes - text.length) + '}';
    };
    const fits = `${docs.origin}/fits.json`;
    docs.route('/fits.json', json(sized(fits, METADATA_DOCUMENT_MAX_BYTES)));
    await assertAccepted(issuer.url, fits);

    const large = `${docs.origin}/large.json`;
    docs.route('/large.json', json(sized(large, METADATA_DOCUMENT_MAX_BYTES + 1)));
    await assertRefused(issuer.url, large, /larger than 5120 bytes/);

    // Chunked, with no Content-Length: the count is kept while reading.
    const chunked = `${docs.origin}/chunked.json`;
    docs.route('/chunked.json', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      for (let i = 0; i < 10; i++) res.write(' '.repeat(1000));
      res.end(JSON.stringify(documentFor(chunked)));
    });
    await assertRefused(issuer.url, chunked, /larger than 5120 bytes/);
  });

  test('a document server that does not answer, or drips its body, is refused after 3 s', async () => {
    const slow = `${docs.origin}/slow.json`;
    docs.route('/slow.json', (_req, res) => {
      const timer = setTimeout(() => res.end(JSON.stringify(documentFor(slow))), 5000);
      res.on('close', () => clearTimeout(timer));
    });
    const started = performance.now();
    await assertRefused(issuer.url, slow, /did not answer within 3 s/);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 2900 && elapsed < 4500, `refused after ${Math.round(elapsed)} ms`);

    // Headers at once, then a byte every 200 ms: the 3 s cover the whole exchange, body included.
    const drip = `${docs.origin}/drip.json`;
    docs.route('/drip.json', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      const timer = setInterval(() => res.write(' '), 200);
      res.on('close', () => clearInterval(timer));
    });
    const dripStarted = performance.now();
    await assertRefused(issuer.url, drip, /did not answer within 3 s/);
    const dripElapsed = performance.now() - dripStarted;
    assert.ok(dripElapsed >= 2900 && dripElapsed < 4500, `refused after ${Math.round(dripElapsed)} ms`);
  });

  test('a redirect, an error status, a client_id that is not the URL and a document breaking the registration rules are refused', async () => {
    const moved = `${docs.origin}/moved.json`;
    docs.route('/moved.json', (_req, res) => {
      res.writeHead(302, { location: `${docs.origin}/desktop.json` });
      res.end();
    });
    await assertRefused(issuer.url, moved, /answered HTTP 302, not 200/);
    await assertRefused(issuer.url, `${docs.origin}/missing.json`, /answered HTTP 404, not 200/);

    const other = `${docs.origin}/other.json`;
    docs.route('/other.json', json(documentFor(`${docs.origin}/desktop.json`)));
    await assertRefused(issuer.url, other, /client_id does not match/);

    const notJson = `${docs.origin}/not-json.json`;
    docs.route('/not-json.json', json('<html>hello</html>'));
    await assertRefused(issuer.url, notJson, /client_id metadata document fetch failed: the document is not JSON/);
    const array = `${docs.origin}/array.json`;
    docs.route('/array.json', json([documentFor(array)]));
    await assertRefused(issuer.url, array, /the document is not a JSON object/);

    const jwks = `${docs.origin}/jwks.json`;
    docs.route('/jwks.json', json(documentFor(jwks, { jwks_uri: 'https://10.0.0.1/jwks.json', token_endpoint_auth_method: 'private_key_jwt' })));
    await assertRefused(issuer.url, jwks, /client_id metadata document refused: jwks_uri is not supported/);
  });

  test("a document is held to the registration's name rules: no bidi controls, no configured application's name", async () => {
    const spoof = `${docs.origin}/spoof.json`;
    docs.route('/spoof.json', json(documentFor(spoof, { client_name: 'OPS  Console' })));
    await assertRefused(issuer.url, spoof, /client_name is the name of an application of this tenant/);
    const bidi = `${docs.origin}/bidi.json`;
    docs.route('/bidi.json', json(documentFor(bidi, { client_name: 'Ops console \u202Emoc.elpmaxe\u202C' })));
    await assertRefused(issuer.url, bidi, /client_name must not contain control/);
  });

  test('40 requests at once for one slow, uncacheable document share one fetch', async () => {
    const busy = `${docs.origin}/busy.json`;
    docs.route('/busy.json', (_req, res) => {
      setTimeout(() => json(documentFor(busy), { 'cache-control': 'no-store' })(_req, res), 500);
    });
    const answers = await Promise.all(Array.from({ length: 40 }, () => authorizeFor(issuer.url, busy)));
    for (const answer of answers) assert.equal(answer.status, 303, answer.body.slice(0, 300));
    assert.equal(docs.hits('/busy.json'), 1);
  });

  test('a refusal at the token endpoint is a JSON invalid_client that says why', async () => {
    const large = `${docs.origin}/large-token.json`;
    docs.route('/large-token.json', json(' '.repeat(6000)));
    const { status, body } = await tokenRequest(issuer.url, { grant_type: 'authorization_code', code: 'x', client_id: large, redirect_uri: REDIRECT, code_verifier: pkcePair().verifier });
    assert.equal(status, 400);
    assert.deepEqual(body, { error: 'invalid_client', error_description: 'client_id metadata document fetch failed: the document is larger than 5120 bytes' });
  });

  test('the tenant flag switches it at run time through the Management API, cached documents included', async () => {
    const url = `${docs.origin}/desktop.json`;
    await assertAccepted(issuer.url, url);
    const token = await managementToken(issuer.url);
    const off = await management(issuer.url, 'PATCH', SETTINGS_PATH, { token, body: { flags: { enable_client_id_metadata_document: false } } });
    assert.equal(off.status, 200, JSON.stringify(off.json));
    assert.equal((off.json.flags as Record<string, boolean>).enable_client_id_metadata_document, false);
    // Every instance follows within a second (the settings cache).
    await new Promise((resolve) => setTimeout(resolve, 600));
    const hits = docs.hits('/desktop.json');
    await assertRefused(issuer.url, url, /tenant flag enable_client_id_metadata_document is off/);
    assert.equal(docs.hits('/desktop.json'), hits, 'nothing is fetched while the flag is off');
    assert.equal('client_id_metadata_document_supported' in (await discovery(issuer.url)), false);
    assert.equal('client_id_metadata_document_supported' in (await discovery(issuer.url, '.well-known/oauth-authorization-server')), false);

    const on = await management(issuer.url, 'PATCH', SETTINGS_PATH, { token, body: { flags: { enable_client_id_metadata_document: true } } });
    assert.equal(on.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 600));
    await assertAccepted(issuer.url, url);
  });
});

describe('outside development', () => {
  let issuer: RunningIssuer;
  before(async () => {
    issuer = await startIssuer({ overrides: { tenant: { flags: { enable_client_id_metadata_document: true } } } });
  });
  after(() => issuer.close());

  test('loopback, private, link-local and special-use hosts are refused before any connection', async () => {
    const port = docs.port;
    const connections = docs.connections();
    const cases: Array<[string, RegExp]> = [
      [`https://127.0.0.1:${port}/desktop.json`, /its host is a loopback address \(allowed in development only\)/],
      [`https://[::1]:${port}/desktop.json`, /its host is a loopback address/],
      [`https://localhost:${port}/desktop.json`, /its host localhost resolves to a loopback address/],
      [`https://2130706433:${port}/desktop.json`, /its host is a loopback address/],
      [`https://[::ffff:127.0.0.1]:${port}/desktop.json`, /its host is a loopback address/],
      ['https://10.0.0.1/client.json', /its host is a private address/],
      ['https://172.16.5.4/client.json', /its host is a private address/],
      ['https://192.168.1.1/client.json', /its host is a private address/],
      ['https://[fd00::1]/client.json', /its host is a private address/],
      ['https://169.254.169.254/latest/meta-data', /its host is a link-local address/],
      ['https://[fe80::1]/client.json', /its host is a link-local address/],
      ['https://0.0.0.0/client.json', /its host is a special-use address/],
    ];
    for (const [url, reason] of cases) await assertRefused(issuer.url, url, reason);
    assert.equal(docs.connections(), connections, 'no connection reached the document server');
  });

  test('an http URL is never fetched: a clear invalid_client', async () => {
    const before = docs.connections();
    await assertRefused(issuer.url, `http://127.0.0.1:${docs.port}/desktop.json`, /must be an https URL/);
    assert.equal(docs.connections(), before);
  });

  test('with the flag off (the default), nothing is fetched and discovery does not advertise it', async () => {
    assert.equal((await discovery(issuer.url)).client_id_metadata_document_supported, true);
    await issuer.tenant.updateFlags({ enable_client_id_metadata_document: false });
    try {
      assert.equal('client_id_metadata_document_supported' in (await discovery(issuer.url)), false);
      assert.equal('client_id_metadata_document_supported' in (await discovery(issuer.url, '.well-known/oauth-authorization-server/')), false);
      assert.equal('client_id_metadata_document_supported' in (await discovery(issuer.url, '.WELL-KNOWN/OPENID-CONFIGURATION')), false);
      await assertRefused(issuer.url, 'https://10.0.0.1/client.json', /tenant flag enable_client_id_metadata_document is off/);
    } finally {
      await issuer.tenant.updateFlags({ enable_client_id_metadata_document: true });
    }
    const fresh = await startIssuer();
    try {
      assert.equal(fresh.config.tenant.flags.enable_client_id_metadata_document, false);
      assert.equal('client_id_metadata_document_supported' in (await discovery(fresh.url)), false);
      await assertRefused(fresh.url, 'https://10.0.0.1/client.json', /tenant flag enable_client_id_metadata_document is off/);
    } finally {
      await fresh.close();
    }
  });
});
