// The example MCP server: a notes tool on the official TypeScript SDK, protected by the issuer
// the way the MCP authorization specification asks.
// - RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp (and at the root name) names
//   the issuer; a request without a token gets 401 with
//   `WWW-Authenticate: Bearer resource_metadata="…", scope="…"`, where an MCP client starts.
// - Access tokens are JWTs the issuer signed for this server: checked with jose against the
//   issuer's JWKS (fetched over HTTP and cached), `typ: at+jwt`, `iss`, and `aud` = this server's
//   own URL, so a token made for another server or API is refused (RFC 8707).
// - Each tool needs its scope; a call without it gets 403 `insufficient_scope` naming it, so the
//   client can ask for more (the specification's step-up).
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';

export type McpExampleSettings = {
  /** The issuer's URL, with its trailing slash: tokens must carry it as `iss`. */
  issuer: string;
  /** This server's MCP endpoint, e.g. http://localhost:3003/mcp: an `apis` identifier of the issuer. */
  resource: string;
  /** Shown by clients. */
  name?: string;
};

/** The scope each tool needs; the endpoint itself needs `mcp:tools`. */
export const TOOL_SCOPES = { whoami: 'mcp:tools', list_notes: 'notes:read' } as const;
export const MCP_SCOPES = ['mcp:tools', 'notes:read'];

const NOTES = [
  { title: 'Rotate the signing key', body: 'Every 90 days; the JWKS keeps the old key for a day.' },
  { title: 'Ask for the resource', body: 'MCP clients send resource=<this server> (RFC 8707).' },
];

const MAX_BODY_BYTES = 1_048_576;

/** RFC 9728 section 3.1: the well-known name with the resource's path appended. */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  return new URL(`/.well-known/oauth-protected-resource${url.pathname === '/' ? '' : url.pathname}`, url).href;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk);
  }
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
}

function scopesOf(payload: JWTPayload): string[] {
  return typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
}

/** The tools a JSON-RPC message (or batch) calls. */
function toolsCalled(body: unknown): string[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages.flatMap((message) => {
    const m = message as { method?: unknown; params?: { name?: unknown } } | null;
    return m?.method === 'tools/call' && typeof m.params?.name === 'string' ? [m.params.name] : [];
  });
}

function mcpServerFor(auth: AuthInfo, name: string): McpServer {
  const server = new McpServer({ name, version: '1.0.0' });
  server.registerTool('whoami', { title: 'Who am I', description: 'The signed-in user and the scopes of the token.' }, async () => ({
    content: [{ type: 'text', text: JSON.stringify({ sub: auth.extra?.sub, client_id: auth.clientId, scopes: auth.scopes }) }],
  }));
  server.registerTool('list_notes', { title: 'List notes', description: 'The team notes (needs notes:read).' }, async () => ({
    content: NOTES.map((note) => ({ type: 'text' as const, text: `${note.title}: ${note.body}` })),
  }));
  return server;
}

export function createMcpExample(settings: McpExampleSettings): (req: IncomingMessage, res: ServerResponse) => void {
  const { issuer, resource } = settings;
  const name = settings.name ?? 'Notes (example MCP server)';
  const keys = createRemoteJWKSet(new URL('.well-known/jwks.json', issuer));
  const metadataUrl = protectedResourceMetadataUrl(resource);
  const endpoint = new URL(resource).pathname;
  const metadata = { resource, authorization_servers: [issuer], scopes_supported: MCP_SCOPES, bearer_methods_supported: ['header'], resource_name: name };

  function challenge(res: ServerResponse, status: 401 | 403, error?: { code: string; description: string; scope?: string }): void {
    const parts = [`resource_metadata="${metadataUrl}"`, `scope="${error?.scope ?? MCP_SCOPES.join(' ')}"`];
    if (error) parts.unshift(`error="${error.code}"`, `error_description="${error.description}"`);
    sendJson(res, status, error ? { error: error.code, error_description: error.description } : { error: 'unauthorized', error_description: 'a Bearer access token is required' }, { 'www-authenticate': `Bearer ${parts.join(', ')}` });
  }

  async function authenticate(req: IncomingMessage, res: ServerResponse): Promise<AuthInfo | undefined> {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.headers.authorization ?? '');
    if (!match) {
      challenge(res, 401);
      return undefined;
    }
    const token = match[1]!;
    try {
      const { payload } = await jwtVerify(token, keys, { issuer, audience: resource, typ: 'at+jwt', algorithms: ['RS256'] });
      return { token, clientId: String(payload.client_id ?? payload.azp ?? ''), scopes: scopesOf(payload), expiresAt: payload.exp, resource: new URL(resource), extra: { sub: payload.sub } };
    } catch {
      challenge(res, 401, { code: 'invalid_token', description: `the access token is not valid for ${resource}` });
      return undefined;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' && (path === new URL(metadataUrl).pathname || path === '/.well-known/oauth-protected-resource')) {
      // Clients in a browser (MCP Inspector) read this cross-origin.
      return sendJson(res, 200, metadata, { 'access-control-allow-origin': '*', 'cache-control': 'max-age=300' });
    }
    if (path !== endpoint) return sendJson(res, 404, { error: 'not_found', error_description: `the MCP endpoint is ${resource}` });
    // Browser clients (MCP Inspector's direct mode) call from their own origin with a Bearer
    // token and no cookies, so any origin may; the token decides.
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'www-authenticate, mcp-session-id, mcp-protocol-version');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-methods': 'GET, POST, DELETE', 'access-control-allow-headers': 'authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id', 'access-control-max-age': '600' });
      return void res.end();
    }

    const auth = await authenticate(req, res);
    if (!auth) return;
    if (!auth.scopes.includes('mcp:tools')) {
      return challenge(res, 403, { code: 'insufficient_scope', description: 'the token lacks mcp:tools', scope: 'mcp:tools' });
    }
    let body: unknown;
    if (req.method === 'POST') {
      try {
        body = await readJson(req);
      } catch {
        return sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      }
      for (const tool of toolsCalled(body)) {
        const needed = TOOL_SCOPES[tool as keyof typeof TOOL_SCOPES];
        if (needed && !auth.scopes.includes(needed)) {
          return challenge(res, 403, { code: 'insufficient_scope', description: `the tool ${tool} needs ${needed}`, scope: [...new Set([...auth.scopes, needed])].join(' ') });
        }
      }
    }
    // Stateless: a server and a transport per request, nothing kept between requests.
    const server = mcpServerFor(auth, name);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(Object.assign(req, { auth }), res, body);
  }

  return (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'the MCP server failed' });
      else res.destroy();
    });
  };
}

/** A node:http server for the example; listen on it yourself. */
export function createMcpHttpServer(settings: McpExampleSettings) {
  return createServer(createMcpExample(settings));
}
