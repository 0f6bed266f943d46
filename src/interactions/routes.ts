// Login and consent: the interaction oidc-provider hands over to us at /u/<uid>.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';

import type { Store } from '../../adapters/contract.ts';
import { firstPartyClientIds } from '../config.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Accounts } from '../provider/accounts.ts';
import { findConsentGrant, newConsentGrant } from '../provider/consent_grant.ts';
import { INTERACTION_PATH } from '../provider/routes.ts';
import { createLoginLimit } from './login_limit.ts';
import { consentPage, errorPage, loginPage } from './views.ts';
import type { ClientView, ConsentScope } from './views.ts';

const OIDC_SCOPE_TEXT: Record<string, string> = {
  openid: 'confirm who you are',
  profile: 'see your name and nickname',
  email: 'see your email address',
  offline_access: 'stay signed in while you are away',
};

const WRONG_CREDENTIALS = 'Wrong email or password.';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

function form(ctx: Context): Record<string, string> {
  const body = (ctx.request as { body?: unknown }).body;
  const out: Record<string, string> = {};
  if (body && typeof body === 'object') {
    for (const [key, value] of Object.entries(body)) if (typeof value === 'string') out[key] = value;
  }
  return out;
}

function html(ctx: Context, status: number, body: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

export function createInteractionRoutes(deps: { provider: Provider; accounts: Accounts; config: Config; store: Store; metrics: Pick<Metrics, 'logins'> }): Router {
  const { provider, accounts, config, store, metrics } = deps;
  const loginLimit = createLoginLimit({ store });
  const apiNames = new Map(config.apis.map((api) => [api.identifier, api.name]));
  const router = new Router({ prefix: INTERACTION_PATH.slice(0, -1) });

  /** The interaction behind this request's cookie, provided it is the one in the URL. */
  async function load(ctx: Context): Promise<Interaction | undefined> {
    try {
      const interaction = await provider.interactionDetails(ctx.req, ctx.res);
      if (interaction.uid === ctx.params.uid) return interaction;
    } catch (error) {
      // Expired, unknown, or the cookie is missing (the library says SessionNotFound for each):
      // the same page for all of them. Anything else, a store outage above all, is not the
      // user's doing and must reach the error handlers (503 with Retry-After, or 500).
      if (!(error instanceof errors.SessionNotFound)) throw error;
    }
    html(ctx, 400, errorPage({ error: 'invalid_request', description: 'This login request has expired or is not valid in this browser. Go back to the application and sign in again.' }));
    return undefined;
  }

  const firstParty = firstPartyClientIds(config);

  /** The host (or, for a private-use scheme, the scheme) that the authorization response goes to. */
  function destination(redirectUri: unknown): string | undefined {
    const url = typeof redirectUri === 'string' ? URL.parse(redirectUri) : null;
    if (!url) return undefined;
    return url.host || url.protocol;
  }

  async function clientView(params: Interaction['params']): Promise<ClientView> {
    const clientId = params.client_id;
    const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
    return {
      clientName: client?.clientName ?? (typeof clientId === 'string' ? clientId : 'the application'),
      thirdParty: !(typeof clientId === 'string' && firstParty.has(clientId)),
      redirectHost: destination(params.redirect_uri),
    };
  }

  function consentScopes(details: Interaction['prompt']['details']): { scopes: ConsentScope[]; apis: string[] } {
    const scopes: ConsentScope[] = [];
    for (const name of (details.missingOIDCScope as string[] | undefined) ?? []) {
      scopes.push({ name, description: OIDC_SCOPE_TEXT[name] ?? name });
    }
    const apis: string[] = [];
    for (const [indicator, names] of Object.entries((details.missingResourceScopes as Record<string, string[]> | undefined) ?? {})) {
      const apiName = apiNames.get(indicator) ?? indicator;
      apis.push(apiName);
      for (const name of names) scopes.push({ name, description: `${name.replace(':', ' ')} in ${apiName}` });
    }
    return { scopes, apis };
  }

  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  router.get('/:uid', async (ctx) => {
    const interaction = await load(ctx);
    if (!interaction) return;
    const client = await clientView(interaction.params);
    if (interaction.prompt.name === 'login') {
      html(ctx, 200, loginPage({ action: `${INTERACTION_PATH}${interaction.uid}/login`, ...client }));
      return;
    }
    const account = accounts.find(interaction.session?.accountId ?? '');
    html(ctx, 200, consentPage({
      action: `${INTERACTION_PATH}${interaction.uid}/consent`,
      ...client,
      email: account?.email ?? '',
      ...consentScopes(interaction.prompt.details),
    }));
  });

  router.post('/:uid/login', parseForm, async (ctx) => {
    const interaction = await load(ctx);
    if (!interaction) return;
    if (interaction.prompt.name !== 'login') {
      html(ctx, 400, errorPage({ error: 'invalid_request', description: 'This step of the login is already done.' }));
      return;
    }
    const { email = '', password = '' } = form(ctx);
    const attempt = await loginLimit.attempt(ctx.ip, email);
    if (!attempt.allowed) {
      metrics.logins.inc({ outcome: 'rate_limited' });
      const minutes = Math.ceil(attempt.retryAfterSeconds / 60);
      ctx.set('Retry-After', String(attempt.retryAfterSeconds));
      html(ctx, 429, loginPage({
        action: `${INTERACTION_PATH}${interaction.uid}/login`,
        ...(await clientView(interaction.params)),
        email,
        error: `Too many attempts. Try again in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}.`,
      }));
      return;
    }
    const account = email && password ? await accounts.authenticate(email, password) : undefined;
    metrics.logins.inc({ outcome: account ? 'success' : 'wrong_credentials' });
    if (!account) {
      html(ctx, 401, loginPage({
        action: `${INTERACTION_PATH}${interaction.uid}/login`,
        ...(await clientView(interaction.params)),
        email,
        error: WRONG_CREDENTIALS,
      }));
      return;
    }
    await attempt.succeeded();
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  });

  router.post('/:uid/consent', parseForm, async (ctx) => {
    const interaction = await load(ctx);
    if (!interaction) return;
    if (interaction.prompt.name !== 'consent' || !interaction.session) {
      html(ctx, 400, errorPage({ error: 'invalid_request', description: 'There is nothing to consent to in this step.' }));
      return;
    }
    ctx.respond = false;
    if (form(ctx).decision !== 'allow') {
      await provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: 'The user denied the request' }, { mergeWithLastSubmission: false });
      return;
    }
    const accountId = interaction.session.accountId;
    const clientId = String(interaction.params.client_id);
    const grant = (await findConsentGrant(provider, accountId, clientId, interaction.grantId)) ?? newConsentGrant(provider, accountId, clientId);
    const { details } = interaction.prompt;
    const missingScope = details.missingOIDCScope as string[] | undefined;
    const missingClaims = details.missingOIDCClaims as string[] | undefined;
    const missingResourceScopes = details.missingResourceScopes as Record<string, string[]> | undefined;
    if (missingScope) grant.addOIDCScope(missingScope.join(' '));
    if (missingClaims) grant.addOIDCClaims(missingClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId: grant.jti } }, { mergeWithLastSubmission: true });
  });

  return router;
}
