// Production secrets from files named in the configuration (src/secret_files.ts): cookie keys
// (COOKIE_KEYS_FILE) and client secrets (CLIENT_SECRETS_FILE), the way Docker and Compose
// secrets arrive (/run/secrets/...). Checked like values written in the YAML; no problem
// message ever quotes a secret. Also the shutdown and metrics settings' defaults.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ConfigError, drainSeconds, loadConfig } from '../src/config.ts';
import { useTempDir } from './support/temp_dir.ts';

const dir = useTempDir('issuer-secret-files-');
const KEY_A = 'k'.repeat(40);
const KEY_B = 'q'.repeat(33);
const SECRET = 'Zm9vYmFyLXNlY3JldC12YWx1ZS0xMjM0NQ';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('secrets from files', () => {
  test('cookie keys: one per line, comments and blank lines ignored, first one signs', () => {
    const file = dir.file('keys', `# rotated 2026-11\n${KEY_A}\n\n${KEY_B}\r\n`);
    assert.deepEqual(loadConfig({ COOKIE_KEYS_FILE: file }).cookies.keys, [KEY_A, KEY_B]);
  });

  test('client secrets: each replaces the secret of the client it names', () => {
    const file = dir.file('clients.yaml', `ops-console: ${SECRET}\n`);
    const config = loadConfig({ CLIENT_SECRETS_FILE: file });
    assert.equal(config.clients.find((c) => c.client_id === 'ops-console')?.client_secret, SECRET);
  });

  test('production accepts secrets from files, and refuses the examples without them', () => {
    const production = { NODE_ENV: 'production', CONFIG_FILE: dir.file('prod.yaml', 'users: []\n') };
    const refused = problemsOf(production);
    assert.ok(refused.some((p) => p.startsWith('cookies.keys:')));
    assert.ok(refused.some((p) => p.startsWith('clients[0].client_secret:')));
    const config = loadConfig({ ...production, COOKIE_KEYS_FILE: dir.file('prod-keys', `${KEY_A}\n`), CLIENT_SECRETS_FILE: dir.file('prod-clients.yaml', `ops-console: ${SECRET}\n`) });
    assert.deepEqual(config.cookies.keys, [KEY_A]);
  });

  test('bad files are config errors that name the file and never the secret', () => {
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [{ COOKIE_KEYS_FILE: `${dir.path}/missing` }, /^cookies\.keys_file: cannot read .*missing: ENOENT$/],
      [{ COOKIE_KEYS_FILE: dir.file('empty', '# nothing\n\n') }, /^cookies\.keys_file: .* holds no key/],
      [{ COOKIE_KEYS_FILE: dir.file('short', `${SECRET.slice(0, 20)}\n`) }, /^cookies\.keys\[0\]: must be at least 32 characters$/],
      [{ COOKIE_KEYS_FILE: dir.file('both', `${KEY_A}\n`), CONFIG_FILE: dir.file('with-keys.yaml', `cookies: { keys: ["${KEY_B}"] }\n`) }, /not both/],
      [{ CLIENT_SECRETS_FILE: dir.file('unknown.yaml', `nobody: ${SECRET}\n`) }, /^client_secrets_file: no client nobody in clients$/],
      [{ CLIENT_SECRETS_FILE: dir.file('list.yaml', `- ${SECRET}\n`) }, /must be a YAML map of client_id: secret/],
      [{ CLIENT_SECRETS_FILE: dir.file('number.yaml', 'ops-console: 12345678901234567890\n') }, /the secret of ops-console must be a string/],
      [{ CLIENT_SECRETS_FILE: dir.file('broken.yaml', `ops-console: "${SECRET}\n  : [\n`) }, /^client_secrets_file: .*broken\.yaml is not valid YAML/],
      [{ CLIENT_SECRETS_FILE: dir.file('short.yaml', `ops-console: ${SECRET.slice(0, 10)}\n`) }, /^clients\[0\]\.client_secret: must be at least 16 characters$/],
    ];
    for (const [env, expected] of cases) {
      const problems = problemsOf(env);
      assert.ok(problems.some((p) => expected.test(p)), `${JSON.stringify(env)}: ${problems.join(' | ')}`);
      for (const problem of problems) {
        assert.ok(!problem.includes(SECRET.slice(0, 10)), `a secret in: ${problem}`);
      }
    }
  });
});

describe('shutdown and metrics settings', () => {
  test('drain_seconds: 5 in production, 0 otherwise, unless set; grace 10 s; metrics on loopback', () => {
    const prodEnv = { NODE_ENV: 'production', CONFIG_FILE: dir.file('drain.yaml', 'users: []\n'), COOKIE_KEYS_FILE: dir.file('drain-keys', `${KEY_A}\n`), CLIENT_SECRETS_FILE: dir.file('drain-clients.yaml', `ops-console: ${SECRET}\n`) };
    assert.equal(drainSeconds(loadConfig(prodEnv)), 5);
    assert.equal(drainSeconds(loadConfig({})), 0);
    assert.equal(drainSeconds(loadConfig({ ...prodEnv, SHUTDOWN_DRAIN_SECONDS: '0.5' })), 0.5);
    const config = loadConfig({});
    assert.equal(config.shutdown.grace_seconds, 10);
    assert.equal(config.metrics.host, '127.0.0.1');
    assert.equal(config.metrics.port, null);
    assert.equal(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' }).metrics.port, 9464);
    assert.ok(problemsOf({ SHUTDOWN_DRAIN_SECONDS: '-1' }).some((p) => p.startsWith('shutdown.drain_seconds:')));
    assert.ok(problemsOf({ METRICS_PORT: '70000' }).some((p) => p.startsWith('metrics.port:')));
  });
});
