// /api/v2/clients through Auth0's own Management API SDK (auth0 v7), unchanged: list (paged, with
// totals, filters and field selection), get, create, update, delete, rotateSecret; scopes, the
// client_secret only with read:client_keys, Auth0's error bodies, config-file clients read-only.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ManagementClient } from 'auth0';

import { registerClient } from './support/implicit.ts';
import { OPS, startIssuer } from './support/issuer.ts';
import type { RunningIssuer } from './support/issuer.ts';
import { captureLogs } from './support/log_capture.ts';
import { management, managementToken } from './support/management.ts';

const ALL_CLIENT_SCOPES = ['read:clients', 'create:clients', 'update:clients', 'delete:clients', 'read:client_keys', 'update:client_keys'];

let issuer: RunningIssuer;
let domain: string;
let httpsIssuer: string;
let logs: ReturnType<typeof captureLogs>;

/** Stands in for TLS termination in front of the issuer: the same request, over plain http to loopback. */
const overLoopback: typeof fetch = (input, init) => {
  const request = new Request(input, init);
  return fetch(new Request(request.url.replace(/^https:/, 'http:'), request));
};

before(async () => {
  logs = captureLogs();
  issuer = await startIssuer({
    logger: logs.logger,
    overrides: (url) => ({
      issuer: url.replace(/^http:/, 'https:'),
      tenant: { flags: { enable_dynamic_client_registration: true } },
      client_grants: [{ client_id: OPS.client_id, audience: '/api/v2/', scope: ALL_CLIENT_SCOPES }],
    }),
  });
  domain = new URL(issuer.url).host;
  httpsIssuer = issuer.config.issuer;
});
after(() => issuer?.close());

function sdk(token?: string): ManagementClient {
  return token
    ? new ManagementClient({ domain, token, fetch: overLoopback, telemetry: false })
    : new ManagementClient({ domain, clientId: OPS.client_id, clientSecret: OPS.client_secret, fetch: overLoopback, telemetry: false });
}

const scoped = (scope: string) => managementToken(issuer.url, { scope, issuer: httpsIssuer });

type SdkError = { statusCode?: number; body?: { statusCode?: number; error?: string; message?: string; errorCode?: string } };
const refusedWith = (status: number, errorCode: string) => (error: SdkError) => {
  assert.equal(error.statusCode, status, JSON.stringify(error.body));
  assert.equal(error.body?.statusCode, status);
  assert.equal(error.body?.errorCode, errorCode, JSON.stringify(error.body));
  assert.equal(typeof error.body?.message, 'string');
  assert.equal(typeof error.body?.error, 'string');
  return true;
};

async function storedCount(): Promise<number> {
  return issuer.store.countClients();
}

