// Calling the issuer as a machine client does: a Management API token from /oauth/token, then
// /api/v2 with it. Every answer is read as JSON, and a 5xx fails the test on the spot.
import assert from 'node:assert/strict';

import { OPS } from './issuer.ts';

export type Answer = { status: number; headers: Headers; json: Record<string, unknown> };

export const SETTINGS_PATH = 'api/v2/tenants/settings';

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  assert.ok(response.status < 500, `5xx from ${response.url}: ${response.status} ${text.slice(0, 300)}`);
  assert.match(response.headers.get('content-type') ?? '', /application\/json/, `not JSON (${response.status}) from ${response.url}: ${text.slice(0, 200)}`);
  return { status: response.status, headers: response.headers, json: JSON.parse(text) as Record<string, unknown> };
}

/** The Management API's audience for an issuer URL. */
export function managementAudience(issuerUrl: string): string {
  return new URL('api/v2/', issuerUrl).href;
}

/** POST /oauth/token with a form body (or `json: true` for a JSON body). */
export async function tokenRequest(issuerUrl: string, fields: Record<string, string>, options: { json?: boolean; headers?: Record<string, string> } = {}): Promise<Answer> {
  const response = await fetch(new URL('oauth/token', issuerUrl), {
    method: 'POST',
    headers: { 'content-type': options.json ? 'application/json' : 'application/x-www-form-urlencoded', ...options.headers },
    body: options.json ? JSON.stringify(fields) : new URLSearchParams(fields).toString(),
    signal: AbortSignal.timeout(5000),
  });
  return answer(response);
}

/**
 * A Management API access token for `ops-console` (all its granted scopes, or `scope`), asked
 * at `url`; `issuer` when the instance at `url` serves another issuer identifier.
 */
export async function managementToken(url: string, options: { scope?: string; issuer?: string } = {}): Promise<string> {
  const { scope, issuer = url } = options;
  const result = await tokenRequest(url, {
    grant_type: 'client_credentials',
    client_id: OPS.client_id,
    client_secret: OPS.client_secret,
    audience: managementAudience(issuer),
    ...(scope === undefined ? {} : { scope }),
  });
  assert.equal(result.status, 200, JSON.stringify(result.json));
  return result.json.access_token as string;
}

/** A call to the Management API; `body` is sent as is when a string, else as JSON. */
export async function management(issuerUrl: string, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(new URL(path, issuerUrl), { method, headers, body, signal: AbortSignal.timeout(5000) });
  return answer(response);
}

/** Set the registration flag through the Management API. */
export async function setRegistrationFlag(issuerUrl: string, token: string, enabled: boolean): Promise<Answer> {
  const result = await management(issuerUrl, 'PATCH', SETTINGS_PATH, { token, body: { flags: { enable_dynamic_client_registration: enabled } } });
  assert.equal(result.status, 200, JSON.stringify(result.json));
  return result;
}

/** POST /oidc/register with a small valid client; the status tells whether registration is open. */
export async function registrationStatus(issuerUrl: string): Promise<number> {
  const response = await fetch(new URL('oidc/register', issuerUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Probe', redirect_uris: ['https://probe.example.com/cb'] }),
    signal: AbortSignal.timeout(5000),
  });
  await response.arrayBuffer();
  return response.status;
}
