// The registration rate limit's key for a client address: IPv6 counts by its /64.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { rateLimitKey } from '../src/registration/rate_limit.ts';

const cases: [string, string][] = [
  ['203.0.113.7', '203.0.113.7'],
  ['::ffff:203.0.113.7', '203.0.113.7'],
  ['::FFFF:cb00:7107', '203.0.113.7'],
  ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
  ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
  ['2001:DB8:1:2:3:4:5:6%eth0', '2001:db8:1:2::/64'],
  ['2001:db8::1', '2001:db8:0:0::/64'],
  ['2001:db8::1:2:3:4', '2001:db8:0:0::/64'],
  ['2001:db8:0:0:1::', '2001:db8:0:0::/64'],
  ['::1', '0:0:0:0::/64'],
  ['::', '0:0:0:0::/64'],
  ['fe80::1:2:3:4', 'fe80:0:0:0::/64'],
  ['1:2:3::4.5.6.7', '1:2:3:0::/64'],
  ['64:ff9b::198.51.100.1', '64:ff9b:0:0::/64'],
  ['not an address', 'not an address'],
];

for (const [ip, key] of cases) {
  test(`rateLimitKey(${JSON.stringify(ip)}) is ${key}`, () => {
    assert.equal(rateLimitKey(ip), key);
  });
}

test('two addresses in one /64 share a key; the next /64 does not', () => {
  assert.equal(rateLimitKey('2001:db8:aa:bb::1'), rateLimitKey('2001:db8:aa:bb:ffff:1:2:3'));
  assert.notEqual(rateLimitKey('2001:db8:aa:bb::1'), rateLimitKey('2001:db8:aa:bc::1'));
});
