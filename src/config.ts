// Configuration: one typed object, built from config/default.yaml, then the file named by
// CONFIG_FILE, then environment overrides; validated once, every problem listed by its path.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { applySecretFiles } from './secret_files.ts';

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../config/default.yaml', import.meta.url));

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const absoluteUri = z.string().refine((value) => {
  try {
    return new URL(value).protocol.length > 1;
  } catch {
    return false;
  }
}, 'must be an absolute URI');

const httpUrl = z.string().refine((value) => {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'must be an http(s) URL');

/** A browser origin, `scheme://host[:port]`, nothing after it (Auth0's web_origins, allowed_origins). */
export function isWebOrigin(value: string): boolean {
  const url = URL.parse(value);
  return url !== null && (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value.replace(/\/$/, '').toLowerCase();
}

const webOrigin = z.string().refine(isWebOrigin, 'must be an origin: http(s)://host[:port], without a path');

const scopeName = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token (no spaces or quotes)');

export const SCRYPT_PREFIX = 'scrypt$';

export type ScryptHash = { N: number; r: number; p: number; salt: Buffer; hash: Buffer };

/** Node's scrypt needs 128·N·r bytes; more than this is a typo, not a cost anyone wants at login. */
const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024;

function base64urlBytes(text: string | undefined, min: number, max: number): Buffer | undefined {
  if (text === undefined || !/^[A-Za-z0-9_-]+$/.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.length >= min && bytes.length <= max ? bytes : undefined;
}

/**
 * `scrypt$N$r$p$salt$hash` (N a power of two, salt and hash base64url), or a message saying what
 * is wrong: checked once at start, so a bad hash is a config error and never a 500 at login.
 */
export function parseScryptHash(stored: string): ScryptHash | string {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== SCRYPT_PREFIX.slice(0, -1)) return 'a scrypt hash has the form scrypt$N$r$p$salt$hash (see npm run hash-password)';
  const [, n, r, p, salt, hash] = parts;
  const integer = (text: string | undefined, max: number) => (text !== undefined && /^[1-9]\d{0,9}$/.test(text) && Number(text) <= max ? Number(text) : undefined);
  const N = integer(n, 2 ** 30);
  if (N === undefined || N < 2 || (N & (N - 1)) !== 0) return 'the scrypt N must be a power of two, at least 2';
  const R = integer(r, 64);
  if (R === undefined) return 'the scrypt r must be an integer from 1 to 64';
  const P = integer(p, 16);
  if (P === undefined) return 'the scrypt p must be an integer from 1 to 16';
  if (128 * N * R > SCRYPT_MAX_MEMORY) return `the scrypt N and r need more than ${SCRYPT_MAX_MEMORY / 1024 / 1024} MiB (128·N·r bytes)`;
  const saltBytes = base64urlBytes(salt, 8, 64);
  if (!saltBytes) return 'the scrypt salt must be base64url of 8 to 64 bytes';
  const hashBytes = base64urlBytes(hash, 16, 64);
  if (!hashBytes) return 'the scrypt hash must be base64url of 16 to 64 bytes';
  return { N, r: R, p: P, salt: saltBytes, hash: hashBytes };
}

const apiSchema = z.strictObject({
  identifier: absoluteUri,
  name: z.string().min(1).max(200),
  scopes: z.array(scopeName).default([]),
  token_lifetime: z.number().int().min(60).max(2_592_000).default(7200),
});

const clientSchema = z.strictObject({
  client_id: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ ~ -'),
  client_secret: z.string().min(16, 'must be at least 16 characters').optional(),
  name: z.string().min(1).max(200),
  grant_types: z.array(z.enum(['client_credentials', 'authorization_code', 'implicit', 'refresh_token'])).min(1).default(['client_credentials']),
  response_types: z.array(z.enum(['code', 'id_token', 'id_token token', 'token', 'code id_token', 'code token', 'code id_token token', 'none'])).default([]),
  redirect_uris: z.array(httpUrl).default([]),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
  // Auth0's names: browser origins allowed at /oauth/token and /oauth/revoke (CORS), origins that
  // may frame silent sign-in (web_message), and where /v2/logout may return to.
  web_origins: z.array(webOrigin).default([]),
  allowed_origins: z.array(webOrigin).default([]),
  allowed_logout_urls: z.array(httpUrl).default([]),
});

const clientGrantSchema = z.strictObject({
  client_id: z.string().min(1),
  // The Management API may be named by its path alone, so the file holds when the issuer changes.
  audience: z.union([z.literal('/api/v2/'), absoluteUri]),
  scope: z.array(scopeName).default([]),
});

const userSchema = z.strictObject({
  email: z.email(),
  password: z.string().min(8, 'must be at least 8 characters'),
  name: z.string().max(200).optional(),
  sub: z.string().min(1).max(255).optional(),
  email_verified: z.boolean().default(true),
  /** `admin` lets the user into the Dashboard. */
  roles: z.array(z.enum(['admin'])).default([]),
});

const redisUrl = z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL');
// host:port, or a bare host for the default port 26379; IPv6 in brackets.
const sentinelAddress = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+)(:\d{1,5})?$/, 'must be host:port');

