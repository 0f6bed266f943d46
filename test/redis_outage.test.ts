// Redis going away and coming back, with the issuer as users run it (`node src/main.ts`):
// requests fail fast with 503 `temporarily_unavailable` and /readyz says not ready, nothing
// crashes, and the issuer recovers on its own. Then durability: with AOF and appendfsync
// always, every client acknowledged with 201 survives `kill -9` of the Redis server.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { startIssuerProcess } from './support/process.ts';
import type { IssuerProcess } from './support/process.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';
import { UserAgent } from './support/user_agent.ts';

const FAIL_WITHIN_MS = 2000;
const RECOVER_WITHIN_MS = 5000;
/** How long Redis stays away: long enough for several reconnect attempts (1 s apart at most). */
const OUTAGE_MS = 3000;

let dir: string;
let configFile: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'issuer-outage-'));
  configFile = join(dir, 'config.yaml');
  // Registration on, and a rate limit that a burst of test registrations never reaches.
  writeFileSync(configFile, 'tenant:\n  flags:\n    enable_dynamic_client_registration: true\nregistration:\n  rate_limit:\n    per_second: 1000\n    burst: 1000\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

type Timed = { status: number; ms: number; type: string; json?: Record<string, unknown> };

/** One request, timed; the client gives up after 10 s so a hang shows as a failure, not a stall. */
async function timed(url: string, init: RequestInit = {}): Promise<Timed> {
  const started = performance.now();
  const response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return { status: response.status, ms: performance.now() - started, type, json: type.includes('json') && text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

function register(issuer: IssuerProcess, name = 'Outage test'): Promise<Timed> {
  return timed(new URL('oidc/register', issuer.url).href, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: name, redirect_uris: ['https://app.example.com/cb'] }),
  });
}

const readyz = (issuer: IssuerProcess) => timed(new URL('readyz', issuer.url).href);

/** /authorize for a registered client: the client is read from the store. */
function authorize(issuer: IssuerProcess, clientId: string): Promise<Timed> {
  const url = new URL('authorize', issuer.url);
  url.search = new URLSearchParams({ client_id: clientId, redirect_uri: 'https://app.example.com/cb', response_type: 'id_token token', scope: 'openid', nonce: 'n' }).toString();
  return timed(url.href, { headers: { accept: 'application/json' } });
}

function assertUnavailable(answer: Timed, what: string): void {
  assert.equal(answer.status, 503, `${what}: ${answer.status} ${JSON.stringify(answer.json)}`);
  assert.ok(answer.ms < FAIL_WITHIN_MS, `${what}: answered after ${Math.round(answer.ms)} ms`);
}

/** Poll `probe` until it passes; returns how long it took. Bounded by count and time. */
async function recovers(what: string, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await probe()) return performance.now() - started;
    assert.ok(performance.now() - started < RECOVER_WITHIN_MS, `${what}: not recovered within ${RECOVER_WITHIN_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${what}: not recovered after 200 attempts`);
}

