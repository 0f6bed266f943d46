// The example's single-page app: it registers itself at the issuer's registration endpoint,
// signs the user in with the implicit flow (the parameters Auth0's auth0.js sends:
// response_type "token id_token", audience, scope, state, nonce), checks the ID token the way
// auth0.js's parseHash does (signature against the issuer's JWKS, iss, aud, exp, nonce, at_hash),
// then calls the API and /userinfo with the access token. Tokens stay in memory only.
import { base64url, createRemoteJWKSet, jwtVerify } from '/vendor/jose/index.js';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const redirectUri = `${location.origin}/`;
const storageKey = `contacts-example:${config.issuer}:${redirectUri}`;

function show(id, visible) {
  $(id).hidden = !visible;
}

function fail(message) {
  $('error').textContent = message;
  show('error', true);
}

function randomString() {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
}

async function discover() {
  const response = await fetch(new URL('.well-known/openid-configuration', config.issuer));
  if (!response.ok) throw new Error(`The issuer at ${config.issuer} does not answer discovery (${response.status}).`);
  return response.json();
}

/** This app's client, registered once per issuer and redirect URI and remembered in localStorage. */
async function registeredClient(discovery) {
  const saved = JSON.parse(localStorage.getItem(storageKey) ?? 'null');
  if (saved?.client_id) return saved;
  if (!discovery.registration_endpoint) {
    throw new Error('The issuer does not offer registration: start it with CONFIG_FILE=examples/issuer.yaml (tenant flag enable_dynamic_client_registration).');
  }
  const response = await fetch(discovery.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Contacts example app',
      redirect_uris: [redirectUri],
      grant_types: ['implicit'],
      response_types: ['id_token token', 'token'],
      // A browser app cannot keep a secret.
      token_endpoint_auth_method: 'none',
    }),
  });
  const body = await response.json();
  if (response.status !== 201) throw new Error(`Registration failed: ${body.error}: ${body.error_description}`);
  const client = { client_id: body.client_id };
  localStorage.setItem(storageKey, JSON.stringify(client));
  return client;
}

function signIn(discovery, client) {
  const transaction = { state: randomString(), nonce: randomString() };
  sessionStorage.setItem(storageKey, JSON.stringify(transaction));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: client.client_id,
    response_type: 'token id_token',
    redirect_uri: redirectUri,
    scope: config.scope,
    audience: config.audience,
    state: transaction.state,
    nonce: transaction.nonce,
  }).toString();
  location.assign(url.href);
}

/** at_hash: the left half of the access token's SHA-256, base64url-encoded (OIDC Core 3.2.2.9). */
async function atHash(accessToken) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken)));
  return base64url.encode(digest.slice(0, digest.length / 2));
}

/** Read and check the authorization response in the fragment; undefined when there is none. */
async function parseHash(discovery, client) {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (!hash.has('access_token') && !hash.has('error')) return undefined;
  // The fragment holds tokens: out of the address bar and the history at once.
  history.replaceState(null, '', location.pathname);
  const transaction = JSON.parse(sessionStorage.getItem(storageKey) ?? 'null');
  sessionStorage.removeItem(storageKey);
  if (!transaction || hash.get('state') !== transaction.state) throw new Error('The response does not belong to a sign-in started here (state mismatch).');
  if (hash.has('error')) throw new Error(`${hash.get('error')}: ${hash.get('error_description') ?? ''}`);

  const accessToken = hash.get('access_token');
  const idToken = hash.get('id_token');
  if (!accessToken || !idToken) throw new Error('The response lacks an access token or an ID token.');
  const keys = createRemoteJWKSet(new URL(discovery.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(idToken, keys, { issuer: discovery.issuer, audience: client.client_id, algorithms: ['RS256'] });
  if (payload.nonce !== transaction.nonce) throw new Error('The ID token was not issued for this sign-in (nonce mismatch).');
  if (payload.at_hash !== (await atHash(accessToken))) throw new Error('The access token does not belong to the ID token (at_hash mismatch).');
  return { accessToken, idToken: payload, alg: protectedHeader.alg, scope: hash.get('scope') ?? config.scope };
}

async function callApi(accessToken) {
  const response = await fetch(new URL('api/contacts', config.api), { headers: { authorization: `Bearer ${accessToken}` } });
  const body = await response.json();
  if (!response.ok) throw new Error(`The API refused the token: ${response.status} ${body.error}: ${body.error_description ?? ''}`);
  return body.contacts;
}

async function callUserinfo(discovery, accessToken) {
  const response = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  if (!response.ok) return `refused (${response.status})`;
  const claims = await response.json();
  return `${claims.email ?? claims.sub} (sub ${claims.sub})`;
}

function render(session, contacts, userinfo) {
  const { idToken } = session;
  $('greeting').textContent = `Signed in as ${idToken.name ?? idToken.email ?? idToken.sub}`;
  $('email').textContent = idToken.email ?? '(not shared)';
  $('id-token-check').textContent = `verified (${session.alg}, nonce and at_hash match)`;
  $('id-token-check').className = 'ok';
  $('scope').textContent = session.scope;
  $('userinfo').textContent = userinfo;
  const list = $('contacts');
  list.replaceChildren(...contacts.map((contact) => {
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
  const discovery = await discover();
  const client = await registeredClient(discovery);
  $('client-status').textContent = `Registered as client ${client.client_id}`;
  $('sign-in').addEventListener('click', () => signIn(discovery, client));
  $('sign-out').addEventListener('click', () => {
    show('signed-in', false);
    show('signed-out', true);
  });
  show('signed-out', true);
  const session = await parseHash(discovery, client);
  if (session) {
    const [contacts, userinfo] = await Promise.all([callApi(session.accessToken), callUserinfo(discovery, session.accessToken)]);
    render(session, contacts, userinfo);
  }
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
