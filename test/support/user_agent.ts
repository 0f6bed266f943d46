// A browser without a browser: a cookie jar and manual redirects, to drive /authorize, the
// login and consent pages, and read where the issuer finally sends the user.
import assert from 'node:assert/strict';

export type Step = { status: number; location?: string; body: string; url: string; headers: Headers };

export class UserAgent {
  readonly origin: string;
  #cookies = new Map<string, string>();

  constructor(issuerUrl: string) {
    this.origin = new URL(issuerUrl).origin;
  }

  #remember(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const index = pair!.indexOf('=');
      const name = pair!.slice(0, index).trim();
      const value = pair!.slice(index + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  /** The Cookie header this agent sends (to replay a session elsewhere, e.g. under load in bench/). */
  cookieHeader(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(url: string, init: RequestInit = {}): Promise<Step> {
    const headers = new Headers(init.headers);
    if (this.#cookies.size) headers.set('cookie', this.cookieHeader());
    const response = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    this.#remember(response.headers);
    const location = response.headers.get('location') ?? undefined;
    return { status: response.status, location: location ? new URL(location, url).href : undefined, body: await response.text(), url, headers: response.headers };
  }

  /** GET, following redirects while they stay on the issuer; returns the last step. */
  async navigate(url: string, init: RequestInit = {}): Promise<Step> {
    let step = await this.request(url, init);
    for (let hops = 0; step.location && new URL(step.location).origin === this.origin; hops++) {
      assert.ok(hops < 10, `too many redirects from ${url}`);
      step = await this.request(step.location);
    }
    return step;
  }

  /** POST a form the way a browser submits it, then follow redirects on the issuer. */
  async submit(url: string, fields: Record<string, string>): Promise<Step> {
    const step = await this.request(new URL(url, this.origin).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    if (step.location && new URL(step.location).origin === this.origin) return this.navigate(step.location);
    return step;
  }

  /** The `action` of the first form on a page. */
  static formAction(body: string): string {
    const match = /<form[^>]*action="([^"]+)"/.exec(body);
    assert.ok(match, `no form on the page: ${body.slice(0, 300)}`);
    return match[1]!.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)));
  }
}

/** Log in on the page a step shows, and consent when the consent page follows. */
export async function loginAndConsent(agent: UserAgent, page: Step, credentials: { email: string; password: string }, decision: 'allow' | 'deny' = 'allow'): Promise<Step> {
  assert.equal(page.status, 200, `expected the login page, got ${page.status} ${page.location ?? ''} ${page.body.slice(0, 200)}`);
  let step = await agent.submit(UserAgent.formAction(page.body), credentials);
  if (step.status === 200 && step.body.includes('name="decision"')) step = await agent.submit(UserAgent.formAction(step.body), { decision });
  return step;
}

/** The parameters of a redirect's fragment (implicit flow) or query. */
export function redirectParams(location: string | undefined, part: 'hash' | 'search' = 'hash'): URLSearchParams {
  assert.ok(location, 'expected a redirect');
  return new URLSearchParams(new URL(location)[part].slice(1));
}
