// Server-rendered HTML of the Dashboard: the login pages' palette, no script at all (confirmations
// are pages of their own), every value through escapeHtml, every form with the session's CSRF token.
import { hash } from 'node:crypto';

import { escapeHtml, htmlDocument, THEME } from '../interactions/views.ts';
import type { LastChanges } from '../tenant/settings.ts';
import { DASHBOARD_PATH } from './client.ts';

const STYLE = `${THEME}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;gap:24px;align-items:center;flex-wrap:wrap;padding:12px 24px;background:var(--card);border-bottom:1px solid var(--line)}
header strong{font-size:1.05rem}
nav{display:flex;gap:4px;flex:1}
nav a{color:var(--fg);text-decoration:none;padding:6px 12px;border-radius:8px}
nav a[aria-current=page]{background:color-mix(in srgb,var(--accent) 14%,transparent);color:var(--accent);font-weight:600}
main{max-width:1040px;margin:24px auto;padding:0 24px}
section,.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:20px 24px;margin:0 0 16px}
h1{font-size:1.5rem;margin:0 0 16px}
h2{font-size:1.1rem;margin:0 0 8px}
p{margin:8px 0}
.muted,small{color:var(--muted)}
.flag{display:flex;gap:16px;align-items:flex-start;justify-content:space-between}
.state{display:inline-block;font-weight:600;font-size:.85rem;padding:2px 10px;border-radius:999px;border:1px solid var(--line)}
.state.on{color:var(--accent);border-color:currentColor}
.notice{padding:10px 12px;border-radius:8px;background:color-mix(in srgb,var(--accent) 12%,transparent);margin:0 0 16px}
.error{color:var(--error);background:color-mix(in srgb,var(--error) 10%,transparent);border-radius:8px;padding:10px 12px;margin:0 0 16px}
table{width:100%;border-collapse:collapse;font-size:.92rem}
th,td{text-align:left;padding:8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted)}
code{font-size:.85rem;word-break:break-all}
a{color:var(--accent)}
label{display:block;font-weight:600;margin:16px 0 6px}
input[type=text],textarea,select{width:100%;padding:8px 10px;border:1px solid var(--line);border-radius:8px;font:inherit;background:transparent;color:inherit}
textarea{min-height:6em;font-family:ui-monospace,monospace;font-size:.9rem}
button{white-space:nowrap;padding:8px 16px;border:0;border-radius:8px;font:inherit;font-weight:600;background:var(--accent);color:var(--accent-fg);cursor:pointer}
button.secondary{background:transparent;color:var(--fg);border:1px solid var(--line)}
button.danger{background:var(--error);color:#fff}
a:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible,select:focus-visible{outline:3px solid color-mix(in srgb,var(--accent) 55%,transparent);outline-offset:2px}
.actions{display:flex;gap:8px;flex-wrap:wrap;margin-top:16px}
.pager{display:flex;gap:12px;align-items:center;margin-top:12px}
.filters{display:flex;gap:12px;align-items:end;flex-wrap:wrap;margin:0 0 12px}
.filters label{margin:0 0 4px}
label.inline{display:inline;font-weight:400}
caption{text-align:left;padding:0 0 8px}
`;

/** The CSP source for the Dashboard's one inline style sheet. */
export const DASHBOARD_STYLE_SOURCE = `'sha256-${hash('sha256', STYLE, 'base64')}'`;

export type Section = 'settings' | 'applications' | 'keys';

export type PageContext = { email: string; csrf: string; section?: Section };

export function csrfField(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;
}

export function page(title: string, context: PageContext | undefined, body: string): string {
  const link = (section: Section, href: string, text: string) => `<a href="${DASHBOARD_PATH}/${href}"${context?.section === section ? ' aria-current="page"' : ''}>${text}</a>`;
  const header = context
    ? `<header>
<strong>Dashboard</strong>
<nav aria-label="Dashboard">${link('settings', 'settings', 'Settings')}${link('applications', 'applications', 'Applications')}${link('keys', 'keys', 'Signing keys')}</nav>
<form method="post" action="${DASHBOARD_PATH}/logout">${csrfField(context.csrf)}<span class="muted">${escapeHtml(context.email)}</span> <button type="submit" class="secondary">Log out</button></form>
</header>`
    : '<header><strong>Dashboard</strong></header>';
  return htmlDocument({ title: `${title} · Dashboard`, style: STYLE, header: `${header}\n`, body });
}

