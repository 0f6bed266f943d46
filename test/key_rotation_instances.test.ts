// One key set, many instances: two issuers (one issuer identifier) share one Redis. A rotation on
// one is followed by the other within 5 s (both sign with the new kid, both JWKS identical), a
// token signed just before it verifies everywhere, a revocation reaches both; and when Redis
// loses everything (FLUSHALL, under load), the instances write back the key set they hold and
// the config file's flags instead of generating new ones, so their JWKS stay one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Redis } from 'ioredis';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JWK } from 'jose';

import { OPS, startIssuer } from './support/issuer.ts';
import type { Backend, RunningIssuer } from './support/issuer.ts';
import { management, managementToken, registrationStatus } from './support/management.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';
import { waitFor } from './support/wait.ts';
import { captureLogs } from './support/log_capture.ts';

const WITHIN_MS = 5000;
const KEY_SCOPES = ['read:signing_keys', 'create:signing_keys', 'update:signing_keys', 'read:tenant_settings'];
const overrides = {
  tenant: { flags: { enable_dynamic_client_registration: true } },
  registration: { rate_limit: { per_second: 10_000, burst: 10_000 } },
  client_grants: [{ client_id: OPS.client_id, audience: '/api/v2/', scope: KEY_SCOPES }],
};

async function jwksOf(issuer: RunningIssuer): Promise<{ keys: JWK[] }> {
  const response = await fetch(new URL('.well-known/jwks.json', issuer.url), { signal: AbortSignal.timeout(5000) });
  assert.equal(response.status, 200);
  return (await response.json()) as { keys: JWK[] };
}

const kids = (jwks: { keys: JWK[] }) => jwks.keys.map((k) => k.kid);

