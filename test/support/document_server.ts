// An https server on loopback with a self-signed certificate made for the test (openssl), to
// serve Client ID Metadata Documents. The issuer trusts it the way Node is told to trust a
// private CA in real life: NODE_EXTRA_CA_CERTS, read once when its process starts.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export type Certificate = { certFile: string; cert: string; key: string };

/** A self-signed certificate for localhost, 127.0.0.1 and ::1, valid for a day. */
export function makeCertificate(dir: string): Certificate {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore', timeout: 10_000 });
  return { certFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export type DocumentServer = {
  /** https://127.0.0.1:<port> */
  origin: string;
  port: number;
  /** Serve `route` at `path`. */
  route(path: string, route: Route): void;
  /** Requests received per path, and TCP connections accepted. */
  hits(path: string): number;
  connections(): number;
  close(): Promise<void>;
};

export async function startDocumentServer(certificate: Certificate): Promise<DocumentServer> {
  const routes = new Map<string, Route>();
  const hits = new Map<string, number>();
  let connections = 0;
  const server = createServer({ cert: certificate.cert, key: certificate.key });
  server.on('connection', () => connections++);
  server.on('request', (req, res) => {
    const path = new URL(req.url!, 'https://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (route) return route(req, res);
    res.statusCode = 404;
    res.end('not found');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `https://127.0.0.1:${port}`,
    port,
    route: (path, route) => void routes.set(path, route),
    hits: (path) => hits.get(path) ?? 0,
    connections: () => connections,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Serve a JSON document with these headers. */
export function json(body: unknown, headers: Record<string, string> = {}): Route {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}
