// Discovery and the JWKS from prepared bytes (src/provider/metadata_cache.ts): a strong ETag that
// is the same across requests, spellings and instances; 304 on a matching If-None-Match under any
// spelling the library routes; HEAD; Auth0's Cache-Control with the JWKS's max-age below the key
// refresh; and the prepared bytes follow a flag flip (within a second) and a key rotation (within
// the refresh) on another instance of the same tenant.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startIssuer } from './support/issuer.ts';
import { captureLogs } from './support/log_capture.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { managementToken, setRegistrationFlag } from './support/management.ts';
import { useTempDir } from './support/temp_dir.ts';
import { waitFor } from './support/wait.ts';
import { ifNoneMatchHits, jwksMaxAge } from '../src/provider/metadata_cache.ts';

const DISCOVERY = ['/.well-known/openid-configuration', '/.WELL-KNOWN/OPENID-CONFIGURATION/', '/.well-known/oauth-authorization-server', '/.Well-Known/OAuth-Authorization-Server?x=1'];
const JWKS = ['/.well-known/jwks.json', '/.WELL-KNOWN/JWKS.JSON', '/.well-known/jwks.json/?v=2'];
const STRONG = /^"[A-Za-z0-9_-]{20,}"$/;

function get(issuer: RunningIssuer, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> {
  return fetch(new URL(path.slice(1), issuer.url), { method, headers, signal: AbortSignal.timeout(5000) });
}

async function etagOf(issuer: RunningIssuer, path: string): Promise<string> {
  const response = await get(issuer, path);
  assert.equal(response.status, 200, path);
  await response.arrayBuffer();
  return response.headers.get('etag') ?? '';
}

const dir = useTempDir('metadata-cache-');

describe('discovery and the JWKS from prepared bytes', () => {
  let first: RunningIssuer;
  let second: RunningIssuer;
  before(async () => {
    const backend = { kind: 'sqlite' as const, file: join(dir.path, 'issuer.sqlite') };
    first = await startIssuer({ backend });
    second = await startIssuer({ backend, overrides: { issuer: first.url } });
  });
  after(async () => {
    await first?.close();
    await second?.close();
  });

  test('a strong ETag, the same across requests and every spelling, and 304 on If-None-Match under any of them', async () => {
    for (const paths of [DISCOVERY, JWKS]) {
      const etag = await etagOf(first, paths[0]!);
      assert.match(etag, STRONG, 'a strong entity tag');
      for (const path of paths) {
        const response = await get(first, path);
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get('etag'), etag, path);
        const body = await response.json();
        assert.ok(body && typeof body === 'object', path);
        for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
          const revalidated = await get(first, path, { 'if-none-match': header, origin: 'https://app.example.com' });
          assert.equal(revalidated.status, 304, `${path} If-None-Match: ${header}`);
          assert.equal(await revalidated.text(), '');
          assert.equal(revalidated.headers.get('etag'), etag);
          assert.match(revalidated.headers.get('cache-control') ?? '', /^public, max-age=\d+$/);
          assert.ok(['https://app.example.com', '*'].includes(revalidated.headers.get('access-control-allow-origin') ?? ''));
        }
        const stale = await get(first, path, { 'if-none-match': '"not-the-tag"' });
        assert.equal(stale.status, 200, path);
        assert.ok((await stale.text()).length > 10);
      }
    }
    // Another instance of the same tenant prepares the same bytes: one tag for a cache in front.
    assert.equal(await etagOf(second, JWKS[0]!), await etagOf(first, JWKS[0]!));
    assert.equal(await etagOf(second, DISCOVERY[0]!), await etagOf(first, DISCOVERY[0]!));
  });

  test('Cache-Control as Auth0 serves it, the JWKS\'s max-age shorter than the key refresh', async () => {
    const discovery = await get(first, DISCOVERY[2]!);
    assert.equal(discovery.headers.get('cache-control'), 'public, max-age=15');
    assert.match(discovery.headers.get('content-type') ?? '', /^application\/json/);
    const jwks = await get(first, JWKS[1]!);
    assert.equal(jwks.headers.get('cache-control'), `public, max-age=${jwksMaxAge(first.config.keys.refresh_ms)}`);
    assert.match(jwks.headers.get('content-type') ?? '', /^application\/jwk-set\+json/);
    assert.ok(jwksMaxAge(first.config.keys.refresh_ms) * 1000 < first.config.keys.refresh_ms);
    for (const refreshMs of [100, 999, 1000, 1001, 2500, 3000, 60_000]) assert.ok(jwksMaxAge(refreshMs) * 1000 < refreshMs, String(refreshMs));
    assert.equal(jwksMaxAge(60_000), 15);
  });

  test('HEAD answers like GET, without a body', async () => {
    for (const path of [DISCOVERY[1]!, JWKS[2]!]) {
      const full = await get(first, path);
      const bytes = Buffer.from(await full.arrayBuffer());
      const head = await get(first, path, {}, 'HEAD');
      assert.equal(head.status, 200, path);
      assert.match(head.headers.get('etag') ?? '', STRONG, path);
      assert.equal(head.headers.get('etag'), full.headers.get('etag'));
      assert.equal(head.headers.get('cache-control'), full.headers.get('cache-control'));
      assert.equal(head.headers.get('content-length'), String(bytes.length));
      assert.equal((await head.arrayBuffer()).byteLength, 0);
    }
  });

  test('a flag flipped on one instance changes the ETag and the bytes on the other within a second', async () => {
    const before = await etagOf(second, DISCOVERY[0]!);
    await setRegistrationFlag(first.url, await managementToken(first.url), true);
    try {
      await waitFor(async () => (await etagOf(second, DISCOVERY[3]!)) !== before, 1000, 'the other instance\'s discovery ETag changed');
      const changed = await get(second, DISCOVERY[1]!, { 'if-none-match': before });
      assert.equal(changed.status, 200, 'the old tag no longer matches');
      assert.equal(((await changed.json()) as { registration_endpoint?: string }).registration_endpoint, `${first.url}oidc/register`);
    } finally {
      await setRegistrationFlag(first.url, await managementToken(first.url), false);
    }
    await waitFor(async () => (await etagOf(second, DISCOVERY[0]!)) === before, 1000, 'back to the first bytes');
  });

  test('a rotation on one instance changes the JWKS ETag on the other within the key refresh', async () => {
    const before = await etagOf(second, JWKS[0]!);
    const rotated = await first.keys.rotate();
    const next = rotated.keys.map((k) => k.kid);
    assert.notEqual(await etagOf(first, JWKS[0]!), before, 'the rotating instance at once');
    await waitFor(async () => (await etagOf(second, JWKS[1]!)) !== before, first.config.keys.refresh_ms + 1000, 'the other instance\'s JWKS ETag changed');
    const jwks = (await (await get(second, JWKS[0]!, { 'if-none-match': before })).json()) as { keys: Array<{ kid: string; d?: string }> };
    assert.deepEqual(jwks.keys.map((k) => k.kid), next);
    assert.ok(jwks.keys.every((k) => k.d === undefined), 'public keys only');
  });
});

