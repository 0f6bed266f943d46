// Start the example's two servers: the single-page app and the contacts API. Both listen before
// either is configured, so that each knows the other's URL even on ports picked by the system.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createContactsApi, READ_SCOPE } from './api/server.ts';
import { createSpaApp } from './spa/server.ts';

export type ExampleOptions = {
  /** The running issuer's URL, with its trailing slash. */
  issuer: string;
  /** The API identifier: an `apis` entry of the issuer. */
  audience: string;
  host: string;
  spaPort: number;
  apiPort: number;
  /** The name the URLs use for `host` (localhost rather than 127.0.0.1, say). */
  publicHost?: string;
};

export type RunningExample = { spaUrl: string; apiUrl: string; close(): Promise<void> };

export const EXAMPLE_SCOPE = `openid profile email ${READ_SCOPE}`;

async function listen(port: number, host: string): Promise<Server> {
  const server = createServer();
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

function urlOf(server: Server, host: string): string {
  const { port } = server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

export async function startExample(options: ExampleOptions): Promise<RunningExample> {
  const { issuer, audience, host } = options;
  const spaServer = await listen(options.spaPort, host);
  const apiServer = await listen(options.apiPort, host).catch(async (error: unknown) => {
    spaServer.close();
    throw error;
  });
  const spaUrl = urlOf(spaServer, options.publicHost ?? host);
  const apiUrl = urlOf(apiServer, options.publicHost ?? host);
  spaServer.on('request', createSpaApp({ issuer, api: apiUrl, audience, scope: EXAMPLE_SCOPE }).callback());
  apiServer.on('request', createContactsApi({ issuer, audience, allowedOrigins: [new URL(spaUrl).origin] }).callback());
  return {
    spaUrl,
    apiUrl,
    async close() {
      for (const server of [spaServer, apiServer]) server.closeAllConnections();
      await Promise.all([spaServer, apiServer].map((server) => new Promise<void>((done) => server.close(() => done()))));
    },
  };
}
