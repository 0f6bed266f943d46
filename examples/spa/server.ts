// The example single-page app's static server: the page, its script and style, the settings the
// page reads (/config.json), and jose's browser build from node_modules (no CDN: the page loads
// nothing from elsewhere but what it calls, the issuer and the API).
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
};
const VENDOR = '/vendor/jose/';

/** A file of jose's browser build, or undefined for anything else (no way out of its folder). */
function vendorFile(path: string): string | undefined {
  const relative = path.slice(VENDOR.length);
  if (!/^[A-Za-z0-9_/.-]+$/.test(relative) || relative.includes('..') || extname(relative) !== '.js') return undefined;
  const file = resolve(JOSE_DIR, relative);
  return file.startsWith(JOSE_DIR + sep) ? file : undefined;
}

export function createSpaApp(settings: SpaSettings): Koa {
  const connect = [...new Set([new URL(settings.issuer).origin, new URL(settings.api).origin])].join(' ');
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    ctx.set('Content-Security-Policy', `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ${connect}; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
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
    const file = known?.file ?? (ctx.path.startsWith(VENDOR) ? vendorFile(ctx.path) : undefined);
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
