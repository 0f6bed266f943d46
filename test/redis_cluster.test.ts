// A local Redis Cluster of three masters (`redis-server --cluster-enabled yes` ×3, then
// `redis-cli --cluster create`): the registration and implicit flow suites pass on it
// unchanged, and the issuer as users run it takes the cluster from `storage.redis_cluster`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { decodeJwt } from 'jose';

import { ALICE } from './support/issuer.ts';
import { startIssuerProcess } from './support/process.ts';
import { uniquePrefix } from './support/redis.ts';
import { redisCli, startRedisCluster } from './support/redis_topologies.ts';
import type { TestRedisCluster } from './support/redis_topologies.ts';
import { runSuites, TOPOLOGY_SUITES } from './support/suites.ts';
import { loginAndConsent, redirectParams, UserAgent } from './support/user_agent.ts';

describe('Redis Cluster (three masters)', () => {
  let cluster: TestRedisCluster;
  let dir: string;

  before(async () => {
    cluster = await startRedisCluster();
    dir = mkdtempSync(join(tmpdir(), 'issuer-cluster-'));
  });
  after(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the registration and implicit flow suites pass on the cluster', async (t) => {
    const run = await runSuites(TOPOLOGY_SUITES, { TEST_REDIS_TARGET: JSON.stringify(cluster.target) });
    assert.equal(run.code, 0, run.output.slice(-6000));
    assert.equal(run.failed, 0);
    assert.ok(run.passed > 50, `only ${run.passed} tests ran`);
    t.diagnostic(`${run.passed} tests passed on the cluster in ${Math.round(run.ms)} ms`);
  });

  test('npm start with storage.redis_cluster: register, log in, implicit tokens; keys on every master', async () => {
    const prefix = uniquePrefix('cluster');
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, [
      'tenant: { flags: { enable_dynamic_client_registration: true } }',
      'registration: { rate_limit: { per_second: 1000, burst: 1000 } }',
      'storage:',
      '  redis_cluster:',
      // One seed is enough: the client discovers the others.
      `    - ${cluster.target.kind === 'cluster' ? cluster.target.nodes[0] : ''}`,
      '',
    ].join('\n'));
    const issuer = await startIssuerProcess({ CONFIG_FILE: configFile, REDIS_PREFIX: prefix });
    try {
      assert.match(issuer.output(), /"store":"redis"/);
      const clientIds: string[] = [];
      for (let i = 0; i < 12; i++) {
        const response = await fetch(new URL('oidc/register', issuer.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ client_name: `Cluster app ${i}`, redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'none' }),
          signal: AbortSignal.timeout(5000),
        });
        assert.equal(response.status, 201, await response.clone().text());
        clientIds.push(((await response.json()) as { client_id: string }).client_id);
      }

      const agent = new UserAgent(issuer.url);
      const authorize = new URL('authorize', issuer.url);
      authorize.search = new URLSearchParams({ client_id: clientIds[0]!, redirect_uri: 'https://app.example.com/cb', response_type: 'id_token token', scope: 'openid email', nonce: 'n-c', state: 's-c' }).toString();
      const done = await loginAndConsent(agent, await agent.navigate(authorize.href), ALICE);
      const fragment = redirectParams(done.location);
      assert.ok(fragment.get('access_token'), done.location);
      assert.equal(decodeJwt(fragment.get('id_token')!).nonce, 'n-c');

      // The keys of one issuer spread over the three masters: nothing assumed one node.
      for (const node of cluster.nodes) {
        const keys = await redisCli(node.port, '--scan', '--pattern', `${prefix}*`);
        assert.ok(keys.split('\n').filter(Boolean).length > 0, `no keys on the master at ${node.port}`);
      }
    } finally {
      assert.equal(await issuer.stop(), 0, issuer.output().slice(-3000));
    }
  });
});
