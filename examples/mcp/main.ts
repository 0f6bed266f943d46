// `npm run example:mcp`: the example MCP server, against an issuer already running with
// CONFIG_FILE=examples/issuer.yaml (registration on, this server's URL among its APIs).
//   ISSUER  the issuer's URL                 default http://localhost:3000/
//   PORT    the MCP server's port            default 3003
//   HOST    where it listens                 default localhost
// Its endpoint, http://<HOST>:<PORT>/mcp, is its resource identifier: the issuer must list
// exactly that URL in `apis` (examples/issuer.yaml does for the defaults).
import { once } from 'node:events';

import { createMcpHttpServer } from './server.ts';

const issuer = process.env.ISSUER ?? 'http://localhost:3000/';
const host = process.env.HOST ?? 'localhost';
const port = Number(process.env.PORT ?? 3003);
if (!issuer.endsWith('/')) {
  console.error(`ISSUER must end with a slash, like the issuer's identifier (${issuer}/)`);
  process.exit(1);
}
const resource = `http://${host.includes(':') ? `[${host}]` : host}:${port}/mcp`;

const server = createMcpHttpServer({ issuer, resource });
server.listen(port, host);
await once(server, 'listening');
console.log(`MCP server:   ${resource}  (Streamable HTTP; point MCP Inspector or a desktop client here)`);
console.log(`metadata:     http://${host}:${port}/.well-known/oauth-protected-resource/mcp`);
console.log(`issuer:       ${issuer}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
