// The example's second single-page app, on Auth0's SPA SDK (@auth0/auth0-spa-js), unchanged: it
// registers itself at the issuer (once, remembered in localStorage) as a public client of the
// code flow with refresh tokens, then lets the SDK do the rest. loginWithRedirect and
// handleRedirectCallback run the code flow with PKCE; on every load the SDK first tries a silent
// sign-in in a hidden iframe (prompt=none, response_mode=web_message); getTokenSilently uses the
// rotating refresh token (offline_access); sign-out revokes it at /oauth/revoke and goes through
// /v2/logout?returnTo=. Tokens stay
// in the SDK's memory cache, and the refresh token in its Web Worker.
import { createAuth0Client } from '/vendor/auth0-spa-js/auth0-spa-js.production.esm.js';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const redirectUri = `${location.origin}/sdk/`;
const storageKey = `contacts-sdk-example:${config.issuer}:${redirectUri}`;

function show(id, visible) {
  $(id).hidden = !visible;
}

function fail(message) {
  $('error').textContent = message;
  show('error', true);
}

/** This app's client, registered once per issuer and redirect URI and remembered in localStorage. */
async function registeredClient() {
  const saved = JSON.parse(localStorage.getItem(storageKey) ?? 'null');
  if (saved?.client_id) return saved;
  const discovery = await (await fetch(new URL('.well-known/openid-configuration', config.issuer))).json();
  if (!discovery.registration_endpoint) {
    throw new Error('The issuer does not offer registration: start it with CONFIG_FILE=examples/issuer.yaml (tenant flag enable_dynamic_client_registration).');
  }
  const response = await fetch(discovery.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Contacts SDK example app',
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [redirectUri],
      web_origins: [location.origin],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // A browser app cannot keep a secret: PKCE instead.
      token_endpoint_auth_method: 'none',
    }),
  });
  const body = await response.json();
  if (response.status !== 201) throw new Error(`Registration failed: ${body.error}: ${body.error_description}`);
  const client = { client_id: body.client_id };
  localStorage.setItem(storageKey, JSON.stringify(client));
  return client;
}

/** The claims of a JWT, without checking it (the API checks it; this only shows what it says). */
function claimsOf(jwt) {
  const part = jwt.split('.')[1].replaceAll('-', '+').replaceAll('_', '/');
  return JSON.parse(atob(part));
}

async function callApi(accessToken) {
  const response = await fetch(new URL('api/contacts', config.api), { headers: { authorization: `Bearer ${accessToken}` } });
  const body = await response.json();
  if (!response.ok) throw new Error(`The API refused the token: ${response.status} ${body.error}: ${body.error_description ?? ''}`);
  return body.contacts;
}

async function render(auth0, source) {
  const user = await auth0.getUser();
  const accessToken = await auth0.getTokenSilently();
  const claims = claimsOf(accessToken);
  const contacts = await callApi(accessToken);
  $('greeting').textContent = `Signed in as ${user.name ?? user.email ?? user.sub}`;
  $('email').textContent = user.email ?? '(not shared)';
  $('token-facts').textContent = `for ${[claims.aud].flat()[0]}, scope ${claims.scope}`;
  $('token-source').textContent = source;
  $('contacts').replaceChildren(...contacts.map((contact) => {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = contact.name;
    const email = document.createElement('span');
    email.className = 'contact-email';
    email.textContent = contact.email;
    item.append(name, email);
    return item;
  }));
  show('signed-out', false);
  show('signed-in', true);
}

try {
  const client = await registeredClient();
  $('client-status').textContent = `Registered as client ${client.client_id}`;
  const auth0 = await createAuth0Client({
    domain: config.issuer.replace(/\/$/, ''),
    clientId: client.client_id,
    authorizationParams: { redirect_uri: redirectUri, audience: config.audience, scope: config.scope },
    useRefreshTokens: true,
    // Without a refresh token in memory (after a reload), fall back to the silent iframe.
    useRefreshTokensFallback: true,
    cacheLocation: 'memory',
    workerUrl: '/vendor/auth0-spa-js/auth0-spa-js.worker.production.js',
  });
  $('sign-in').addEventListener('click', () => {
    auth0.loginWithRedirect().catch((error) => fail(error.message));
  });
  $('sign-out').addEventListener('click', async () => {
    try {
      // A refresh token outlives the session (offline_access): revoke it, then end the session.
      await auth0.revokeRefreshToken();
      await auth0.logout({ logoutParams: { returnTo: redirectUri } });
    } catch (error) {
      fail(error.message);
    }
  });
  $('refresh').addEventListener('click', () => {
    auth0.getTokenSilently({ cacheMode: 'off' })
      .then(() => render(auth0, `refreshed at ${new Date().toLocaleTimeString()}`))
      .catch((error) => fail(`${error.error ?? 'error'}: ${error.message}`));
  });

  const query = new URLSearchParams(location.search);
  let source;
  if (query.has('code') || query.has('error')) {
    await auth0.handleRedirectCallback();
    history.replaceState(null, '', location.pathname);
    $('signed-in-by').textContent = 'the login page (code flow with PKCE)';
    source = 'from the code exchange';
  } else if (await auth0.isAuthenticated()) {
    // createAuth0Client already tried a silent sign-in (prompt=none in a hidden iframe).
    $('signed-in-by').textContent = 'silent sign-in (hidden iframe, web_message)';
    source = 'from silent sign-in';
  }
  if (source) await render(auth0, source);
  else show('signed-out', true);
} catch (error) {
  fail(error instanceof Error ? `${error.error ? `${error.error}: ` : ''}${error.message}` : String(error));
}