/** What each tenant flag is called in Auth0's Dashboard, and what it does. */
const FLAG_TEXT: Record<string, { label: string; description: string }> = {
  enable_dynamic_client_registration: {
    label: 'OIDC Dynamic Application Registration',
    description: 'Lets anyone register an application at /oidc/register without a token (RFC 7591). Registered applications are third-party: their users see a consent page.',
  },
  enable_client_id_metadata_document: {
    label: 'Client ID Metadata Document',
    description: 'Lets an application use an https URL as its client_id; the issuer fetches the application\'s metadata from that URL.',
  },
};

function actorText(change: LastChanges[string] | undefined): string {
  if (!change) return 'Never changed since the tenant was created.';
  const who = change.by.type === 'admin' ? `the administrator ${escapeHtml(change.by.id)}`
    : change.by.type === 'api_client' ? `the Management API client <code>${escapeHtml(change.by.id)}</code>`
      : 'the config file';
  return `Last changed by ${who} at <time datetime="${escapeHtml(change.at)}">${escapeHtml(change.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</time>.`;
}

export function settingsPage(context: PageContext, options: { flags: Record<string, boolean>; lastChanges: LastChanges; notice?: string }): string {
  const rows = Object.entries(options.flags).map(([name, on]) => {
    const text = FLAG_TEXT[name] ?? { label: name, description: '' };
    const id = `flag-${name}`;
    return `<section class="flag" aria-labelledby="${id}">
<div>
<h2 id="${id}">${escapeHtml(text.label)} <span class="state${on ? ' on' : ''}">${on ? 'On' : 'Off'}</span></h2>
<p class="muted" id="${id}-description">${escapeHtml(text.description)} <small>(<code>${escapeHtml(name)}</code>)</small></p>
<p><small>${actorText(options.lastChanges[`flags.${name}`])}</small></p>
</div>
<form method="post" action="${DASHBOARD_PATH}/settings/flags/${escapeHtml(name)}">
${csrfField(context.csrf)}<input type="hidden" name="enabled" value="${on ? 'false' : 'true'}">
<button type="submit" aria-describedby="${id}-description"${on ? ' class="secondary"' : ''}>Turn ${on ? 'off' : 'on'}</button>
</form>
</section>`;
  }).join('\n');
  const notice = options.notice ? `<p class="notice" role="status">${escapeHtml(options.notice)}</p>` : '';
  return page('Settings', { ...context, section: 'settings' }, `<h1>Settings › Advanced</h1>
${notice}<p class="muted">Changes apply on every instance within a second, exactly as <code>PATCH /api/v2/tenants/settings</code>.</p>
${rows}`);
}

export function notAdministratorPage(email: string): string {
  return page('Not an administrator', undefined, `<section>
<h1>Not an administrator</h1>
<p role="alert">You are signed in as ${escapeHtml(email)}, which is not an administrator of this tenant. The Dashboard is for users whose entry in the configuration has <code>roles: [admin]</code>.</p>
<p><a href="/v2/logout">Sign out of the issuer</a></p>
</section>`);
}

export function messagePage(title: string, message: string, link?: { href: string; text: string }): string {
  return page(title, undefined, `<section>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
${link ? `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : ''}
</section>`);
}

/** A confirmation step of its own (no script): what will happen, then a form that does it. */
export function confirmPage(context: PageContext, options: { title: string; explanation: string[]; action: string; button: string; cancel: string; fields?: Record<string, string> }): string {
  const fields = Object.entries(options.fields ?? {}).map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join('');
  return page(options.title, context, `<section>
<h1>${escapeHtml(options.title)}</h1>
${options.explanation.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n')}
<form method="post" action="${escapeHtml(options.action)}">
${csrfField(context.csrf)}${fields}
<div class="actions"><button type="submit" class="danger">${escapeHtml(options.button)}</button> <a href="${escapeHtml(options.cancel)}">Cancel</a></div>
</form>
</section>`);
}
