// Accounts for the login page, from `users` in the configuration. Passwords are either given as
// is (development) or as a scrypt hash: scrypt$N$r$p$salt$hash with base64url salt and hash.
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

import { SCRYPT_PREFIX } from '../config.ts';
import type { UserConfig } from '../config.ts';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export type Account = {
  sub: string;
  email: string;
  email_verified: boolean;
  name: string | undefined;
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

async function verifyPassword(stored: string, given: string): Promise<boolean> {
  if (!stored.startsWith(SCRYPT_PREFIX)) {
    // Compare digests so that the comparison takes the same time whatever the lengths.
    const a = createHash('sha256').update(stored).digest();
    const b = createHash('sha256').update(given).digest();
    return timingSafeEqual(a, b);
  }
  const [, n, r, p, salt, hash] = stored.split('$');
  const expected = Buffer.from(hash ?? '', 'base64url');
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  const actual = await scrypt(given, Buffer.from(salt ?? '', 'base64url'), expected.length, { ...cost, maxmem: 256 * cost.N * cost.r });
  return timingSafeEqual(actual, expected);
}

/** A stable subject for a user without an explicit `sub`: Auth0's `auth0|<id>` shape. */
function subjectFor(user: UserConfig): string {
  return user.sub ?? `auth0|${createHash('sha256').update(user.email.toLowerCase()).digest('hex').slice(0, 24)}`;
}

export function createAccounts(users: readonly UserConfig[]): Accounts {
  const byEmail = new Map<string, { account: Account; password: string }>();
  const bySub = new Map<string, Account>();
  for (const user of users) {
    const account: Account = { sub: subjectFor(user), email: user.email, email_verified: user.email_verified, name: user.name };
    byEmail.set(user.email.toLowerCase(), { account, password: user.password });
    bySub.set(account.sub, account);
  }
  // Unknown emails still pay for one hash check, so timing does not reveal which emails exist.
  const decoy = `${SCRYPT_PREFIX}16384$8$1$${randomBytes(16).toString('base64url')}$${randomBytes(32).toString('base64url')}`;

  return {
    async authenticate(email, password) {
      const entry = byEmail.get(email.trim().toLowerCase());
      const ok = await verifyPassword(entry?.password ?? decoy, password);
      return ok && entry ? entry.account : undefined;
    },
    find(sub) {
      return bySub.get(sub);
    },
  };
}