describe('applications through the Auth0 SDK', () => {
  test('create, get, update, rotateSecret and delete an application', async () => {
    const client = sdk();
    const created = (await client.clients.create({
      name: 'Orders app',
      description: 'Takes orders',
      app_type: 'regular_web',
      callbacks: ['https://orders.example.com/callback'],
      allowed_logout_urls: ['https://orders.example.com/'],
      web_origins: ['https://orders.example.com'],
      allowed_origins: ['https://orders.example.com'],
      logo_uri: 'https://orders.example.com/logo.png',
      client_metadata: { team: 'orders' },
    }));
    assert.equal(created.name, 'Orders app');
    assert.equal(created.description, 'Takes orders');
    assert.equal(created.app_type, 'regular_web');
    assert.equal(created.is_first_party, false);
    assert.deepEqual(created.callbacks, ['https://orders.example.com/callback']);
    assert.deepEqual(created.allowed_logout_urls, ['https://orders.example.com/']);
    assert.deepEqual(created.web_origins, ['https://orders.example.com']);
    assert.deepEqual(created.allowed_origins, ['https://orders.example.com']);
    assert.deepEqual(created.grant_types, ['authorization_code', 'implicit', 'refresh_token', 'client_credentials']);
    assert.equal(created.token_endpoint_auth_method, 'client_secret_post');
    assert.equal(created.logo_uri, 'https://orders.example.com/logo.png');
    assert.deepEqual(created.client_metadata, { team: 'orders' });
    assert.ok(Math.abs(Date.parse(String(created.created_at)) - Date.now()) < 60_000, String(created.created_at));
    assert.ok(typeof created.client_secret === 'string' && created.client_secret.length >= 43);
    const clientId = created.client_id!;

    // The library holds it: the new client gets a token with its secret.
    const token = await fetch(new URL('oauth/token', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: created.client_secret!, audience: 'https://contacts.example.com/' }),
    });
    // Not granted any API (client_grants are the config file's): refused as such, not as a bad secret.
    assert.notEqual(((await token.json()) as { error?: string }).error, 'invalid_client');

    const got = (await client.clients.get(clientId));
    assert.deepEqual(got, created);

    const updated = (await client.clients.update(clientId, { name: 'Orders', callbacks: ['https://orders.example.com/cb2'], client_metadata: { team: 'shop' } }));
    assert.equal(updated.name, 'Orders');
    assert.deepEqual(updated.callbacks, ['https://orders.example.com/cb2']);
    assert.deepEqual(updated.client_metadata, { team: 'shop' });
    assert.equal(updated.description, 'Takes orders', 'fields not named are kept');
    assert.equal(updated.client_secret, created.client_secret, 'an update keeps the secret');
    assert.equal(updated.created_at, created.created_at);

    const rotated = (await client.clients.rotateSecret(clientId));
    assert.ok(rotated.client_secret && rotated.client_secret !== created.client_secret);
    const oldSecret = await fetch(new URL('oauth/token', issuer.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: created.client_secret!, audience: 'https://contacts.example.com/' }),
    });
    assert.equal(((await oldSecret.json()) as { error?: string }).error, 'invalid_client', 'the old secret no longer authenticates');

    await client.clients.delete(clientId);
    await assert.rejects(client.clients.get(clientId), refusedWith(404, 'inexistent_client'));
    await assert.rejects(client.clients.delete(clientId), refusedWith(404, 'inexistent_client'));

    // One audit line per change, with the caller and never a secret.
    const lines = logs.lines().filter((line) => line.audit === 'management' && line.client_id === clientId);
    assert.deepEqual(lines.map((line) => line.event), ['client_created', 'client_updated', 'client_secret_rotated', 'client_deleted']);
    for (const line of lines) assert.equal(line.actor, OPS.client_id);
    const text = JSON.stringify(logs.lines());
    assert.ok(!text.includes(created.client_secret!) && !text.includes(rotated.client_secret!), 'a client secret reached the log');
  });

  test('a SPA gets no secret and Auth0\'s grant types; a native app none either', async () => {
    const client = sdk();
    const spa = (await client.clients.create({ name: 'Shop SPA', app_type: 'spa', callbacks: ['https://shop.example.com/cb'] }));
    assert.equal(spa.token_endpoint_auth_method, 'none');
    assert.equal(spa.client_secret, undefined);
    assert.deepEqual(spa.grant_types, ['authorization_code', 'implicit', 'refresh_token']);
    await assert.rejects(client.clients.rotateSecret(spa.client_id!), refusedWith(400, 'operation_not_supported'));
    const native = (await client.clients.create({ name: 'Shop app', app_type: 'native', callbacks: ['com.example.shop:/callback'] }));
    assert.equal(native.app_type, 'native');
    assert.equal(native.client_secret, undefined);
  });

  test('the paged list with totals, and its filters and field selection', async () => {
    const client = sdk();
    for (let i = 0; i < 5; i += 1) await client.clients.create({ name: `Paged ${i}`, app_type: 'non_interactive' });
    // A dynamically registered client is listed too, third-party.
    const registered = await registerClient(issuer.url, { client_name: 'Registered', redirect_uris: ['https://registered.example.com/cb'] });
    // Declared by ops: the config file's client and the Dashboard's own.
    const total = 2 + (await storedCount());

    const first = await client.clients.list({ page: 0, per_page: 2, include_totals: true });
    assert.equal(first.response.total, total);
    assert.equal(first.response.start, 0);
    assert.equal(first.response.limit, 2);
    assert.equal(first.data.length, 2);
    assert.equal(first.data[0]!.client_id, OPS.client_id, 'config-file clients come first');
    assert.equal(first.data[0]!.is_first_party, true);

    // The SDK's own pager walks every page.
    const seen: string[] = [];
    for await (const item of await client.clients.list({ per_page: 2, include_totals: true })) seen.push(item.client_id!);
    assert.equal(seen.length, total);
    assert.equal(new Set(seen).size, total, 'no client twice across pages');
    assert.ok(seen.includes(registered.client_id));
    const mine = (await client.clients.get(registered.client_id));
    assert.equal(mine.is_first_party, false);
    assert.deepEqual(mine.callbacks, ['https://registered.example.com/cb']);

    const firstParty = await client.clients.list({ is_first_party: true, include_totals: true });
    assert.deepEqual(firstParty.data.map((c) => c.client_id), [OPS.client_id, 'dashboard']);
    const thirdParty = await client.clients.list({ is_first_party: false, include_totals: true, per_page: 100 });
    assert.equal(thirdParty.response.total, total - 2);

    const machines = await client.clients.list({ app_type: 'non_interactive', include_totals: true, per_page: 100 });
    assert.ok(machines.data.length >= 6, 'the five machine apps and the config file\'s machine client');
    assert.ok(machines.data.every((c) => c.app_type === 'non_interactive'));

    const narrow = await client.clients.list({ fields: 'client_id,name', include_fields: true, per_page: 3 });
    for (const item of narrow.data) assert.deepEqual(Object.keys(item).sort(), ['client_id', 'name']);
    const without = await client.clients.list({ fields: 'client_secret,callbacks', include_fields: false, per_page: 3 });
    for (const item of without.data) assert.ok(!('client_secret' in item) && !('callbacks' in item));

    // Without include_totals: a bare array, as Auth0 answers.
    const bare = await management(issuer.url, 'GET', 'api/v2/clients?per_page=1', { token: await scoped('read:clients') });
    assert.equal(bare.status, 200);
    assert.ok(Array.isArray(bare.json));
  });

  test('the client_secret only with read:client_keys', async () => {
    const created = (await sdk().clients.create({ name: 'Secret keeper', app_type: 'regular_web', callbacks: ['https://keeper.example.com/cb'] }));
    const reader = sdk(await scoped('read:clients'));
    const plain = (await reader.clients.get(created.client_id!));
    assert.equal(plain.client_secret, undefined);
    assert.equal(plain.name, 'Secret keeper');
    const listed = await reader.clients.list({ per_page: 100 });
    assert.ok(listed.data.every((c) => c.client_secret === undefined), 'a secret in the list without read:client_keys');

    const keyReader = sdk(await scoped('read:client_keys'));
    assert.equal((await keyReader.clients.get(created.client_id!)).client_secret, created.client_secret);
    assert.equal((await keyReader.clients.get(OPS.client_id)).client_secret, OPS.client_secret);
  });

  test('403 with Auth0\'s error body for a missing scope, and nothing stored', async () => {
    const reader = sdk(await scoped('read:clients'));
    const before = await storedCount();
    await assert.rejects(reader.clients.create({ name: 'Nope', app_type: 'spa', callbacks: ['https://nope.example.com/cb'] }), (error: SdkError) => {
      refusedWith(403, 'insufficient_scope')(error);
      assert.deepEqual(error.body, { statusCode: 403, error: 'Forbidden', message: 'Insufficient scope, expected any of: create:clients', errorCode: 'insufficient_scope' });
      return true;
    });
    assert.equal(await storedCount(), before);
    const someone = (await sdk().clients.list({ is_first_party: false, per_page: 1 })).data[0]!;
    await assert.rejects(reader.clients.delete(someone.client_id!), refusedWith(403, 'insufficient_scope'));
    await assert.rejects(reader.clients.rotateSecret(someone.client_id!), refusedWith(403, 'insufficient_scope'));
    await assert.rejects(reader.clients.update(someone.client_id!, { name: 'x' }), refusedWith(403, 'insufficient_scope'));
    assert.ok((await sdk().clients.get(someone.client_id!)).client_id, 'still there');
    const settingsOnly = sdk(await scoped('update:client_keys'));
    await assert.rejects(settingsOnly.clients.list(), refusedWith(403, 'insufficient_scope'));
  });

  test('clients from the config file are listed but read-only', async () => {
    const client = sdk();
    await assert.rejects(client.clients.update(OPS.client_id, { name: 'Hijacked' }), (error: SdkError) => {
      refusedWith(400, 'operation_not_supported')(error);
      assert.match(error.body!.message!, /config file/);
      return true;
    });
    await assert.rejects(client.clients.delete(OPS.client_id), refusedWith(400, 'operation_not_supported'));
    await assert.rejects(client.clients.rotateSecret(OPS.client_id), refusedWith(400, 'operation_not_supported'));
    assert.equal((await client.clients.get(OPS.client_id)).name, 'Ops console');
    // The Dashboard's own client is declared by the issuer itself: shown, first-party, read-only.
    const dashboard = await client.clients.get('dashboard');
    assert.equal(dashboard.is_first_party, true);
    await assert.rejects(client.clients.delete('dashboard'), refusedWith(400, 'operation_not_supported'));
  });

  test('bad input is a 400 in Auth0\'s shape and stores nothing', async () => {
    const client = sdk();
    const before = await storedCount();
    const bad: Record<string, unknown>[] = [
      { name: '<script>alert(1)</script>' },
      { name: 'Bell\u0007' },
      { name: 'Ops console \u202Emoc.elpmaxe\u202C' },
      { name: 'ＯＰＳ  Console' },
      { name: '' },
      { name: 'x', app_type: 'mainframe' },
      { name: 'x', callbacks: 'https://a.example.com/cb' },
      { name: 'x', callbacks: ['not a url'] },
      { name: 'x', callbacks: ['https://a.example.com/cb#frag'] },
      { name: 'x', app_type: 'spa', callbacks: ['http://evil.example.com/cb'] },
      { name: 'x', app_type: 'spa' },
      { name: 'x', grant_types: ['password'] },
      { name: 'x', web_origins: ['https://a.example.com/path'] },
      { name: 'x', client_metadata: { 'bad key': 'v' } },
      { name: 'x', client_metadata: { k: 1 } },
      { name: 'x', client_secret: 'chosen-by-caller-0123456789' },
      { name: 'x', is_first_party: true },
      { name: 'x', unknown_field: 1 },
      { name: 'x', app_type: 'spa', callbacks: ['https://a.example.com/cb'], grant_types: ['client_credentials'] },
      { name: 'x', callbacks: Array.from({ length: 21 }, (_, i) => `https://a.example.com/${i}`) },
    ];
    for (const body of bad) {
      await assert.rejects(client.clients.create(body as never), (error: SdkError) => {
        assert.equal(error.statusCode, 400, `${JSON.stringify(body)} -> ${error.statusCode} ${JSON.stringify(error.body)}`);
        assert.equal(error.body?.errorCode, 'invalid_body', JSON.stringify(body));
        return true;
      });
    }
    assert.equal(await storedCount(), before);

    const token = await scoped(ALL_CLIENT_SCOPES.join(' '));
    const notJson = await management(issuer.url, 'POST', 'api/v2/clients', { token, body: '{"name":' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.errorCode, 'invalid_body');
    const huge = await management(issuer.url, 'POST', 'api/v2/clients', { token, body: { name: 'x', description: 'y'.repeat(70 * 1024) } });
    assert.equal(huge.status, 413);
    for (const query of ['per_page=101', 'per_page=0', 'page=-1', 'page=x', 'include_totals=yes', 'app_type=mainframe', 'q=name:x', 'per_page=1&per_page=2', 'fields=client_secret%3B']) {
      const answer = await management(issuer.url, 'GET', `api/v2/clients?${query}`, { token });
      assert.equal(answer.status, 400, `${query}: ${JSON.stringify(answer.json)}`);
      assert.equal(answer.json.errorCode, 'invalid_query_string', query);
    }
    const missing = await management(issuer.url, 'PATCH', 'api/v2/clients/no-such-client', { token, body: { name: 'x' } });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.errorCode, 'inexistent_client');
    const odd = await management(issuer.url, 'GET', `api/v2/clients/${encodeURIComponent('../tenants/settings')}`, { token });
    assert.equal(odd.status, 404);
    assert.equal(await storedCount(), before);
  });

  test('a registrant cannot set the Management API\'s own fields through /oidc/register', async () => {
    const registered = await registerClient(issuer.url, {
      client_name: 'Sneaky',
      redirect_uris: ['https://sneaky.example.com/cb'],
      app_type: 'non_interactive',
      created_at: '2001-01-01T00:00:00.000Z',
      client_metadata: { role: 'admin' },
    });
    const shown = (await sdk().clients.get(registered.client_id));
    assert.equal(shown.app_type, undefined);
    assert.deepEqual(shown.client_metadata, {});
    assert.ok(Math.abs(Date.parse(String(shown.created_at)) - Date.now()) < 60_000, String(shown.created_at));
  });
});
