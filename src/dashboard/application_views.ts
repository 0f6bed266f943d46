// The Applications pages of the Dashboard: the paged list, one application's page with its edit
// form, and the page that shows a client secret the admin asked to reveal.
import { escapeHtml } from '../interactions/views.ts';
import type { Auth0Client } from '../management/client_fields.ts';
import { DASHBOARD_PATH } from './client.ts';
import { csrfField, page } from './views.ts';
import type { PageContext } from './views.ts';

export const APPLICATIONS_PATH = `${DASHBOARD_PATH}/applications`;

/** Who made the application: ops (config file), the Management API, or open registration. */
export function originOf(client: Auth0Client): string {
  if (client.is_first_party) return 'Declared by ops';
  return client.app_type === undefined ? 'Dynamically registered' : 'Management API';
}

function hosts(urls: readonly string[]): string {
  const names = [...new Set(urls.map((url) => { const parsed = URL.parse(url); return parsed ? parsed.host || parsed.protocol : url; }))];
  return names.map((name) => `<code>${escapeHtml(name)}</code>`).join(', ') || '<span class="muted">none</span>';
}

function when(value: string | undefined): string {
  return value ? `<time datetime="${escapeHtml(value)}">${escapeHtml(value.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</time>` : '<span class="muted">unknown</span>';
}

function link(query: { page: number; registered: boolean }): string {
  const params = new URLSearchParams({ page: String(query.page), ...(query.registered ? { registered: '1' } : {}) });
  return `${APPLICATIONS_PATH}?${params}`;
}

export function applicationsPage(context: PageContext, options: { clients: Auth0Client[]; total: number; page: number; perPage: number; registered: boolean; notice?: string }): string {
  const rows = options.clients.map((client) => `<tr>
<td><a href="${APPLICATIONS_PATH}/${encodeURIComponent(client.client_id)}">${escapeHtml(client.name)}</a></td>
<td><code>${escapeHtml(client.client_id)}</code></td>
<td>${escapeHtml(client.app_type ?? 'registered')}</td>
<td>${client.is_first_party ? 'First-party' : 'Third-party'}<br><small>${escapeHtml(originOf(client))}</small></td>
<td>${when(client.created_at)}</td>
<td>${hosts(client.callbacks)}</td>
</tr>`).join('\n');
  const last = Math.max(0, Math.ceil(options.total / options.perPage) - 1);
  const pager = `<nav class="pager" aria-label="Pages">
${options.page > 0 ? `<a href="${link({ page: options.page - 1, registered: options.registered })}">Previous page</a>` : ''}
<span>Page ${options.page + 1} of ${last + 1} · ${options.total} application${options.total === 1 ? '' : 's'}</span>
${options.page < last ? `<a href="${link({ page: options.page + 1, registered: options.registered })}">Next page</a>` : ''}
</nav>`;
  const notice = options.notice ? `<p class="notice" role="status">${escapeHtml(options.notice)}</p>` : '';
  return page('Applications', { ...context, section: 'applications' }, `<h1>Applications</h1>
${notice}<form class="filters" method="get" action="${APPLICATIONS_PATH}">
<div><input type="checkbox" id="registered" name="registered" value="1"${options.registered ? ' checked' : ''}> <label for="registered" class="inline">Only dynamically registered applications</label></div>
<button type="submit" class="secondary">Filter</button>
</form>
<section>
<table>
<caption class="muted">Name, client ID, type, party, created, and the hosts of the redirect URIs</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Client ID</th><th scope="col">Type</th><th scope="col">Party</th><th scope="col">Created</th><th scope="col">Redirect hosts</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="6">No applications.</td></tr>'}
</tbody>
</table>
${pager}
</section>`);
}

function listField(id: string, label: string, values: readonly string[], hint: string, readOnly: boolean): string {
  return `<label for="${id}">${escapeHtml(label)}</label>
<textarea id="${id}" name="${id}" aria-describedby="${id}-hint"${readOnly ? ' readonly' : ''}>${escapeHtml(values.join('\n'))}</textarea>
<small id="${id}-hint">${escapeHtml(hint)}</small>`;
}