const storageSchema = z.strictObject({
  sqlite_file: z.string().min(1).default('.data/issuer.sqlite'),
  redis_url: redisUrl.nullish(),
  redis_cluster: z.array(redisUrl).min(1, 'must list at least one seed node').nullish(),
  redis_sentinel: z.strictObject({
    name: z.string().min(1),
    sentinels: z.array(sentinelAddress).min(1, 'must list at least one sentinel'),
    password: z.string().min(1).nullish(),
    sentinel_password: z.string().min(1).nullish(),
  }).nullish(),
  redis_prefix: z.string().max(64).default('issuer:'),
  redis_wait_replicas: z.number().int().min(0).max(16).default(0),
  redis_wait_timeout_ms: z.number().int().min(1).max(500).default(250),
}).superRefine((storage, ctx) => {
  const chosen = (['redis_url', 'redis_cluster', 'redis_sentinel'] as const).filter((key) => storage[key]);
  if (chosen.length > 1) ctx.addIssue({ code: 'custom', message: `set at most one of redis_url, redis_cluster and redis_sentinel (found ${chosen.join(' and ')})` });
  if (storage.redis_wait_replicas > 0 && storage.redis_cluster) ctx.addIssue({ code: 'custom', path: ['redis_wait_replicas'], message: 'is not supported with redis_cluster (WAIT must reach the node that took the write); set 0' });
  if (storage.redis_wait_replicas > 0 && chosen.length === 0) ctx.addIssue({ code: 'custom', path: ['redis_wait_replicas'], message: 'applies to Redis only; set redis_url or redis_sentinel' });
});

