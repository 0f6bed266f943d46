// `npm run hash-password`: read a password on standard input, print the scrypt hash that
// `users[].password` accepts. Reading stdin keeps the password out of the shell history.
import { text } from 'node:stream/consumers';

import { hashPassword } from './provider/accounts.ts';

const password = (await text(process.stdin)).replace(/\r?\n$/, '');
if (password.length < 8) {
  process.stderr.write('hash-password: give a password of at least 8 characters on standard input\n');
  process.exit(1);
}
process.stdout.write(`${await hashPassword(password)}\n`);
