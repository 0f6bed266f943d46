// The example single-page apps' static server: the implicit-flow page at /, the Auth0 SPA SDK
// page at /sdk/ (examples/spa-sdk/), their script and style, the settings they read
// (/config.json), and the browser builds of jose and @auth0/auth0-spa-js from node_modules (no CDN:
// the pages load nothing from elsewhere but what they call, the issuer and the API).
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import Koa from 'koa';

export type SpaSettings = {
  /** The issuer's URL, with its trailing slash. */
  issuer: string;
  /** The API's base URL; the page calls <api>api/contacts. */
  api: string;
  /** The API identifier asked for with `audience` (an `apis` entry of the issuer). */
  audience: string;
  scope: string;
};

const HERE = dirname(fileURLToPath(import.meta.url));
// jose's "browser" build: plain ES modules over WebCrypto.
const JOSE_DIR = dirname(fileURLToPath(import.meta.resolve('jose')));
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: join(HERE, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: join(HERE, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: join(HERE, 'style.css'), type: 'text/css; charset=utf-8' },
  '/sdk/': { file: join(HERE, '..', 'spa-sdk', 'index.html'), type: 'text/html; charset=utf-8' },
  '/sdk/app.js': { file: join(HERE, '..', 'spa-sdk', 'app.js'), type: 'text/javascript; charset=utf-8' },
};
const VENDOR = '/vendor/jose/';
// The SDK's ES module build and the Web Worker that keeps its refresh token (workerUrl).
const SDK_DIR = join(dirname(fileURLToPath(import.meta.resolve('@auth0/auth0-spa-js/package.json'))), 'dist');
const SDK_FILES: Record<string, string> = {
  '/vendor/auth0-spa-js/auth0-spa-js.production.esm.js': join(SDK_DIR, 'auth0-spa-js.production.esm.js'),
  '/vendor/auth0-spa-js/auth0-spa-js.worker.production.js': join(SDK_DIR, 'auth0-spa-js.worker.production.js'),
};

/** A file of jose's browser build, or undefined for anything else (no way out of its folder). */
function vendorFile(path: string): string | undefined {
  const relative = path.slice(VENDOR.length);
  if (!/^[A-Za-z0-9_/.-]+$/.test(relative) || relative.includes('..') || extname(relative) !== '.js') return undefined;
  const file = resolve(JOSE_DIR, relative);
  return file.startsWith(JOSE_DIR + sep) ? file : undefined;
}

export function createSpaApp(settings: SpaSettings): Koa {
  const issuerOrigin = new URL(settings.issuer).origin;
  const connect = [...new Set([issuerOrigin, new URL(settings.api).origin])].join(' ');
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    ctx.set('Content-Security-Policy', `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ${connect}; frame-src ${issuerOrigin}; worker-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  app.use(async (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      return;
    }
    if (ctx.path === '/favicon.ico') {
      ctx.status = 204;
      return;
    }
    if (ctx.path === '/config.json') {
      ctx.body = settings;
      return;
    }
    const known = FILES[ctx.path];
    const file = known?.file ?? SDK_FILES[ctx.path] ?? (ctx.path.startsWith(VENDOR) ? vendorFile(ctx.path) : undefined);
    if (!file) {
      ctx.status = 404;
      ctx.body = 'not found';
      return;
    }
    try {
      ctx.body = await readFile(file);
      ctx.type = known?.type ?? 'text/javascript; charset=utf-8';
    } catch {
      ctx.status = 404;
      ctx.body = 'not found';
    }
  });
  return app;
}
