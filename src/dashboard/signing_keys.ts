// Dashboard › Signing keys: the key set with current, next, previous and revoked keys; Rotate and
// Revoke each after a page that says what happens to existing tokens. Both go through the key
// ring behind /api/v2/keys/signing and are audited with the admin's email as the actor.
import type Router from '@koa/router';

import { escapeHtml } from '../interactions/views.ts';
import { auditManagementChange } from '../management/audit.ts';
import { toAuth0SigningKeys } from '../management/signing_keys.ts';
import type { Auth0SigningKey } from '../management/signing_keys.ts';
import { FileKeysError, RotationTooSoonError } from '../provider/key_ring.ts';
import type { KeyRing } from '../provider/key_ring.ts';
import { DASHBOARD_PATH } from './client.ts';
import type { DashboardKit } from './router.ts';
import { confirmPage, messagePage, page } from './views.ts';
import type { PageContext } from './views.ts';

const KEYS_PATH = `${DASHBOARD_PATH}/keys`;

function statusOf(key: Auth0SigningKey): string {
  if (key.revoked) return 'Revoked';
  if (key.current) return 'Current';
  return key.next ? 'Next' : 'Previous';
}

function when(value: string | undefined): string {
  return value ? `<time datetime="${escapeHtml(value)}">${escapeHtml(value.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</time>` : '';
}

function keysPage(context: PageContext, keys: Auth0SigningKey[], options: { fromFile: boolean; notice?: string }): string {
  const rows = keys.map((key) => `<tr>
<td><code>${escapeHtml(key.kid)}</code></td>
<td><strong>${statusOf(key)}</strong></td>
<td>${when(key.current_since)}</td>
<td>${when(key.current_until)}</td>
<td>${when(key.revoked_at)}</td>
<td><code>${escapeHtml(key.thumbprint)}</code></td>
<td>${key.previous && !options.fromFile ? `<a href="${KEYS_PATH}/${encodeURIComponent(key.kid)}/revoke" aria-label="Revoke key ${escapeHtml(key.kid)}">Revoke…</a>` : ''}</td>
</tr>`).join('\n');
  const notice = options.notice ? `<p class="notice" role="status">${escapeHtml(options.notice)}</p>` : '';
  const rotate = options.fromFile
    ? '<p class="muted">These keys come from the JWKS file ops configured (keys.jwks_file): rotate them by replacing the file.</p>'
    : `<p><a href="${KEYS_PATH}/rotate">Rotate signing key…</a></p>`;
  return page('Signing keys', { ...context, section: 'keys' }, `<h1>Signing keys</h1>
${notice}<p class="muted">The current key signs tokens; the next key is already published in the JWKS so that every relying party knows it before it signs; previous keys stay published so that tokens they signed keep verifying until they are revoked.</p>
${rotate}
<section>
<table>
<caption class="muted">Key ID, status, when it was current, when it was revoked, and its thumbprint</caption>
<thead><tr><th scope="col">Key ID</th><th scope="col">Status</th><th scope="col">Current since</th><th scope="col">Current until</th><th scope="col">Revoked at</th><th scope="col">Thumbprint</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</section>`);
}

export function addSigningKeyRoutes(router: Router, kit: DashboardKit, keys: KeyRing): void {
  const { admin, adminForm, html, parseForm, logger } = kit;
  const back = { href: KEYS_PATH, text: 'Back to Signing keys' };
  const fromFile = () => keys.source === 'file';

  router.get('/keys', async (ctx) => {
    const current = await admin(ctx);
    if (!current) return;
    const notice = ctx.query.rotated === '1' ? 'Rotated: the former next key signs from now on, on every instance within seconds.' : ctx.query.revoked === '1' ? 'Revoked: the key left the JWKS, and tokens it signed no longer verify.' : undefined;
    html(ctx, 200, keysPage(current.page, toAuth0SigningKeys(keys.document()), { fromFile: fromFile(), notice }));
  });

  router.get('/keys/rotate', async (ctx) => {
    const current = await admin(ctx);
    if (!current) return;
    html(ctx, 200, confirmPage({ ...current.page, section: 'keys' }, {
      title: 'Rotate the signing key?',
      explanation: [
        'The next key, already published in the JWKS, becomes the current key and signs every new token. A new next key is made and published.',
        'The current key becomes a previous key and stays published: tokens it signed keep verifying until they expire, or until you revoke it.',
      ],
      action: `${KEYS_PATH}/rotate`,
      button: 'Rotate the signing key',
      cancel: KEYS_PATH,
    }));
  });

  router.post('/keys/rotate', parseForm, async (ctx) => {
    const current = await adminForm(ctx);
    if (!current) return;
    let rotated;
    try {
      rotated = await keys.rotate();
    } catch (error) {
      if (error instanceof FileKeysError || error instanceof RotationTooSoonError) {
        html(ctx, error instanceof RotationTooSoonError ? 429 : 400, messagePage('Not rotated', error.message, back));
        return;
      }
      throw error;
    }
    auditManagementChange(logger, current.account.email, 'signing_key_rotated', { kid: rotated.keys[0]!.kid! });
    ctx.redirect(`${KEYS_PATH}?rotated=1`);
  });

  router.get('/keys/:kid/revoke', async (ctx) => {
    const current = await admin(ctx);
    if (!current) return;
    const kid = String(ctx.params.kid);
    const key = toAuth0SigningKeys(keys.document()).find((k) => k.kid === kid);
    if (!key || !key.previous) {
      html(ctx, 400, messagePage('Cannot revoke', 'Only a previous signing key can be revoked; the current and the next key cannot (rotate first).', back));
      return;
    }
    html(ctx, 200, confirmPage({ ...current.page, section: 'keys' }, {
      title: `Revoke key ${kid}?`,
      explanation: [
        'The key leaves the JWKS on every instance within seconds.',
        'Every token it signed stops verifying at once: ID tokens and access tokens issued before its last rotation are refused by this issuer and by every API that reads the JWKS. Users and applications holding them must sign in or fetch new tokens.',
        'This cannot be undone.',
      ],
      action: `${KEYS_PATH}/${encodeURIComponent(kid)}/revoke`,
      button: 'Revoke the key',
      cancel: KEYS_PATH,
    }));
  });

  router.post('/keys/:kid/revoke', parseForm, async (ctx) => {
    const current = await adminForm(ctx);
    if (!current) return;
    const kid = String(ctx.params.kid);
    let result;
    try {
      result = await keys.revoke(kid);
    } catch (error) {
      if (!(error instanceof FileKeysError)) throw error;
      html(ctx, 400, messagePage('Not revoked', error.message, back));
      return;
    }
    if ('refusal' in result) {
      const why = result.refusal === 'not_found' ? 'There is no such key.' : result.refusal === 'already_revoked' ? 'The key is already revoked.' : 'Only a previous signing key can be revoked; the current and the next key cannot (rotate first).';
      html(ctx, 400, messagePage('Not revoked', why, back));
      return;
    }
    auditManagementChange(logger, current.account.email, 'signing_key_revoked', { kid });
    ctx.redirect(`${KEYS_PATH}?revoked=1`);
  });
}
