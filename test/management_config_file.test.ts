// The config file for ops: `tenant.flags` is applied at start and on SIGHUP. A value changed in
// the file since it was last applied wins; a value the file did not change never overwrites a
// change made through the Management API, across SIGHUP and restarts. Runs `node src/main.ts`
// as `npm start` does.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { OPS } from './support/issuer.ts';
import { managementToken, registrationStatus, setRegistrationFlag } from './support/management.ts';
import { waitFor } from './support/wait.ts';
import { freePort, startIssuerProcess } from './support/process.ts';
import type { IssuerProcess } from './support/process.ts';

const FOLLOWS_WITHIN_MS = 5000;

function configYaml(registration: boolean | 'broken'): string {
  if (registration === 'broken') return 'tenant:\n  flags:\n    enable_dynamic_client_registration: [not, a, boolean\n';
  return [
    'tenant:',
    '  flags:',
    `    enable_dynamic_client_registration: ${registration}`,
    'clients:',
    `  - client_id: ${OPS.client_id}`,
    `    client_secret: ${OPS.client_secret}`,
    '    name: Ops console',
    '    grant_types: [client_credentials]',
    // The probes below register clients; the rate limit is not under test here.
    'registration:',
    '  rate_limit: { per_second: 1000, burst: 1000 }',
    '',
  ].join('\n');
}

type AuditLine = { audit: string; actor: string; setting: string; old_value: unknown; new_value: unknown; at: string };

function auditLines(output: string): AuditLine[] {
  return output
    .split('\n')
    .filter((line) => line.includes('"audit"'))
    .map((line) => JSON.parse(line) as AuditLine);
}

describe('tenant.flags in the config file, applied at start and on SIGHUP', () => {
  let dir: string;
  let configFile: string;
  let env: Record<string, string>;
  let issuer: IssuerProcess | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'issuer-flags-'));
    configFile = join(dir, 'config.yaml');
    const port = await freePort();
    env = { CONFIG_FILE: configFile, PORT: String(port), ISSUER: `http://127.0.0.1:${port}/`, SQLITE_FILE: join(dir, 'issuer.sqlite') };
  });
  after(async () => {
    await issuer?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const reloads = () => (issuer!.output().match(/configuration reloaded/g) ?? []).length;

  /** Send SIGHUP and wait until the issuer logs that it applied the file. */
  async function reload(): Promise<void> {
    const before = reloads();
    issuer!.child.kill('SIGHUP');
    await waitFor(async () => reloads() > before, FOLLOWS_WITHIN_MS, 'the reload is logged');
  }

  /** Edit the file, send SIGHUP, and wait until /oidc/register answers `status` and the reload is logged. */
  async function editAndReload(registration: boolean, status: number): Promise<void> {
    const before = reloads();
    writeFileSync(configFile, configYaml(registration));
    issuer!.child.kill('SIGHUP');
    await waitFor(async () => (await registrationStatus(issuer!.url)) === status, FOLLOWS_WITHIN_MS, `/oidc/register → ${status} after SIGHUP`);
    // The audit lines come before this one; the child's output reaches us a little later.
    await waitFor(async () => reloads() > before, FOLLOWS_WITHIN_MS, 'the reload is logged');
  }

  test('changing the file and sending SIGHUP toggles registration, with an audit line each time', async () => {
    writeFileSync(configFile, configYaml(false));
    issuer = await startIssuerProcess(env);
    assert.equal(await registrationStatus(issuer.url), 403);

    await editAndReload(true, 201);
    await editAndReload(false, 403);

    const audit = auditLines(issuer.output());
    assert.deepEqual(audit.map(({ actor, setting, old_value: oldValue, new_value: newValue }) => [actor, setting, oldValue, newValue]), [
      ['config-file', 'flags.enable_dynamic_client_registration', false, true],
      ['config-file', 'flags.enable_dynamic_client_registration', true, false],
    ]);
    for (const line of audit) assert.ok(!Number.isNaN(Date.parse(line.at)), line.at);
  });

  test('an invalid file on SIGHUP is refused and changes nothing; the issuer keeps serving', async () => {
    writeFileSync(configFile, configYaml('broken'));
    issuer!.child.kill('SIGHUP');
    await waitFor(async () => issuer!.output().includes('configuration not reloaded'), FOLLOWS_WITHIN_MS, 'the refusal is logged');
    assert.equal(await registrationStatus(issuer!.url), 403);
    writeFileSync(configFile, configYaml(false));
  });

  test('an API change survives SIGHUP and a restart with an unchanged file; a later file change wins', async () => {
    await setRegistrationFlag(issuer!.url, await managementToken(issuer!.url), true);
    assert.equal(await registrationStatus(issuer!.url), 201);
    await waitFor(async () => auditLines(issuer!.output()).some((line) => line.actor === OPS.client_id), FOLLOWS_WITHIN_MS, 'the API change is audited');
    const apiAudit = auditLines(issuer!.output()).at(-1)!;
    assert.equal(apiAudit.actor, OPS.client_id);
    assert.deepEqual([apiAudit.old_value, apiAudit.new_value], [false, true]);

    // SIGHUP with the file as it was: the API's value stays.
    const before = auditLines(issuer!.output()).length;
    await reload();
    assert.equal(await registrationStatus(issuer!.url), 201);
    assert.equal(auditLines(issuer!.output()).length, before);

    // A restart with the same file: still the API's value.
    assert.equal(await issuer!.stop(), 0);
    issuer = await startIssuerProcess(env);
    assert.equal(await registrationStatus(issuer.url), 201);
    assert.deepEqual(auditLines(issuer.output()), []);

    // Ops change the file: the file's new value wins over the API's.
    writeFileSync(configFile, configYaml(true));
    await reload();
    assert.equal(await registrationStatus(issuer.url), 201);
    await editAndReload(false, 403);
    assert.deepEqual(auditLines(issuer.output()).map((line) => [line.actor, line.new_value]), [['config-file', false]]);
  });
});