const configSchema = z.strictObject({
  env: z.enum(['development', 'production', 'test']).default('development'),
  issuer: httpUrl.refine((value) => value.endsWith('/'), 'must end with a slash, like Auth0 issuers (http://localhost:3000/)'),
  port: z.coerce.number().int().min(0).max(65535),
  web_concurrency: z.number().int().min(1).max(64).default(1),
  host: z.string().min(1).default('0.0.0.0'),
  proxy: z.boolean().default(false),
  proxy_hops: z.number().int().min(1).max(16).default(1),
  storage: storageSchema,
  keys: z.strictObject({
    jwks_file: z.string().min(1).nullish(),
    refresh_ms: z.number().int().min(100).max(60_000).default(2500),
  }).default({ refresh_ms: 2500 }),
  cookies: z.strictObject({
    keys: z.array(z.string().min(32, 'must be at least 32 characters')).nullish(),
    // Read by loadConfig (src/secret_files.ts) into `keys`; kept here so the schema lists it.
    keys_file: z.string().min(1).nullish(),
  }).default({}),
  client_secrets_file: z.string().min(1).nullish(),
  shutdown: z.strictObject({
    // null: 5 s in production (a load balancer needs that long to stop sending), 0 otherwise.
    drain_seconds: z.number().min(0).max(300).nullish(),
    grace_seconds: z.number().min(0).max(300).default(10),
  }).default({ grace_seconds: 10 }),
  metrics: z.strictObject({
    port: z.number().int().min(0).max(65535).nullish(),
    host: z.string().min(1).default('127.0.0.1'),
  }).default({ host: '127.0.0.1' }),
  tenant: z.strictObject({
    flags: z.strictObject({
      enable_dynamic_client_registration: z.boolean().default(false),
      enable_client_id_metadata_document: z.boolean().default(false),
    }).default({ enable_dynamic_client_registration: false, enable_client_id_metadata_document: false }),
  }).default({ flags: { enable_dynamic_client_registration: false, enable_client_id_metadata_document: false } }),
  apis: z.array(apiSchema).default([]),
  clients: z.array(clientSchema).default([]),
  client_grants: z.array(clientGrantSchema).default([]),
  users: z.array(userSchema).default([]),
  // Auth0's refresh token expiration: absolute 30 days, idle (unused) 15 days by default.
  refresh_tokens: z.strictObject({
    token_lifetime: z.number().int().min(60).max(31_557_600).default(2_592_000),
    idle_token_lifetime: z.number().int().min(60).max(31_557_600).default(1_296_000),
  }).default({ token_lifetime: 2_592_000, idle_token_lifetime: 1_296_000 }),
  registration: z.strictObject({
    rate_limit: z.strictObject({
      per_second: z.number().positive().max(100_000).default(5),
      burst: z.number().int().min(1).max(100_000).default(5),
    }).default({ per_second: 5, burst: 5 }),
    max_clients: z.number().int().min(0).default(10_000),
    max_body_bytes: z.number().int().min(1024).max(1_048_576).default(32_768),
  }).default({ rate_limit: { per_second: 5, burst: 5 }, max_clients: 10_000, max_body_bytes: 32_768 }),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).default({ level: 'info' }),
  dashboard: z.strictObject({
    // Unset: on outside production, off in production.
    enabled: z.boolean().nullish(),
  }).default({}),
});

export type Config = z.infer<typeof configSchema>;
export type ApiConfig = Config['apis'][number];
export type ClientConfig = Config['clients'][number];
export type UserConfig = Config['users'][number];

/** Environment variables that override a config path (they mirror the path's last segment). */
export const ENV_OVERRIDES: Readonly<Record<string, { path: string[]; type: 'string' | 'number' | 'boolean' | 'list' }>> = {
  NODE_ENV: { path: ['env'], type: 'string' },
  ISSUER: { path: ['issuer'], type: 'string' },
  PORT: { path: ['port'], type: 'number' },
  HOST: { path: ['host'], type: 'string' },
  PROXY: { path: ['proxy'], type: 'boolean' },
  PROXY_HOPS: { path: ['proxy_hops'], type: 'number' },
  SQLITE_FILE: { path: ['storage', 'sqlite_file'], type: 'string' },
  REDIS_URL: { path: ['storage', 'redis_url'], type: 'string' },
  REDIS_CLUSTER: { path: ['storage', 'redis_cluster'], type: 'list' },
  REDIS_SENTINEL_NAME: { path: ['storage', 'redis_sentinel', 'name'], type: 'string' },
  REDIS_SENTINELS: { path: ['storage', 'redis_sentinel', 'sentinels'], type: 'list' },
  REDIS_PREFIX: { path: ['storage', 'redis_prefix'], type: 'string' },
  REDIS_WAIT_REPLICAS: { path: ['storage', 'redis_wait_replicas'], type: 'number' },
  WEB_CONCURRENCY: { path: ['web_concurrency'], type: 'number' },
  JWKS_FILE: { path: ['keys', 'jwks_file'], type: 'string' },
  KEYS_REFRESH_MS: { path: ['keys', 'refresh_ms'], type: 'number' },
  LOG_LEVEL: { path: ['log', 'level'], type: 'string' },
  DASHBOARD_ENABLED: { path: ['dashboard', 'enabled'], type: 'boolean' },
  COOKIE_KEYS_FILE: { path: ['cookies', 'keys_file'], type: 'string' },
  CLIENT_SECRETS_FILE: { path: ['client_secrets_file'], type: 'string' },
  SHUTDOWN_DRAIN_SECONDS: { path: ['shutdown', 'drain_seconds'], type: 'number' },
  SHUTDOWN_GRACE_SECONDS: { path: ['shutdown', 'grace_seconds'], type: 'number' },
  METRICS_PORT: { path: ['metrics', 'port'], type: 'number' },
  METRICS_HOST: { path: ['metrics', 'host'], type: 'string' },
};

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Maps merge key by key; anything else (lists included) in `over` replaces `base`. */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (!isTree(base) || !isTree(over)) return over === undefined ? base : over;
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = mergeConfig(base[key], value);
  return out;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  }
  return out || '(root)';
}

