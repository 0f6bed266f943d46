// `npm run example`: the single-page app and the contacts API, against an issuer already running
// (CONFIG_FILE=examples/issuer.yaml npm start, which turns registration on).
//   ISSUER    the issuer's URL                    default http://localhost:3000/
//   AUDIENCE  the API identifier (an apis entry)  default https://contacts.example.com/
//   SPA_PORT  the app's port                      default 3001
//   API_PORT  the API's port                      default 3002
//   HOST      where both listen                   default localhost
import { startExample } from './servers.ts';

const issuer = process.env.ISSUER ?? 'http://localhost:3000/';
const audience = process.env.AUDIENCE ?? 'https://contacts.example.com/';
const host = process.env.HOST ?? 'localhost';

if (!issuer.endsWith('/')) {
  console.error(`ISSUER must end with a slash, like the issuer's identifier (${issuer}/)`);
  process.exit(1);
}

try {
  const discovery = (await (await fetch(new URL('.well-known/openid-configuration', issuer), { signal: AbortSignal.timeout(3000) })).json()) as Record<string, unknown>;
  if (!discovery.registration_endpoint) {
    console.warn('warning: the issuer does not offer registration; restart it with CONFIG_FILE=examples/issuer.yaml');
  }
} catch {
  console.warn(`warning: no issuer answers at ${issuer}; start it first: CONFIG_FILE=examples/issuer.yaml npm start`);
}

const example = await startExample({ issuer, audience, host, spaPort: Number(process.env.SPA_PORT ?? 3001), apiPort: Number(process.env.API_PORT ?? 3002) });
console.log(`example app:  ${example.spaUrl}  (implicit flow; open it in a browser)`);
console.log(`SDK example:  ${example.spaUrl}sdk/  (Auth0's SPA SDK: code flow with PKCE, silent sign-in, refresh tokens)`);
console.log(`example API:  ${example.apiUrl}api/contacts`);
console.log(`issuer:       ${issuer}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void example.close().then(() => process.exit(0));
  });
}
