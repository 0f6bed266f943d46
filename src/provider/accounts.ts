// Accounts for the login page, from `users` in the configuration. Passwords are either given as
// is (development) or as a scrypt hash: scrypt$N$r$p$salt$hash with base64url salt and hash.
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

import { parseScryptHash, SCRYPT_PREFIX } from '../config.ts';
import type { ScryptHash, UserConfig } from '../config.ts';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export type Account = {
  sub: string;
  email: string;
  email_verified: boolean;
  name: string | undefined;
  /** `admin`: may use the Dashboard. */
  roles: readonly string[];
};

/** OIDC scopes and the claims they release, as Auth0 does. */
export const OIDC_CLAIMS = {
  openid: ['sub'],
  profile: ['name', 'nickname', 'updated_at'],
  email: ['email', 'email_verified'],
};

/** The claims the issuer releases about an account (the scopes in OIDC_CLAIMS pick among them). */
export function accountClaims(account: Account): { sub: string; [claim: string]: unknown } {
  return { sub: account.sub, email: account.email, email_verified: account.email_verified, name: account.name, nickname: account.email.split('@')[0] };
}

export type Accounts = {
  /** The account for these credentials, or undefined; never says which part was wrong. */
  authenticate(email: string, password: string): Promise<Account | undefined>;
  find(sub: string): Account | undefined;
};

const DEFAULT_COST = { N: 16384, r: 8, p: 1 };

/** `scrypt$N$r$p$salt$hash`, the format `users[].password` accepts. */
export async function hashPassword(password: string, cost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, { ...cost, maxmem: 256 * cost.N * cost.r });
  return [SCRYPT_PREFIX.slice(0, -1), cost.N, cost.r, cost.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

type Verifier = (given: string) => Promise<boolean>;

function scryptWith(given: string, cost: { N: number; r: number; p: number }, salt: Buffer, keylen: number): Promise<Buffer> {
  return scrypt(given, salt, keylen, { ...cost, maxmem: 256 * cost.N * cost.r });
}

function hashVerifier(stored: ScryptHash): Verifier {
  return async (given) => timingSafeEqual(await scryptWith(given, stored, stored.salt, stored.hash.length), stored.hash);
}

/**
 * A password given as is still costs one scrypt per attempt, like a hashed one and like an
 * unknown email (the decoy): a cheap comparison here would tell which emails exist by timing.
 * The stored side is hashed once, on first use, with a salt of this process's own.
 */
function plaintextVerifier(stored: string): Verifier {
  const salt = randomBytes(16);
  let expected: Promise<Buffer> | undefined;
  return async (given) => {
    expected ??= scryptWith(stored, DEFAULT_COST, salt, 32);
    const [want, got] = await Promise.all([expected, scryptWith(given, DEFAULT_COST, salt, 32)]);
    return timingSafeEqual(got, want);
  };
}

function verifierFor(stored: string): Verifier {
  if (!stored.startsWith(SCRYPT_PREFIX)) return plaintextVerifier(stored);
  const parsed = parseScryptHash(stored);
  // parseConfig refuses a malformed hash; users built around it get a clear error, never a 500 at login.
  if (typeof parsed === 'string') throw new Error(`invalid password hash: ${parsed}`);
  return hashVerifier(parsed);
}

/** A stable subject for a user without an explicit `sub`: Auth0's `auth0|<id>` shape. */
function subjectFor(user: UserConfig): string {
  return user.sub ?? `auth0|${createHash('sha256').update(user.email.toLowerCase()).digest('hex').slice(0, 24)}`;
}

export function createAccounts(users: readonly UserConfig[]): Accounts {
  const byEmail = new Map<string, { account: Account; verify: Verifier }>();
  const bySub = new Map<string, Account>();
  for (const user of users) {
    const account: Account = { sub: subjectFor(user), email: user.email, email_verified: user.email_verified, name: user.name, roles: user.roles };
    byEmail.set(user.email.toLowerCase(), { account, verify: verifierFor(user.password) });
    bySub.set(account.sub, account);
  }
  // Unknown emails still pay for one hash check, so timing does not reveal which emails exist.
  const decoy = hashVerifier({ ...DEFAULT_COST, salt: randomBytes(16), hash: randomBytes(32) });

  return {
    async authenticate(email, password) {
      const entry = byEmail.get(email.trim().toLowerCase());
      const ok = await (entry?.verify ?? decoy)(password);
      return ok && entry ? entry.account : undefined;
    },
    find(sub) {
      return bySub.get(sub);
    },
  };
}