/** Parse a YAML document; a syntax error or a non-map document is a ConfigError naming the file. */
export function parseConfigYaml(text: string, source: string): Tree {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new ConfigError([`${source}: not valid YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (!isTree(doc)) throw new ConfigError([`${source}: must be a YAML map at the top level`]);
  return doc;
}

function envOverrides(env: NodeJS.ProcessEnv, problems: string[]): Tree {
  const out: Tree = {};
  for (const [name, { path, type }] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (type === 'number') {
      value = Number(raw);
      if (!Number.isFinite(value)) problems.push(`${name}: must be a number`);
    } else if (type === 'list') {
      value = raw.split(',').map((item) => item.trim()).filter(Boolean);
    } else if (type === 'boolean') {
      if (!['true', 'false', '1', '0'].includes(raw)) problems.push(`${name}: must be true or false`);
      value = raw === 'true' || raw === '1';
    }
    let node = out;
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Tree;
    node[path.at(-1)!] = value;
  }
  return out;
}

// Values shipped in config/default.yaml so that `npm start` works on a laptop; production refuses them.
const EXAMPLE_SECRETS = new Set(['alice-password-1', 'bob-password-1', 'a-long-random-secret']);

function productionProblems(config: Config): string[] {
  const problems: string[] = [];
  const issuer = new URL(config.issuer);
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  if (issuer.protocol === 'http:' && !local) problems.push('issuer: production requires an https issuer (http is only for localhost)');
  if (!config.cookies.keys?.length) problems.push('cookies.keys: production requires cookie keys set in the configuration (generated keys are for development)');
  config.users.forEach((user, i) => {
    if (EXAMPLE_SECRETS.has(user.password)) problems.push(`users[${i}].password: the example password is refused in production`);
  });
  config.clients.forEach((client, i) => {
    if (client.client_secret && EXAMPLE_SECRETS.has(client.client_secret)) problems.push(`clients[${i}].client_secret: the example secret is refused in production`);
  });
  return problems;
}

function crossProblems(config: Config): string[] {
  const problems: string[] = [];
  const clientIds = new Set<string>();
  config.clients.forEach((client, i) => {
    if (clientIds.has(client.client_id)) problems.push(`clients[${i}].client_id: duplicate client_id ${client.client_id}`);
    clientIds.add(client.client_id);
    const auth = client.token_endpoint_auth_method ?? 'client_secret_basic';
    if (auth !== 'none' && !client.client_secret) problems.push(`clients[${i}].client_secret: required unless token_endpoint_auth_method is none`);
    if (client.grant_types.some((g) => g === 'implicit' || g === 'authorization_code') && client.redirect_uris.length === 0) {
      problems.push(`clients[${i}].redirect_uris: required for implicit and authorization_code clients`);
    }
  });
  if (dashboardEnabled(config) && clientIds.has(DASHBOARD_CLIENT_ID)) {
    problems.push(`clients: client_id ${DASHBOARD_CLIENT_ID} is the Dashboard's own; choose another (or set dashboard.enabled: false)`);
  }
  if (config.refresh_tokens.idle_token_lifetime > config.refresh_tokens.token_lifetime) {
    problems.push('refresh_tokens.idle_token_lifetime: must not exceed refresh_tokens.token_lifetime');
  }
  const identifiers = new Set<string>();
  const managementAudience = new URL('api/v2/', config.issuer).href;
  // The issuer answers these audiences itself (Management API tokens, Auth0's userinfo audience).
  const reserved = new Set([managementAudience, new URL('userinfo', config.issuer).href]);
  config.apis.forEach((api, i) => {
    if (identifiers.has(api.identifier)) problems.push(`apis[${i}].identifier: duplicate identifier ${api.identifier}`);
    identifiers.add(api.identifier);
    if (reserved.has(new URL(api.identifier).href)) problems.push(`apis[${i}].identifier: ${api.identifier} is reserved by the issuer`);
  });
  config.client_grants.forEach((grant, i) => {
    if (!clientIds.has(grant.client_id)) problems.push(`client_grants[${i}].client_id: no client ${grant.client_id} in clients`);
    if (grant.audience !== managementAudience && !identifiers.has(grant.audience)) {
      problems.push(`client_grants[${i}].audience: must be an identifier from apis or the Management API ${managementAudience}`);
    }
  });
  const emails = new Set<string>();
  config.users.forEach((user, i) => {
    const email = user.email.toLowerCase();
    if (emails.has(email)) problems.push(`users[${i}].email: duplicate email ${user.email}`);
    emails.add(email);
    const hash = user.password.startsWith(SCRYPT_PREFIX) ? parseScryptHash(user.password) : undefined;
    if (typeof hash === 'string') problems.push(`users[${i}].password: ${hash}`);
  });
  return problems;
}

/** Validate a merged tree into a Config; throws ConfigError listing every problem by path. */
export function parseConfig(tree: unknown): Config {
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`));
  }
  const config = result.data;
  for (const grant of config.client_grants) grant.audience = new URL(grant.audience, config.issuer).href;
  const problems = [...crossProblems(config), ...(config.env === 'production' ? productionProblems(config) : [])];
  if (problems.length) throw new ConfigError(problems);
  return config;
}

function readFile(path: string, label: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`${label}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
}

/** Load the configuration: default file, then CONFIG_FILE, then the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, defaultFile = DEFAULT_CONFIG_FILE): Config {
  let tree: unknown = parseConfigYaml(readFile(defaultFile, 'default configuration'), defaultFile);
  if (env.CONFIG_FILE) tree = mergeConfig(tree, parseConfigYaml(readFile(env.CONFIG_FILE, 'CONFIG_FILE'), env.CONFIG_FILE));
  const problems: string[] = [];
  tree = mergeConfig(tree, envOverrides(env, problems));
  if (problems.length) throw new ConfigError(problems);
  const secrets = applySecretFiles(tree);
  if (secrets.problems.length) throw new ConfigError(secrets.problems);
  return parseConfig(secrets.tree);
}

/** Seconds the issuer keeps serving after SIGTERM before it stops listening (docs/production.md). */
export function drainSeconds(config: Pick<Config, 'env' | 'shutdown'>): number {
  return config.shutdown.drain_seconds ?? (config.env === 'production' ? 5 : 0);
}

/** The client id the Dashboard signs in with (src/dashboard/). */
export const DASHBOARD_CLIENT_ID = 'dashboard';

/** The Dashboard is on by default outside production; in production only when enabled. */
export function dashboardEnabled(config: Pick<Config, 'env' | 'dashboard'>): boolean {
  return config.dashboard.enabled ?? config.env !== 'production';
}

/** Clients ops declared (the file, and the Dashboard's own): first-party, no consent page. */
export function firstPartyClientIds(config: Pick<Config, 'env' | 'dashboard' | 'clients'>): ReadonlySet<string> {
  return new Set([...config.clients.map((client) => client.client_id), ...(dashboardEnabled(config) ? [DASHBOARD_CLIENT_ID] : [])]);
}

/** The Management API's audience, `<issuer>api/v2/`. */
export function managementAudience(config: Pick<Config, 'issuer'>): string {
  return new URL('api/v2/', config.issuer).href;
}
