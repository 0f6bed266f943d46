// The authorization code flow with PKCE as a public client runs it, without a browser: the
// verifier and challenge, /authorize through the real login and consent pages, and the exchange.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

import { authorize, authorizeUrl } from './implicit.ts';
import { UserAgent } from './user_agent.ts';
import type { Step } from './user_agent.ts';

export type Pkce = { verifier: string; challenge: string };

export function pkcePair(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** /authorize with response_type=code and an S256 challenge (none for `null`), logged in as Alice; the step leaving the issuer. */
export async function authorizeCode(issuerUrl: string, params: Record<string, string>, pkce: Pkce | null = pkcePair(), agent = new UserAgent(issuerUrl)): Promise<Step> {
  const challenge: Record<string, string> = pkce ? { code_challenge: pkce.challenge, code_challenge_method: 'S256' } : {};
  return authorize(agent, authorizeUrl(issuerUrl, { response_type: 'code', state: 'state-1234', ...challenge, ...params }));
}

/** The `code` of a redirect back to the client, after checking it carries no error. */
export function codeFrom(step: Step): string {
  assert.ok(step.location, `expected a redirect to the client, got ${step.status}: ${step.body.slice(0, 300)}`);
  const params = new URL(step.location).searchParams;
  assert.equal(params.get('error'), null, `authorization failed: ${params.get('error')}: ${params.get('error_description')}`);
  const code = params.get('code');
  assert.ok(code, `no code in ${step.location}`);
  return code;
}

/** POST /oauth/token as a form; the status and JSON body. */
export async function tokenRequest(issuerUrl: string, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL('oauth/token', issuerUrl), { method: 'POST', body: new URLSearchParams(fields), signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export function decodeJwt(token: unknown): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  assert.equal(typeof token, 'string');
  const [header, payload] = (token as string).split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
  return { header: header!, payload: payload! };
}
