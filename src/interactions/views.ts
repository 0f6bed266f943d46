// Server-rendered HTML for the login, consent, error and logout pages. No JavaScript; every
// value that reaches the page goes through `escapeHtml`.
import { hash } from 'node:crypto';

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The palette and type of every page the issuer renders (login, consent, Dashboard). */
export const THEME = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#f6f8fa;--card:#fff;--line:#d0d7de;--accent:#0b57d0;--accent-fg:#fff;--error:#b42318}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#161b22;--line:#30363d;--accent:#4493f8;--accent-fg:#0d1117;--error:#ff7b72}}
*{box-sizing:border-box}`;

const STYLE = `${THEME}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:min(400px,92vw);background:var(--card);border:1px solid var(--line);border-radius:12px;padding:32px;box-shadow:0 8px 24px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin:0 0 4px}
p.lead{color:var(--muted);margin:0 0 24px}
label{display:block;font-weight:600;margin:16px 0 6px}
input{width:100%;padding:10px 12px;border:1px solid var(--line);border-radius:8px;font:inherit;background:transparent;color:inherit}
input:focus,button:focus{outline:3px solid color-mix(in srgb,var(--accent) 40%,transparent);outline-offset:1px}
button{width:100%;margin-top:24px;padding:11px;border:0;border-radius:8px;font:inherit;font-weight:600;background:var(--accent);color:var(--accent-fg);cursor:pointer}
button.secondary{background:transparent;color:var(--fg);border:1px solid var(--line);margin-top:12px}
.error{color:var(--error);background:color-mix(in srgb,var(--error) 10%,transparent);border-radius:8px;padding:10px 12px;margin:0 0 8px}
ul.scopes{padding-left:20px;margin:8px 0 0}
ul.scopes li{margin:4px 0}
.client{font-weight:600}
.party{margin:0 0 16px;padding:10px 12px;border:1px solid var(--line);border-radius:8px;font-size:.9rem}
.party.third{border-color:color-mix(in srgb,var(--error) 45%,var(--line))}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:1px 8px;border-radius:999px;border:1px solid currentColor;margin-right:6px}
small{color:var(--muted)}
`;

/** The Content-Security-Policy source that allows exactly the pages' one inline style sheet. */
export const STYLE_SOURCE = `'sha256-${hash('sha256', STYLE, 'base64')}'`;

/** A whole page of the issuer: its title, its one style sheet (allowed by hash), what comes before <main>, and <main>. */
export function htmlDocument(options: { title: string; style: string; header?: string; body: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(options.title)}</title>
<style>${options.style}</style>
</head>
<body>
${options.header ?? ''}<main>
${options.body}
</main>
</body>
</html>`;
}

function layout(title: string, body: string): string {
  return htmlDocument({ title, style: STYLE, body });
}

/** Who is asking: the application's name, whether ops declared it, and where the answer goes. */
export type ClientView = { clientName: string; thirdParty: boolean; redirectHost?: string };

/**
 * Auth0's consent page shows the application's domain. A registered application chose its own
 * name, so the page says it is third-party and names the host that will receive the tokens.
 */
function partyNote(client: ClientView): string {
  const destination = client.redirectHost ? `You will be sent back to <strong>${escapeHtml(client.redirectHost)}</strong>.` : '';
  if (!client.thirdParty) return destination ? `<p class="party">${destination}</p>\n` : '';
  return `<p class="party third" role="note"><span class="badge">Third-party</span>This application was not made by the operator of this sign-in service. ${destination}</p>\n`;
}

export function loginPage(options: ClientView & { action: string; email?: string; error?: string }): string {
  const error = options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : '';
  return layout('Log in', `<h1>Log in</h1>
<p class="lead">to continue to <span class="client">${escapeHtml(options.clientName)}</span></p>
${partyNote(options)}${error}<form method="post" action="${escapeHtml(options.action)}" autocomplete="on">
<label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="username" required autofocus value="${escapeHtml(options.email ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Continue</button>
</form>`);
}

export type ConsentScope = { name: string; description: string };

export function consentPage(options: ClientView & { action: string; email: string; scopes: ConsentScope[]; apis: string[] }): string {
  const scopes = options.scopes.map((s) => `<li><code>${escapeHtml(s.name)}</code>: ${escapeHtml(s.description)}</li>`).join('\n');
  const apis = options.apis.length ? `<p><small>For: ${options.apis.map(escapeHtml).join(', ')}</small></p>` : '';
  return layout('Authorize application', `<h1>Authorize <span class="client">${escapeHtml(options.clientName)}</span></h1>
${partyNote(options)}<p class="lead">Signed in as ${escapeHtml(options.email)}. This application asks to:</p>
<ul class="scopes">
${scopes || '<li>confirm who you are</li>'}
</ul>
${apis}<form method="post" action="${escapeHtml(options.action)}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`);
}

export function errorPage(options: { error: string; description?: string }): string {
  return layout('Something went wrong', `<h1>Something went wrong</h1>
<p class="error" role="alert"><strong>${escapeHtml(options.error)}</strong>${options.description ? `: ${escapeHtml(options.description)}` : ''}</p>
<p><small>The application that sent you here may have sent a request the issuer could not accept. Go back to it and try again.</small></p>`);
}

/** `continueTo`: a logout URL the issuer did not follow on its own (the request did not prove its client). */
export function loggedOutPage(clientName?: string, continueTo?: URL): string {
  const link = continueTo ? `\n<p><a href="${escapeHtml(continueTo.href)}">Continue to ${escapeHtml(continueTo.host)}</a></p>` : '';
  return layout('Logged out', `<h1>You are logged out</h1>
<p class="lead">${clientName ? `You have left ${escapeHtml(clientName)}.` : 'You can close this window.'}</p>${link}`);
}
