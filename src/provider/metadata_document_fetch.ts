// Bend: how the issuer fetches a URL a client names (Client ID Metadata Documents, and any other
// document oidc-provider would fetch). The library's own fetch refuses every special-use address,
// loopback included, and allows 2.5 s; a developer's MCP client serving its own document on
// 127.0.0.1 could never sign in, and 3 s is this product's limit. This replaces the library's
// `fetch` (its documented configuration option) with one that decides by address *before*
// connecting: an IP literal is checked as written, a name through a `lookup` that checks every
// address DNS returns, so a name that resolves to 10.0.0.1 never gets a packet, and a second
// answer (DNS rebinding) cannot slip in between the check and the connection.
// - https only, a 200 answer holding a JSON object of at most 5 KB (counted while reading,
//   whatever Content-Length says), 3 s for the whole exchange, no redirects followed.
// - Outside development, no loopback, private, link-local, shared or unspecified addresses;
//   in development loopback is allowed (the others still are not).
// oidc-provider wraps any failure in "client_id metadata document fetch failed" and keeps the
// reason in a field it never shows; `refusalReason` lets the issuer say which limit was hit.
import { AsyncLocalStorage } from 'node:async_hooks';
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import { request } from 'node:https';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';

export const METADATA_DOCUMENT_MAX_BYTES = 5 * 1024;
export const METADATA_DOCUMENT_TIMEOUT_MS = 3000;

/** A fetch the issuer refused or that failed, with a reason safe to show the caller. */
export class FetchRefusal extends Error {
  override readonly name = 'FetchRefusal';
}

function blockList(ranges: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const list = new BlockList();
  for (const [network, prefix, type] of ranges) list.addSubnet(network, prefix, type);
  return list;
}

const LOOPBACK = blockList([['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]);
const PRIVATE = blockList([['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['fc00::', 7, 'ipv6']]);
const LINK_LOCAL = blockList([['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']]);
const OTHER_SPECIAL = blockList([
  ['0.0.0.0', 8, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['198.18.0.0', 15, 'ipv4'], ['224.0.0.0', 4, 'ipv4'], ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'], ['ff00::', 8, 'ipv6'], ['64:ff9b::', 96, 'ipv6'], ['2002::', 16, 'ipv6'],
]);

/** `::ffff:10.0.0.1` is 10.0.0.1. */
function unmapped(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, type: 'ipv4' };
  return { address, type: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** Why an address may not be fetched from, or undefined when it may. */
export function addressProblem(raw: string, development: boolean): string | undefined {
  const { address, type } = unmapped(raw);
  if (LOOPBACK.check(address, type)) return development ? undefined : 'a loopback address (allowed in development only)';
  if (PRIVATE.check(address, type)) return 'a private address';
  if (LINK_LOCAL.check(address, type)) return 'a link-local address';
  if (OTHER_SPECIAL.check(address, type)) return 'a special-use address';
  return undefined;
}

function guardedLookup(development: boolean): LookupFunction {
  return ((hostname: string, options: LookupOneOptions | LookupAllOptions, callback: (error: Error | null, address?: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(new FetchRefusal(`its host ${hostname} does not resolve`));
      for (const { address } of addresses) {
        const problem = addressProblem(address, development);
        if (problem) return callback(new FetchRefusal(`its host ${hostname} resolves to ${problem}`));
      }
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}

/** Refusals recorded during one request, for the error description (see `refusalReason`). */
type RefusalScope = { reason?: string; url?: string };
const refusals = new AsyncLocalStorage<RefusalScope>();

/** Run a request with a place to record why a document could not be fetched; what was recorded. */
export async function withRefusalScope(run: () => Promise<unknown>): Promise<{ reason?: string }> {
  const scope: RefusalScope = {};
  await refusals.run(scope, run);
  return scope;
}

/** Why a document fetch failed during the current request, if one did. */
export function refusalReason(): string | undefined {
  return refusals.getStore()?.reason;
}

function refuse(url: URL, reason: string): never {
  const scope = refusals.getStore();
  if (scope) Object.assign(scope, { reason, url: url.href });
  throw new FetchRefusal(reason);
}

type FetchOptions = { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; signal?: AbortSignal };

/** The `fetch` for oidc-provider's configuration. */
export function createMetadataDocumentFetch(options: { development: boolean }) {
  const lookup = guardedLookup(options.development);
  return async function metadataDocumentFetch(input: string | URL, init: FetchOptions = {}): Promise<Response> {
    const url = new URL(input);
    // The library may look the client up twice in one request: a URL that just failed fails again
    // at once, rather than costing the caller another 3 s.
    const earlier = refusals.getStore();
    if (earlier?.url === url.href && earlier.reason) refuse(url, earlier.reason);
    if (url.protocol !== 'https:') refuse(url, 'it is not an https URL');
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host)) {
      const problem = addressProblem(host, options.development);
      if (problem) refuse(url, `its host is ${problem}`);
    }
    const headers = Object.fromEntries(new Headers(init.headers));
    try {
      return await new Promise<Response>((resolve, reject) => {
        const req = request(url, { method: init.method ?? 'GET', headers, lookup, agent: false, signal: AbortSignal.timeout(METADATA_DOCUMENT_TIMEOUT_MS) }, (res) => {
          const chunks: Buffer[] = [];
          let received = 0;
          res.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > METADATA_DOCUMENT_MAX_BYTES) {
              // Settle first: the stream may still report an end once destroyed.
              reject(new FetchRefusal(`the document is larger than ${METADATA_DOCUMENT_MAX_BYTES} bytes`));
              req.destroy();
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            const responseHeaders = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
            }
            // no-store and no-cache mean no reuse without asking again: nothing to cache.
            if (/(?:^|,)\s*no-(?:store|cache)\b/i.test(responseHeaders.get('cache-control') ?? '')) responseHeaders.set('cache-control', 'max-age=0');
            const status = res.statusCode ?? 502;
            if (status !== 200) return reject(new FetchRefusal(`it answered HTTP ${status}, not 200`));
            const body = Buffer.concat(chunks);
            // Every document the issuer fetches is a JSON object; say so here, where the reason is kept.
            let parsed: unknown;
            try {
              parsed = JSON.parse(body.toString('utf8'));
            } catch {
              return reject(new FetchRefusal('the document is not JSON'));
            }
            if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return reject(new FetchRefusal('the document is not a JSON object'));
            resolve(new Response(body, { status, headers: responseHeaders }));
          });
        });
        req.on('error', reject);
        req.end();
      });
    } catch (error) {
      if (error instanceof FetchRefusal) refuse(url, error.message);
      if ((error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError') refuse(url, `it did not answer within ${METADATA_DOCUMENT_TIMEOUT_MS / 1000} s`);
      refuse(url, `it could not be fetched (${(error as NodeJS.ErrnoException).code ?? 'connection failed'})`);
    }
  };
}