export function applicationPage(context: PageContext, client: Auth0Client, options: { hasSecret: boolean; notice?: string; error?: string; values?: Partial<Record<'name' | 'callbacks' | 'allowed_logout_urls' | 'web_origins', string>> }): string {
  const readOnly = client.is_first_party;
  const base = `${APPLICATIONS_PATH}/${encodeURIComponent(client.client_id)}`;
  const value = (field: 'callbacks' | 'allowed_logout_urls' | 'web_origins') => (options.values?.[field] !== undefined ? options.values[field]!.split('\n') : client[field]);
  const notice = options.notice ? `<p class="notice" role="status">${escapeHtml(options.notice)}</p>` : '';
  const error = options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : '';
  const fields = `<label for="name">Name</label>
<input type="text" id="name" name="name" value="${escapeHtml(options.values?.name ?? client.name)}"${readOnly ? ' readonly' : ' required'} maxlength="200">
${listField('callbacks', 'Allowed callback URLs', value('callbacks'), 'One URL per line (redirect_uris).', readOnly)}
${listField('allowed_logout_urls', 'Allowed logout URLs', value('allowed_logout_urls'), 'One URL per line (post_logout_redirect_uris).', readOnly)}
${listField('web_origins', 'Allowed web origins', value('web_origins'), 'One origin per line, like https://app.example.com (silent sign-in and the token endpoint from a browser).', readOnly)}`;
  const form = readOnly
    ? `<p class="notice" role="note">Declared in the config file: change it there (read-only here and in the Management API).</p>\n${fields}`
    : `<form method="post" action="${base}">
${csrfField(context.csrf)}${fields}
<div class="actions"><button type="submit">Save changes</button></div>
</form>`;
  const actions = readOnly ? '' : `<section>
<h2>Client secret</h2>
${options.hasSecret ? `<p class="muted">The secret is never shown on this page.</p>
<form method="post" action="${base}/secret">${csrfField(context.csrf)}<button type="submit" class="secondary">Reveal client secret</button></form>` : '<p class="muted">This application has no secret (a public client).</p>'}
</section>
<section>
<h2>Delete</h2>
<p class="muted">Deleting withdraws everything the application holds: its users' grants, its access and refresh tokens, and its sessions' authorizations.</p>
<p><a href="${base}/delete">Delete this application…</a></p>
</section>`;
  return page(client.name, { ...context, section: 'applications' }, `<p><a href="${APPLICATIONS_PATH}">← Applications</a></p>
<h1>${escapeHtml(client.name)}</h1>
${notice}${error}<section>
<p><strong>Client ID</strong> <code>${escapeHtml(client.client_id)}</code></p>
<p><strong>Type</strong> ${escapeHtml(client.app_type ?? 'registered')} · ${client.is_first_party ? 'First-party' : 'Third-party'} · ${escapeHtml(originOf(client))} · created ${when(client.created_at)}</p>
<p><strong>Grant types</strong> ${client.grant_types.map((g) => `<code>${escapeHtml(g)}</code>`).join(', ') || 'none'} · <strong>Token endpoint authentication</strong> <code>${escapeHtml(client.token_endpoint_auth_method)}</code></p>
${form}
</section>
${actions}`);
}

export function secretPage(context: PageContext, client: Auth0Client): string {
  return page(`Secret of ${client.name}`, { ...context, section: 'applications' }, `<p><a href="${APPLICATIONS_PATH}/${encodeURIComponent(client.client_id)}">← ${escapeHtml(client.name)}</a></p>
<h1>Client secret</h1>
<section>
<p>The client secret of <strong>${escapeHtml(client.name)}</strong>. Anyone who has it can act as this application: do not share it, and leave this page when done.</p>
<label for="secret">Client secret</label>
<input type="text" id="secret" readonly value="${escapeHtml(client.client_secret ?? '')}">
</section>`);
}
