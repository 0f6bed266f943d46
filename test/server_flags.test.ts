// The issuer runs with the server's V8 settings (src/server_flags.ts) however it is started:
// `npm start` passes them, and the workers of WEB_CONCURRENCY get them from the primary
// (test/workers.test.ts checks those), unless an operator set their own value.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { SERVER_ENV, SERVER_V8_FLAGS, withServerFlags } from '../src/server_flags.ts';
import { commandLine, descendants } from './support/proc.ts';
import { freePort, ROOT } from './support/process.ts';

test('npm start runs the issuer with the server V8 flags', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'issuer-npm-start-'));
  const port = await freePort();
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), ISSUER: `http://127.0.0.1:${port}/`, HOST: '127.0.0.1', SQLITE_FILE: join(dir, 'issuer.sqlite'), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = once(child, 'exit');
  let issuerPid: number | undefined;
  try {
    const deadline = Date.now() + 20_000;
    while (!output.includes('issuer ready at')) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `npm start not ready:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const issuer = descendants(child.pid!).map((pid) => ({ pid, argv: commandLine(pid) })).find(({ argv }) => argv.includes('src/main.ts'));
    assert.ok(issuer, `no node process running src/main.ts under npm start:\n${output}`);
    issuerPid = issuer.pid;
    for (const flag of SERVER_V8_FLAGS) assert.ok(issuer.argv.includes(flag), `${flag} missing from ${issuer.argv.join(' ')}`);
    const environment = readFileSync(`/proc/${issuer.pid}/environ`, 'utf8').split('\0');
    for (const [name, value] of Object.entries(SERVER_ENV)) assert.ok(environment.includes(`${name}=${value}`), `${name}=${value} missing from the issuer's environment`);
    const response = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  } finally {
    if (issuerPid !== undefined) process.kill(issuerPid, 'SIGTERM');
    else child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Dockerfile runs the issuer with the same V8 flags and C library settings as npm start', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const command = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  assert.deepEqual(command, ['node', ...SERVER_V8_FLAGS, 'src/main.ts']);
  const environment = [...dockerfile.matchAll(/^ENV (.*)$/gm)].flatMap((line) => line[1]!.split(/\s+/));
  for (const [name, value] of Object.entries(SERVER_ENV)) assert.ok(environment.includes(`${name}=${value}`), `ENV ${name}=${value} missing from the Dockerfile`);
});

test('workers get the server flags the primary lacks, and keep an operator’s own value', () => {
  assert.deepEqual(withServerFlags([]), [...SERVER_V8_FLAGS]);
  assert.deepEqual(withServerFlags(['--max-semi-space-size=64']), ['--max-semi-space-size=64', '--max-old-space-size=1536']);
  assert.deepEqual(withServerFlags(['--max_semi_space_size=8']), ['--max_semi_space_size=8', '--max-old-space-size=1536']);
  assert.deepEqual(withServerFlags([], '--max-semi-space-size=32 --enable-source-maps'), ['--max-old-space-size=1536']);
  assert.deepEqual(withServerFlags(['--max-old-space-size=4096'], '--max-semi-space-size=32'), ['--max-old-space-size=4096']);
  assert.deepEqual(withServerFlags(['--cpu-prof']), ['--cpu-prof', ...SERVER_V8_FLAGS]);
});