describe('prepared bytes answered in front of the app', () => {
  let issuer: RunningIssuer;
  const logs = captureLogs();
  before(async () => {
    issuer = await startIssuer({ logger: logs.logger });
  });
  after(async () => {
    await issuer?.close();
  });

  /** Every header but the ones that differ per response (Date, X-Request-Id) or per connection (fetch closes after a HEAD). */
  const PER_RESPONSE = new Set(['date', 'x-request-id', 'connection', 'keep-alive']);
  function headersOf(response: Response): Record<string, string> {
    return Object.fromEntries([...response.headers].filter(([name]) => !PER_RESPONSE.has(name)));
  }

  async function count(route: string): Promise<number> {
    const metric = await issuer.metrics.httpDuration.get();
    return metric.values.filter((v) => v.metricName?.endsWith('_count') && v.labels.route === route).reduce((sum, v) => sum + v.value, 0);
  }

  test('the same status, headers and bytes as the app gives, with a request id, a log line and the histogram', async () => {
    for (const [route, path] of [['discovery', DISCOVERY[3]!], ['jwks', JWKS[2]!]] as const) {
      const origin = { origin: 'https://app.example.com' };
      // The first request prepares the bytes through the app; the ones after it are answered in front.
      const prepared = await get(issuer, path, origin);
      const body = Buffer.from(await prepared.arrayBuffer());
      const etag = prepared.headers.get('etag')!;
      const before = await count(route);
      const cases: Array<{ headers: Record<string, string>; method?: string; status: number; bytes: number }> = [
        { headers: origin, status: 200, bytes: body.length },
        { headers: {}, method: 'HEAD', status: 200, bytes: 0 },
        { headers: { ...origin, 'if-none-match': etag }, status: 304, bytes: 0 },
      ];
      for (const { headers, method, status, bytes } of cases) {
        const requestId = `fast-${route}-${status}-${method ?? 'GET'}`;
        const response = await get(issuer, path, { ...headers, 'x-request-id': requestId }, method);
        const received = Buffer.from(await response.arrayBuffer());
        assert.equal(response.status, status, `${route} ${method ?? 'GET'} ${status}`);
        assert.equal(received.length, bytes);
        if (bytes) assert.deepEqual(received, body);
        assert.equal(response.headers.get('x-request-id'), requestId);
        const expected = headersOf(prepared);
        if (status === 304) {
          delete expected['content-type'];
          delete expected['content-length'];
        }
        if (!headers.origin) expected['access-control-allow-origin'] = '*';
        assert.deepEqual(headersOf(response), expected, `${route} ${method ?? 'GET'} ${status}`);
        const line = logs.lines().find((l) => l.request_id === requestId);
        assert.deepEqual({ ...line, time: undefined, duration_ms: undefined }, { level: 30, time: undefined, request_id: requestId, method: method ?? 'GET', route, status, duration_ms: undefined, msg: 'request' });
        assert.equal(typeof line?.duration_ms, 'number');
      }
      assert.equal(await count(route), before + cases.length, `${route}: the histogram counted each request`);
      // A malformed request id is replaced, as the app does.
      const replaced = await get(issuer, path, { 'x-request-id': 'bad id with spaces' });
      await replaced.arrayBuffer();
      assert.match(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    }
  });

  test('other methods reach the app; a target parseurl parses as a URL is routed as the app routes it', async () => {
    const jwks = await get(issuer, JWKS[0]!);
    const body = await jwks.text();
    // A fragment in the request target: Koa's ctx.path drops it, and so does the answer.
    const fragment = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(new URL(issuer.url), { path: '/.well-known/jwks.json#part', timeout: 5000 }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      });
      request.on('error', reject).end();
    });
    assert.deepEqual(fragment, { status: 200, body });
    const options = await get(issuer, JWKS[0]!, { origin: 'https://app.example.com', 'access-control-request-method': 'GET' }, 'OPTIONS');
    assert.equal(options.status, 204);
    const post = await get(issuer, JWKS[0]!, {}, 'POST');
    assert.equal(post.status, 404, 'the library routes GET and HEAD only');
    await post.arrayBuffer();
  });
});

test('If-None-Match: weak comparison, lists and *', () => {
  assert.ok(ifNoneMatchHits('"a"', '"a"'));
  assert.ok(ifNoneMatchHits('W/"a"', '"a"'));
  assert.ok(ifNoneMatchHits(' "b" ,  "a"', '"a"'));
  assert.ok(ifNoneMatchHits('*', '"a"'));
  assert.ok(!ifNoneMatchHits('', '"a"'));
  assert.ok(!ifNoneMatchHits('"ab"', '"a"'));
  assert.ok(!ifNoneMatchHits('a', '"a"'));
});
