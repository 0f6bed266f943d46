// The storage section of the configuration: the three Redis topologies by their documented
// keys and env mirrors, at most one of them, and what the composition root makes of them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { ConfigError, loadConfig } from '../src/config.ts';
import { redisTargetOf } from '../src/storage.ts';
import { planWorkers } from '../src/workers.ts';
import { runToExit } from './support/process.ts';
import { useTempDir } from './support/temp_dir.ts';

const temp = useTempDir('issuer-storage-config-');
const file = temp.file;

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('storage configuration', () => {
  test('the documented YAML keys name each topology', () => {
    const server = loadConfig({ CONFIG_FILE: file('server.yaml', 'storage:\n  redis_url: redis://127.0.0.1:6379\n') });
    assert.deepEqual(redisTargetOf(server.storage), { kind: 'server', url: 'redis://127.0.0.1:6379' });

    const cluster = loadConfig({ CONFIG_FILE: file('cluster.yaml', 'storage:\n  redis_cluster:\n    - redis://127.0.0.1:7000\n    - redis://127.0.0.1:7001\n') });
    assert.deepEqual(redisTargetOf(cluster.storage), { kind: 'cluster', nodes: ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'] });

    const sentinel = loadConfig({ CONFIG_FILE: file('sentinel.yaml', 'storage:\n  redis_sentinel:\n    name: mymaster\n    sentinels: [127.0.0.1:26379, "[::1]:26380", sentinel.internal]\n    password: s3cret\n') });
    assert.deepEqual(redisTargetOf(sentinel.storage), {
      kind: 'sentinel',
      name: 'mymaster',
      sentinels: [{ host: '127.0.0.1', port: 26379 }, { host: '::1', port: 26380 }, { host: 'sentinel.internal', port: 26379 }],
      password: 's3cret',
    });

    assert.equal(redisTargetOf(loadConfig({}).storage), undefined, 'SQLite by default');
  });

  test('env mirrors: REDIS_CLUSTER and REDIS_SENTINELS are comma-separated', () => {
    const cluster = loadConfig({ REDIS_CLUSTER: 'redis://10.0.0.1:7000, redis://10.0.0.2:7000' });
    assert.deepEqual(cluster.storage.redis_cluster, ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000']);
    const sentinel = loadConfig({ REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:26379', REDIS_WAIT_REPLICAS: '1' });
    assert.deepEqual(sentinel.storage.redis_sentinel, { name: 'mymaster', sentinels: ['10.0.0.1:26379', '10.0.0.2:26379'] });
    assert.equal(sentinel.storage.redis_wait_replicas, 1);
    assert.equal(loadConfig({ WEB_CONCURRENCY: '4' }).web_concurrency, 4);
  });

  test('at most one topology, and every problem by its path', () => {
    const both = problemsOf({ CONFIG_FILE: file('both.yaml', 'storage:\n  redis_url: redis://127.0.0.1:6379\n  redis_cluster: [redis://127.0.0.1:7000]\n') });
    assert.deepEqual(both, ['storage: set at most one of redis_url, redis_cluster and redis_sentinel (found redis_url and redis_cluster)']);
    assert.ok(problemsOf({ REDIS_URL: 'redis://a:1', REDIS_SENTINEL_NAME: 'm', REDIS_SENTINELS: 'b:2' })[0]?.includes('found redis_url and redis_sentinel'));

    const bad = problemsOf({ CONFIG_FILE: file('bad.yaml', 'storage:\n  redis_cluster: [http://127.0.0.1:7000]\n  redis_sentinel: { name: "", sentinels: [], extra: 1 }\n') });
    assert.ok(bad.includes('storage.redis_cluster[0]: must be a redis:// or rediss:// URL'), bad.join('\n'));
    assert.ok(bad.some((p) => p.startsWith('storage.redis_sentinel.name:')), bad.join('\n'));
    assert.ok(bad.includes('storage.redis_sentinel.sentinels: must list at least one sentinel'), bad.join('\n'));
    assert.ok(bad.some((p) => p.startsWith('storage.redis_sentinel:') && p.includes('extra')), bad.join('\n'));

    assert.deepEqual(problemsOf({ REDIS_SENTINEL_NAME: 'mymaster' }), ['storage.redis_sentinel.sentinels: Invalid input: expected array, received undefined']);
    assert.deepEqual(problemsOf({ REDIS_CLUSTER: 'redis://a:1', REDIS_WAIT_REPLICAS: '1' }), ['storage.redis_wait_replicas: is not supported with redis_cluster (WAIT must reach the node that took the write); set 0']);
    assert.deepEqual(problemsOf({ REDIS_WAIT_REPLICAS: '1' }), ['storage.redis_wait_replicas: applies to Redis only; set redis_url or redis_sentinel']);
    assert.deepEqual(problemsOf({ WEB_CONCURRENCY: '0' }), ['web_concurrency: Too small: expected number to be >=1']);
  });

  test('workers need Redis: with SQLite one process, and the reason', () => {
    assert.deepEqual(planWorkers(loadConfig({ WEB_CONCURRENCY: '4', REDIS_URL: 'redis://127.0.0.1:6379' }), true), { workers: 4 });
    const sqlite = planWorkers(loadConfig({ WEB_CONCURRENCY: '4' }), false);
    assert.equal(sqlite.workers, 1);
    assert.match(sqlite.note ?? '', /SQLite/);
  });

  test('npm start refuses two topologies at once, before connecting anywhere', async () => {
    const { code, output } = await runToExit({ CONFIG_FILE: file('conflict.yaml', 'storage:\n  redis_cluster: [redis://127.0.0.1:1]\n'), REDIS_URL: 'redis://127.0.0.1:1', PORT: '0' });
    assert.equal(code, 1);
    assert.match(output, /storage: set at most one of redis_url, redis_cluster and redis_sentinel/);
  });
});