describe('signing keys across two instances on one Redis', () => {
  let redis: TestRedis;
  let backend: Backend;
  let first: RunningIssuer;
  let second: RunningIssuer;
  const logs = captureLogs('warn');
  const healedLines = () => logs.lines().filter((line) => line.event === 'store_healed').map((line) => line.audit);

  before(async () => {
    redis = await startRedis();
    backend = { kind: 'redis', url: redis.url, prefix: uniquePrefix('key-rotation') };
    first = await startIssuer({ backend, overrides, logger: logs.logger });
    second = await startIssuer({ backend, overrides: { ...overrides, issuer: first.url } });
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await redis?.stop();
  });

  /** A Management API token signed by this instance; its kid must be in this instance's JWKS. */
  async function signedAt(issuer: RunningIssuer): Promise<{ token: string; kid: string }> {
    const token = await managementToken(issuer.url, { issuer: first.url });
    const { kid } = decodeProtectedHeader(token);
    assert.ok(kids(await jwksOf(issuer)).includes(kid), `${issuer.url} signed with ${kid}, which its own JWKS does not list`);
    return { token, kid: kid! };
  }

  async function verifiesWith(issuer: RunningIssuer, token: string): Promise<boolean> {
    try {
      await jwtVerify(token, createLocalJWKSet(await jwksOf(issuer)), { issuer: first.url });
      return true;
    } catch {
      return false;
    }
  }

  test('a rotation on one instance: old tokens verify on both, both sign with the new kid within 5 s, and a revoke reaches both', async (t) => {
    const before = await signedAt(first);
    assert.equal((await signedAt(second)).kid, before.kid, 'one key set to start with');
    const rotated = await management(first.url, 'POST', 'api/v2/keys/signing/rotate', { token: before.token });
    assert.equal(rotated.status, 201, JSON.stringify(rotated.json));
    const newKid = rotated.json.kid as string;
    assert.notEqual(newKid, before.kid);
    const started = Date.now();

    // The new kid was published as `next` everywhere before anyone signed with it.
    assert.ok(kids(await jwksOf(second)).includes(newKid), 'the other instance already publishes the new signing key');
    assert.ok(await verifiesWith(first, before.token));
    assert.ok(await verifiesWith(second, before.token));

    const bothSign = await waitFor(async () => (await signedAt(first)).kid === newKid && (await signedAt(second)).kid === newKid, WITHIN_MS, 'both instances sign with the new kid');
    assert.ok(Date.now() - started <= WITHIN_MS, `${Date.now() - started} ms`);
    await waitFor(async () => JSON.stringify(await jwksOf(first)) === JSON.stringify(await jwksOf(second)), WITHIN_MS, 'identical JWKS after the rotation');
    assert.deepEqual(kids(await jwksOf(first))[0], newKid);
    assert.ok(await verifiesWith(second, before.token), 'a token from just before the rotation still verifies after it');
    assert.equal((await management(second.url, 'GET', 'api/v2/keys/signing', { token: before.token })).status, 200);
    const fromSecond = await signedAt(second);
    assert.ok(await verifiesWith(first, fromSecond.token));

    // Revoke the old key on the other instance: it leaves both JWKS, and its tokens fail on both.
    const revoked = await management(second.url, 'PUT', `api/v2/keys/signing/${before.kid}/revoke`, { token: fromSecond.token });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
    const revokedIn = await waitFor(async () => {
      const [a, b] = [await jwksOf(first), await jwksOf(second)];
      return JSON.stringify(a) === JSON.stringify(b) && !kids(a).includes(before.kid);
    }, WITHIN_MS, 'identical JWKS without the revoked key');
    for (const issuer of [first, second]) {
      assert.equal(await verifiesWith(issuer, before.token), false);
      assert.equal((await management(issuer.url, 'GET', 'api/v2/keys/signing', { token: before.token })).status, 401);
    }
    assert.ok(bothSign <= WITHIN_MS && revokedIn <= WITHIN_MS, `${bothSign} ms, ${revokedIn} ms`);
    t.diagnostic(`both sign with the new kid ${Math.round(bothSign)} ms after the rotation; the revocation reached both JWKS in ${Math.round(revokedIn)} ms`);
  });

  test('FLUSHALL under load: within 5 s one JWKS again, tokens cross-verify, registration follows the config file', async (t) => {
    const tokenBefore = (await signedAt(first)).token;
    const jwksBefore = await jwksOf(first);
    assert.deepEqual(healedLines(), [], 'nothing was lost before the FLUSHALL');
    const cookieKeysBefore = await first.store.getDocument('cookie_keys');
    const flusher = new Redis(redis.url);
    // Load on both instances while the data goes: tokens, JWKS reads, registrations.
    let running = true;
    const statuses: number[] = [];
    const load = Array.from({ length: 4 }, async (_, i) => {
      const issuer = i % 2 ? second : first;
      while (running) {
        const probes = [
          fetch(new URL('.well-known/jwks.json', issuer.url)).then((r) => (r.body?.cancel(), r.status)),
          managementToken(issuer.url, { issuer: first.url }).then(() => 200, () => 0),
          registrationStatus(issuer.url),
        ];
        statuses.push(...(await Promise.all(probes)));
      }
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await flusher.flushall();
      const healed = await waitFor(async () => {
        const [a, b] = await Promise.all([first, second].map((issuer) => jwksOf(issuer)));
        return JSON.stringify(a) === JSON.stringify(b) && JSON.stringify(a) === JSON.stringify(jwksBefore);
      }, WITHIN_MS, 'both instances publish the same JWKS');
      // The store holds the key set again (written back, not generated anew), and the settings.
      const rewritten = await waitFor(async () => {
        const stored = (await first.store.getDocument('signing_keys')) as { keys: JWK[] } | undefined;
        return stored !== undefined && JSON.stringify(kids(stored)) === JSON.stringify(kids(jwksBefore));
      }, WITHIN_MS, 'the key set written back to the store');
      // Registration follows the config file's flag (on), not the built-in default (off).
      await waitFor(async () => (await registrationStatus(second.url)) === 201 && (await registrationStatus(first.url)) === 201, WITHIN_MS, 'registration open');
      // The config file's flags, every one of them, not the built-in defaults.
      assert.deepEqual(await first.store.getDocument('tenant_settings'), { flags: first.config.tenant.flags });
      assert.equal(first.config.tenant.flags.enable_dynamic_client_registration, true);
      await waitFor(() => healedLines().includes('signing_keys'), WITHIN_MS, 'a log line says the keys were written back');
      // The generated cookie keys too: sessions made from now on are signed as before.
      await waitFor(async () => JSON.stringify(await first.store.getDocument('cookie_keys')) === JSON.stringify(cookieKeysBefore), WITHIN_MS, 'the cookie keys written back');
      t.diagnostic(`one JWKS ${Math.round(healed)} ms after FLUSHALL; the key set back in the store after ${Math.round(rewritten)} ms`);
      const a = await signedAt(first);
      const b = await signedAt(second);
      assert.ok(await verifiesWith(second, a.token), 'a JWT from the first verifies with the second');
      assert.ok(await verifiesWith(first, b.token), 'a JWT from the second verifies with the first');
      assert.ok(await verifiesWith(second, tokenBefore), 'a JWT from before the loss still verifies');
      const settings = await management(first.url, 'GET', 'api/v2/tenants/settings', { token: a.token });
      assert.equal((settings.json.flags as Record<string, boolean>).enable_dynamic_client_registration, true);

      // Lost again, and an instance starts at once, before the others wrote back: it must not split
      // the issuer. Whoever wrote first, all three converge on one set that keeps every key signed with.
      await flusher.flushall();
      const third = await startIssuer({ backend, overrides: { ...overrides, issuer: first.url } });
      try {
        const thirdBefore = await signedAt(third);
        const converged = await waitFor(async () => {
          const [x, y, z] = await Promise.all([first, second, third].map((issuer) => jwksOf(issuer)));
          return JSON.stringify(x) === JSON.stringify(y) && JSON.stringify(y) === JSON.stringify(z);
        }, 2 * WITHIN_MS, 'the latecomer and the others publish the same JWKS');
        t.diagnostic(`three instances on one JWKS ${Math.round(converged)} ms after the latecomer started`);
        for (const issuer of [first, second, third]) {
          assert.ok(await verifiesWith(issuer, tokenBefore), `a JWT from before the loss fails at ${issuer.url}`);
          assert.ok(await verifiesWith(issuer, thirdBefore.token), `the latecomer's first JWT fails at ${issuer.url}`);
        }
        const c = await signedAt(third);
        assert.ok(await verifiesWith(first, c.token) && await verifiesWith(second, c.token));
      } finally {
        await third.close();
      }
    } finally {
      running = false;
      await Promise.all(load);
      flusher.disconnect();
    }
    assert.ok(statuses.length > 20, `load ran: ${statuses.length} requests`);
    t.diagnostic(`${statuses.length} requests under load, statuses ${JSON.stringify(Object.fromEntries([...new Set(statuses)].map((s) => [s, statuses.filter((x) => x === s).length])))}`);
    assert.deepEqual(statuses.filter((s) => s >= 500), [], 'no 5xx while the store lost its data');
  });
});

describe('many changes to the key set at once, on two instances', () => {
  // Rotations are refused for two refresh periods after one: long enough for every request of a burst.
  const REFRESH_MS = 1500;
  let redis: TestRedis;
  let first: RunningIssuer;
  let second: RunningIssuer;

  before(async () => {
    redis = await startRedis();
    const backend: Backend = { kind: 'redis', url: redis.url, prefix: uniquePrefix('key-races') };
    const fast = { ...overrides, keys: { refresh_ms: REFRESH_MS } };
    first = await startIssuer({ backend, overrides: fast });
    second = await startIssuer({ backend, overrides: { ...fast, issuer: first.url } });
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await redis?.stop();
  });

  test('concurrent rotations: exactly one wins (the rest 429), no key is lost; concurrent revokes of one key: one 200', async () => {
    const token = await managementToken(first.url);
    const burst = async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => management(i % 2 ? second.url : first.url, 'POST', 'api/v2/keys/signing/rotate', { token })));
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [201, ...Array(9).fill(429)], JSON.stringify(answers.map((a) => a.json)));
      return answers.find((a) => a.status === 201)!.json.kid as string;
    };
    const start = kids(await jwksOf(first));
    const one = await burst();
    await new Promise((resolve) => setTimeout(resolve, 2 * REFRESH_MS + 100));
    const two = await burst();
    await waitFor(async () => JSON.stringify(await jwksOf(first)) === JSON.stringify(await jwksOf(second)), 2000, 'identical JWKS after the bursts');
    const published = kids(await jwksOf(first));
    assert.equal(published.length, 4, 'current, next and two previous keys');
    assert.equal(published[0], two);
    assert.ok(start.every((kid) => published.includes(kid)) && published.includes(one), 'a key was lost in the race');

    const fresh = await managementToken(first.url);
    const revokes = await Promise.all(Array.from({ length: 6 }, (_, i) => management(i % 2 ? second.url : first.url, 'PUT', `api/v2/keys/signing/${start[0]}/revoke`, { token: fresh })));
    assert.deepEqual(revokes.map((a) => a.status).sort(), [200, 400, 400, 400, 400, 400], JSON.stringify(revokes.map((a) => a.json)));
    await waitFor(async () => {
      const [a, b] = [await jwksOf(first), await jwksOf(second)];
      return JSON.stringify(a) === JSON.stringify(b) && !kids(a).includes(start[0]);
    }, 2 * REFRESH_MS, 'the revoked key gone from both JWKS');
  });
});
