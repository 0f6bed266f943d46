// One truth, many instances: two issuers share one Redis. A PATCH on one is seen by the other
// within a second, and the other's /oidc/register follows it; the settings survive a restart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startIssuer } from './support/issuer.ts';
import type { Backend, RunningIssuer } from './support/issuer.ts';
import { management, managementToken, registrationStatus, setRegistrationFlag, SETTINGS_PATH } from './support/management.ts';
import { waitFor } from './support/wait.ts';
import { startRedis, uniquePrefix } from './support/redis.ts';
import type { TestRedis } from './support/redis.ts';

const WITHIN_MS = 1000;
// The probes register clients; the rate limit is not under test here.
const overrides = { registration: { rate_limit: { per_second: 1000, burst: 1000 } } };

describe('tenant settings across instances sharing Redis', () => {
  let redis: TestRedis;
  let backend: Backend;
  let first: RunningIssuer;
  let second: RunningIssuer;

  before(async () => {
    redis = await startRedis();
    backend = { kind: 'redis', url: redis.url, prefix: uniquePrefix('management') };
    first = await startIssuer({ backend, overrides });
    // Behind one load balancer: the same issuer identifier, another process.
    second = await startIssuer({ backend, overrides: { ...overrides, issuer: first.url } });
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await redis?.stop();
  });

  /** A token asked at this instance; both serve the first one's issuer identifier. */
  const tokenAt = (issuer: RunningIssuer) => managementToken(issuer.url, { issuer: first.url });
  const flagOn = async (issuer: RunningIssuer) =>
    ((await management(issuer.url, 'GET', SETTINGS_PATH, { token: await tokenAt(issuer) })).json.flags as Record<string, boolean>).enable_dynamic_client_registration;

  test('a PATCH on one instance reaches the other\'s settings and /oidc/register within 1 s, both ways', async () => {
    const firstToken = await tokenAt(first);
    const secondToken = await tokenAt(second);
    // Warm the second instance's cache with the old value first: the change must still arrive in time.
    assert.equal(await registrationStatus(second.url), 403);
    assert.equal(await flagOn(second), false);

    await setRegistrationFlag(first.url, firstToken, true);
    const opened = await waitFor(async () => (await registrationStatus(second.url)) === 201, WITHIN_MS, 'registration opened on the second instance');
    assert.equal(await flagOn(second), true);

    await setRegistrationFlag(second.url, secondToken, false);
    const closed = await waitFor(async () => (await registrationStatus(first.url)) === 403, WITHIN_MS, 'registration closed on the first instance');
    assert.equal(await flagOn(first), false);
    assert.ok(opened < WITHIN_MS && closed < WITHIN_MS, `${opened} ms, ${closed} ms`);
  });

  test('the settings survive a restart of every instance', async () => {
    await setRegistrationFlag(first.url, await tokenAt(first), true);
    await first.close();
    await second.close();
    first = await startIssuer({ backend, overrides, port: Number(new URL(first.url).port) });
    second = await startIssuer({ backend, overrides: { ...overrides, issuer: first.url } });
    assert.equal(await flagOn(first), true);
    assert.equal(await registrationStatus(second.url), 201);
  });

  test('a token from one instance is accepted by the other: both sign with the keys in the store', async () => {
    const token = await managementToken(first.url);
    const result = await management(second.url, 'GET', SETTINGS_PATH, { token });
    assert.equal(result.status, 200, JSON.stringify(result.json));
  });
});