describe('Redis unreachable, then back', () => {
  let redis: TestRedis;
  let issuer: IssuerProcess;

  before(async () => {
    // Persistent, as in production: a restarted server comes back with the tenant settings.
    redis = await startRedis({ appendonly: true, appendfsync: 'always' });
    issuer = await startIssuerProcess({ CONFIG_FILE: configFile, REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('outage') });
  });
  after(async () => {
    await issuer?.stop();
    await redis?.stop();
  });

  for (const how of ['killed (connections refused)', 'frozen (connections open, no answers)'] as const) {
    test(`Redis ${how}: 503 JSON within 2 s, /readyz not ready; back: success within 5 s, no restart`, async (t) => {
      const registered = await register(issuer);
      assert.equal(registered.status, 201);
      const clientId = registered.json!.client_id as string;
      assert.equal((await readyz(issuer)).status, 200);

      if (how.startsWith('killed')) await redis.kill9();
      else redis.pause();
      const down = performance.now();

      const registration = await register(issuer);
      assertUnavailable(registration, 'POST /oidc/register');
      assert.match(registration.type, /application\/json/);
      assert.equal(registration.json?.error, 'temporarily_unavailable');
      assert.equal(typeof registration.json?.error_description, 'string');

      // Read inside oidc-provider (Client.find): its own error handler answers, with our shape.
      const authorization = await authorize(issuer, clientId);
      assertUnavailable(authorization, 'GET /authorize');

      const ready = await readyz(issuer);
      assertUnavailable(ready, 'GET /readyz');
      assert.equal(ready.json?.status, 'not_ready');

      // Several at once: none waits in a queue behind the others.
      const burst = await Promise.all(Array.from({ length: 10 }, () => register(issuer)));
      for (const answer of burst) assertUnavailable(answer, 'a burst of registrations');

      // Stateless endpoints keep working (discovery without registration_endpoint, once the
      // settings cache has expired); the process itself is healthy.
      assert.equal((await timed(new URL('.well-known/jwks.json', issuer.url).href)).status, 200);
      assert.equal((await timed(new URL('healthz', issuer.url).href)).status, 200);
      const discovery = await timed(new URL('.well-known/openid-configuration', issuer.url).href);
      assert.equal(discovery.status, 200);
      assert.ok(discovery.ms < FAIL_WITHIN_MS, `discovery after ${Math.round(discovery.ms)} ms`);

      // A sustained outage, through several reconnect attempts: every answer stays fast.
      const sustained: Timed[] = [];
      while (performance.now() - down < OUTAGE_MS && sustained.length < 50) {
        sustained.push(await register(issuer));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      for (const answer of sustained) assertUnavailable(answer, 'registration during the outage');
      const outageMs = performance.now() - down;

      if (how.startsWith('killed')) await redis.restart();
      else redis.resume();
      const recovery = await recovers('registration', async () => (await register(issuer)).status === 201);
      assert.equal((await readyz(issuer)).status, 200);
      assert.equal((await authorize(issuer, clientId)).status, 303, 'the client registered before the outage is still served');
      assert.equal(issuer.child.exitCode, null, 'the issuer kept running');

      const slowest = Math.max(registration.ms, authorization.ms, ready.ms, ...burst.map((a) => a.ms), ...sustained.map((a) => a.ms));
      t.diagnostic(`${how}: 503 after ${Math.round(registration.ms)} ms (register), ${Math.round(authorization.ms)} ms (authorize), ${Math.round(ready.ms)} ms (readyz); slowest ${Math.round(slowest)} ms; ${sustained.length} more during a ${Math.round(outageMs)} ms outage; recovered ${Math.round(recovery)} ms after Redis was back`);
    });
  }

  test('the issuer logged the outage and the recovery, and nothing crashed', () => {
    const output = issuer.output();
    assert.match(output, /lost the connection to Redis/);
    assert.match(output, /"event":"store_unavailable"/);
    assert.doesNotMatch(output, /"level":60|Unhandled|uncaught/i, output.slice(-2000));
  });
});

describe('Redis unreachable on the login pages', () => {
  const SPA_CALLBACK = 'https://spa.example.com/callback';
  let redis: TestRedis;
  let issuer: RunningIssuer;

  before(async () => {
    redis = await startRedis();
    issuer = await startIssuer({
      backend: { kind: 'redis', url: redis.url, prefix: uniquePrefix('outage-login') },
      overrides: { clients: [{ client_id: 'first-party-spa', name: 'First-party SPA', grant_types: ['implicit'], token_endpoint_auth_method: 'none', redirect_uris: [SPA_CALLBACK] }], client_grants: [] },
    });
  });
  after(async () => {
    await issuer?.close();
    await redis?.stop();
  });

  // The interaction is read from the store: an outage is "retry later" (503), not "your login
  // request has expired" (400), which would send the user back to start over for nothing.
  test('GET /u/<uid> and POST /u/<uid>/login answer 503 with Retry-After, not 400', async () => {
    const agent = new UserAgent(issuer.url);
    const url = new URL('authorize', issuer.url);
    url.search = new URLSearchParams({ client_id: 'first-party-spa', redirect_uri: SPA_CALLBACK, response_type: 'id_token token', scope: 'openid', nonce: 'n' }).toString();
    const page = await agent.navigate(url.href);
    assert.equal(page.status, 200, page.body);
    const action = UserAgent.formAction(page.body);
    const loginPage = new URL(action.replace(/\/login$/, ''), issuer.url).href;

    await redis.kill9();
    for (const step of [await agent.request(loginPage), await agent.submit(action, { email: 'alice@example.com', password: 'whatever' })]) {
      assert.equal(step.status, 503, `${step.url}: ${step.status} ${step.body.slice(0, 200)}`);
      assert.equal(step.headers.get('retry-after'), '1');
      assert.doesNotMatch(step.body, /expired/);
    }
  });
});

// `always` writes and fsyncs the AOF before answering, so even a machine crash keeps what was
// acknowledged: nothing may be missing. `everysec` usually writes the AOF before answering too, but
// while a background fsync is still running Redis postpones the write for up to 2 s and answers
// anyway (flushAppendOnlyFile): on a loaded machine a kill -9 of the process then loses what was
// acknowledged in the last seconds (seen here: 2 of 70 under a load average of 7). So for everysec
// the test asserts the bound, not zero: whatever is missing was acknowledged within the last
// EVERYSEC_WINDOW_MS before the kill.
const EVERYSEC_WINDOW_MS = 2500;
for (const appendfsync of ['always', 'everysec'] as const) describe(`durability: AOF with appendfsync ${appendfsync}`, () => {
  const title = appendfsync === 'always' ? 'kill -9 of Redis loses no client that was acknowledged with 201' : `kill -9 of Redis loses at most the clients acknowledged in its last ${EVERYSEC_WINDOW_MS} ms`;
  test(title, async (t) => {
    const redis = await startRedis({ appendonly: true, appendfsync });
    const issuer = await startIssuerProcess({ CONFIG_FILE: configFile, REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('durability') });
    try {
      // Registrations in flight while the server dies: every 201 must be there afterwards.
      const acknowledged: string[] = [];
      const acknowledgedAt = new Map<string, number>();
      let failed = 0;
      let killed = false;
      const stream = (async () => {
        for (let i = 0; i < 400 && !(killed && failed > 0); i++) {
          const answer = await register(issuer, `Durable ${i}`);
          if (answer.status === 201) {
            acknowledged.push(answer.json!.client_id as string);
            acknowledgedAt.set(answer.json!.client_id as string, Date.now());
          } else failed++;
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 400));
      const killedAt = Date.now();
      await redis.kill9();
      killed = true;
      await stream;
      assert.ok(acknowledged.length >= 5, `only ${acknowledged.length} registrations before the kill`);

      await redis.restart();
      await recovers('readyz after the restart', async () => (await readyz(issuer)).status === 200);
      const missing: string[] = [];
      for (const clientId of acknowledged) {
        if ((await authorize(issuer, clientId)).status !== 303) missing.push(clientId);
      }
      t.diagnostic(`${acknowledged.length} clients acknowledged before kill -9, ${failed} refused with 503 after it, ${missing.length} missing after the restart`);
      if (appendfsync === 'always') assert.deepEqual(missing, [], 'acknowledged clients lost');
      else assert.deepEqual(missing.filter((id) => acknowledgedAt.get(id)! < killedAt - EVERYSEC_WINDOW_MS), [], `clients acknowledged more than ${EVERYSEC_WINDOW_MS} ms before the kill were lost`);
    } finally {
      await issuer.stop();
      await redis.stop();
    }
  });
});
