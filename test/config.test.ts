import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { ConfigError, loadConfig, mergeConfig } from '../src/config.ts';
import { hashPassword, createAccounts } from '../src/provider/accounts.ts';
import { runToExit } from './support/process.ts';
import { useTempDir } from './support/temp_dir.ts';

const temp = useTempDir('issuer-config-');
const file = temp.file;

/** The committed defaults with `over` merged from a config file (JSON is YAML). */
function mergeAndParse(over: Record<string, unknown>) {
  return loadConfig({ CONFIG_FILE: file(`over-${Math.random().toString(36).slice(2)}.yaml`, JSON.stringify(over)) });
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration sources', () => {
  test('the committed default file alone is a valid development configuration', () => {
    const config = loadConfig({});
    assert.equal(config.issuer, 'http://localhost:3000/');
    assert.equal(config.port, 3000);
    assert.equal(config.storage.sqlite_file, '.data/issuer.sqlite');
    assert.equal(config.tenant.flags.enable_dynamic_client_registration, false);
    assert.equal(config.client_grants[0]?.audience, 'http://localhost:3000/api/v2/');
  });

  test('maps merge key by key, lists replace, the environment wins over files', () => {
    const path = file('override.yaml', [
      'port: 4000',
      'storage:',
      '  redis_url: redis://127.0.0.1:6390',
      'apis:',
      '  - identifier: https://orders.example.com/',
      '    name: Orders',
      'tenant:',
      '  flags:',
      '    enable_dynamic_client_registration: true',
    ].join('\n'));
    const config = loadConfig({ CONFIG_FILE: path, PORT: '4100', ISSUER: 'http://localhost:4100/' });
    assert.equal(config.port, 4100);
    assert.equal(config.issuer, 'http://localhost:4100/');
    assert.equal(config.storage.redis_url, 'redis://127.0.0.1:6390');
    assert.equal(config.storage.sqlite_file, '.data/issuer.sqlite', 'sibling keys of a merged map stay');
    assert.deepEqual(config.apis.map((a) => a.identifier), ['https://orders.example.com/']);
    assert.equal(config.apis[0]?.token_lifetime, 7200);
    assert.equal(config.tenant.flags.enable_dynamic_client_registration, true);
    assert.equal(config.client_grants[0]?.audience, 'http://localhost:4100/api/v2/', 'the /api/v2/ path follows the issuer');
    assert.equal(loadConfig({ CONFIG_FILE: path, REDIS_URL: 'redis://127.0.0.1:7777' }).storage.redis_url, 'redis://127.0.0.1:7777');
  });

  test('proxy_hops defaults to 1 and PROXY_HOPS overrides it', () => {
    assert.equal(loadConfig({}).proxy_hops, 1);
    assert.equal(loadConfig({ PROXY: 'true', PROXY_HOPS: '2' }).proxy_hops, 2);
    assert.ok(problemsOf(() => loadConfig({ PROXY_HOPS: '0' })).some((p) => p.startsWith('proxy_hops:')));
  });

  test("apis[].identifier may not be the issuer's own Management API or userinfo audience", () => {
    for (const identifier of ['http://localhost:3000/api/v2/', 'http://localhost:3000/userinfo', 'HTTP://LOCALHOST:3000/userinfo']) {
      const problems = problemsOf(() => mergeAndParse({ apis: [{ identifier: 'https://orders.example.com/', name: 'Orders' }, { identifier, name: 'Mine' }] }));
      assert.deepEqual(problems, [`apis[1].identifier: ${identifier} is reserved by the issuer`]);
    }
    assert.equal(mergeAndParse({ apis: [{ identifier: 'http://localhost:3000/api/v3/', name: 'Mine' }] }).apis[0]?.identifier, 'http://localhost:3000/api/v3/');
  });

  test('mergeConfig replaces lists and scalars, merges maps', () => {
    assert.deepEqual(mergeConfig({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: 2 }), { a: { b: 1, c: [3] }, d: 2 });
  });

  test('every problem is listed by its path', () => {
    const path = file('bad.yaml', [
      'issuer: http://localhost:3000',
      'port: not-a-port',
      'apis:',
      '  - identifier: contacts',
      '    name: Contacts',
      '  - identifier: https://ok.example.com/',
      '    name: OK',
      '    scopes: [has space]',
      'users:',
      '  - email: not-an-email',
      '    password: short',
      'unknown_key: 1',
    ].join('\n'));
    const problems = problemsOf(() => loadConfig({ CONFIG_FILE: path }));
    for (const expected of ['issuer:', 'port:', 'apis[0].identifier: must be an absolute URI', 'apis[1].scopes[0]:', 'users[0].email:', 'users[0].password:', '(root):']) {
      assert.ok(problems.some((p) => p.startsWith(expected)), `${expected} in ${JSON.stringify(problems)}`);
    }
  });

  test('references between sections are checked', () => {
    const path = file('refs.yaml', [
      'client_grants:',
      '  - client_id: nobody',
      '    audience: https://unknown.example.com/',
      'clients:',
      '  - client_id: spa',
      '    name: SPA',
      '    grant_types: [implicit]',
      '    token_endpoint_auth_method: none',
    ].join('\n'));
    const problems = problemsOf(() => loadConfig({ CONFIG_FILE: path }));
    assert.ok(problems.some((p) => p.startsWith('client_grants[0].client_id:')), JSON.stringify(problems));
    assert.ok(problems.some((p) => p.startsWith('client_grants[0].audience:')), JSON.stringify(problems));
    assert.ok(problems.some((p) => p.startsWith('clients[0].redirect_uris:')), JSON.stringify(problems));
  });

  test('production refuses example passwords and secrets, generated cookie keys and a plain-http public issuer', () => {
    const problems = problemsOf(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'http://issuer.example.com/' }));
    for (const expected of ['issuer:', 'cookies.keys:', 'users[0].password:', 'clients[0].client_secret:']) {
      assert.ok(problems.some((p) => p.startsWith(expected)), `${expected} in ${JSON.stringify(problems)}`);
    }
    const good = file('production.yaml', [
      'issuer: https://issuer.example.com/',
      `cookies: { keys: ["${'k'.repeat(40)}"] }`,
      'clients: []',
      'client_grants: []',
      'users: []',
    ].join('\n'));
    assert.equal(loadConfig({ NODE_ENV: 'production', CONFIG_FILE: good }).env, 'production');
  });

  test('a malformed file or a bad value makes the process exit non-zero naming each problem', async () => {
    const malformed = await runToExit({ CONFIG_FILE: file('malformed.yaml', 'issuer: [unclosed\n') });
    assert.equal(malformed.code, 1);
    assert.match(malformed.output, /malformed\.yaml: not valid YAML/);

    const bad = await runToExit({ CONFIG_FILE: file('values.yaml', 'port: -1\nregistration:\n  max_body_bytes: 10\n'), PORT: '' });
    assert.equal(bad.code, 1);
    assert.match(bad.output, /port: /);
    assert.match(bad.output, /registration\.max_body_bytes: /);

    const missing = await runToExit({ CONFIG_FILE: join(temp.path, 'does-not-exist.yaml') });
    assert.equal(missing.code, 1);
    assert.match(missing.output, /CONFIG_FILE: cannot read/);
  });
});

