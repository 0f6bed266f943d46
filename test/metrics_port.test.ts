// Metrics off the public port: `metrics.port` (METRICS_PORT) serves /metrics on a listener of
// its own, on metrics.host (loopback by default). A production issuer never serves /metrics on
// its own port, under any spelling; a development issuer does, unless metrics.port is set.
// The issuer runs as users run it (`node src/main.ts`); production secrets come from files
// (COOKIE_KEYS_FILE, CLIENT_SECRETS_FILE), as docker-compose.yml passes them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import { freePort, startIssuerProcess } from './support/process.ts';
import { useTempDir } from './support/temp_dir.ts';

const dir = useTempDir('issuer-metrics-port-');

function productionEnv(name: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    SHUTDOWN_DRAIN_SECONDS: '0',
    SQLITE_FILE: `${dir.path}/${name}.sqlite`,
    // The example users of config/default.yaml are refused in production.
    CONFIG_FILE: dir.file(`${name}.yaml`, 'users: []\n'),
    COOKIE_KEYS_FILE: dir.file(`${name}-cookie-keys`, `${randomBytes(32).toString('base64url')}\n`),
    CLIENT_SECRETS_FILE: dir.file(`${name}-client-secrets.yaml`, `ops-console: ${randomBytes(24).toString('base64url')}\n`),
  };
}

// Other spellings a router might fold onto /metrics.
const SPELLINGS = ['metrics', 'METRICS', 'metrics/', 'Metrics?x=1', 'metrics%2F', './metrics'];

async function assertNoMetricsAt(base: string): Promise<void> {
  for (const path of SPELLINGS) {
    const response = await fetch(new URL(path, base));
    const text = await response.text();
    assert.equal(response.status, 404, `${path} on the issuer's port`);
    assert.doesNotMatch(text, /issuer_http_request_duration_seconds|process_resident_memory_bytes/, `${path} leaked metrics`);
  }
}

async function assertMetricsAt(url: string): Promise<void> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  const text = await response.text();
  assert.match(text, /issuer_http_request_duration_seconds_bucket\{[^}]*route="discovery"/);
  assert.match(text, /process_resident_memory_bytes/);
}

describe('metrics port', () => {
  test('production with metrics.port: /metrics only on the metrics listener, on loopback', async () => {
    const metricsPort = await freePort();
    const issuer = await startIssuerProcess({ ...productionEnv('prod-port'), METRICS_PORT: String(metricsPort) });
    try {
      assert.equal((await fetch(new URL('.well-known/openid-configuration', issuer.url))).status, 200);
      await assertNoMetricsAt(issuer.url);
      await assertMetricsAt(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.match(issuer.output(), new RegExp(`"metrics":"http://127\\.0\\.0\\.1:${metricsPort}/metrics"`));
      // The metrics listener serves nothing else.
      const other = await fetch(`http://127.0.0.1:${metricsPort}/.well-known/openid-configuration`);
      assert.equal(other.status, 404);
      const post = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
      const head = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await issuer.stop('SIGTERM'), 0, 'the metrics listener closes with the issuer');
    } finally {
      await issuer.stop('SIGKILL');
    }
  });

  test('production without metrics.port: no /metrics anywhere, and a line that says how', async () => {
    const issuer = await startIssuerProcess(productionEnv('prod-none'));
    try {
      await assertNoMetricsAt(issuer.url);
      assert.match(issuer.output(), /metrics not served: set metrics\.port/);
    } finally {
      await issuer.stop('SIGKILL');
    }
  });

  test('development: /metrics on the issuer port, moved off it once metrics.port is set', async () => {
    const plain = await startIssuerProcess({ SQLITE_FILE: `${dir.path}/dev.sqlite` });
    try {
      await fetch(new URL('.well-known/openid-configuration', plain.url));
      await assertMetricsAt(new URL('metrics', plain.url).href);
    } finally {
      await plain.stop('SIGKILL');
    }
    const metricsPort = await freePort();
    const moved = await startIssuerProcess({ SQLITE_FILE: `${dir.path}/dev-port.sqlite`, METRICS_PORT: String(metricsPort) });
    try {
      await fetch(new URL('.well-known/openid-configuration', moved.url));
      await assertNoMetricsAt(moved.url);
      await assertMetricsAt(`http://127.0.0.1:${metricsPort}/metrics`);
    } finally {
      await moved.stop('SIGKILL');
    }
  });
});