describe('passwords', () => {
  test('a scrypt hash made by hashPassword is accepted in users[].password', async () => {
    const hash = await hashPassword('correct horse battery staple');
    assert.match(hash, /^scrypt\$16384\$8\$1\$[\w-]+\$[\w-]+$/);
    const path = file('hashed.yaml', `users:\n  - email: carol@example.com\n    password: "${hash}"\n`);
    const config = loadConfig({ CONFIG_FILE: path });
    const accounts = createAccounts(config.users);
    assert.equal((await accounts.authenticate('Carol@example.com', 'correct horse battery staple'))?.email, 'carol@example.com');
    assert.equal(await accounts.authenticate('carol@example.com', 'wrong'), undefined);
    assert.equal(await accounts.authenticate('nobody@example.com', 'correct horse battery staple'), undefined);
  });

  test('a password given as is: right, wrong, longer, shorter, and right again', async () => {
    const accounts = createAccounts([{ email: 'dave@example.com', password: 'plain-password-1', email_verified: true, name: undefined, sub: undefined, roles: [] }]);
    assert.equal(await accounts.authenticate('dave@example.com', 'plain-password-2'), undefined);
    assert.equal((await accounts.authenticate('dave@example.com', 'plain-password-1'))?.email, 'dave@example.com');
    assert.equal(await accounts.authenticate('dave@example.com', 'plain-password-1 '), undefined);
    assert.equal(await accounts.authenticate('dave@example.com', 'plain'), undefined);
    assert.equal(await accounts.authenticate('dave@example.com', ''), undefined);
    assert.equal((await accounts.authenticate('DAVE@example.com', 'plain-password-1'))?.email, 'dave@example.com');
    assert.equal(await accounts.authenticate('eve@example.com', 'plain-password-1'), undefined);
  });

  const salt = Buffer.alloc(16, 1).toString('base64url');
  const hash = Buffer.alloc(32, 2).toString('base64url');
  const malformed: [string, string, RegExp][] = [
    ['N not a number', `scrypt$abc$8$1$${salt}$${hash}`, /N must be a power of two/],
    ['N not a power of two', `scrypt$1000$8$1$${salt}$${hash}`, /N must be a power of two/],
    ['N of 1', `scrypt$1$8$1$${salt}$${hash}`, /N must be a power of two/],
    ['N with a sign', `scrypt$+16384$8$1$${salt}$${hash}`, /N must be a power of two/],
    ['N and r beyond the memory bound', `scrypt$1048576$64$1$${salt}$${hash}`, /MiB/],
    ['r of 0', `scrypt$16384$0$1$${salt}$${hash}`, /r must be/],
    ['r not an integer', `scrypt$16384$1.5$1$${salt}$${hash}`, /r must be/],
    ['p of 0', `scrypt$16384$8$0$${salt}$${hash}`, /p must be/],
    ['p too large', `scrypt$16384$8$1000$${salt}$${hash}`, /p must be/],
    ['an empty salt', `scrypt$16384$8$1$$${hash}`, /salt must be/],
    ['a salt outside base64url', `scrypt$16384$8$1$${salt.slice(0, -2)}+/$${hash}`, /salt must be/],
    ['a short hash', `scrypt$16384$8$1$${salt}$AAAA`, /hash must be/],
    ['a hash with padding', `scrypt$16384$8$1$${salt}$${hash}=`, /hash must be/],
    ['too few parts', `scrypt$16384$8$1$${salt}`, /has the form/],
  ];
  for (const [what, password, message] of malformed) {
    test(`a scrypt hash with ${what} is a config error naming users[0].password`, () => {
      const problems = problemsOf(() => mergeAndParse({ users: [{ email: 'carol@example.com', password }] }));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, /^users\[0\]\.password: /);
      assert.match(problems[0]!, message);
    });
  }
});
