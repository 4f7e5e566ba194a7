import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressesOf, destinationsOf } from '../../../xds-server/src/policy/principals.js';
import { IdentityIndex } from '../../../xds-server/src/inventory/identity.js';
import { canonicalCidr, canonicalIp, parseCidr } from '../../../xds-server/src/policy/ip.js';
import { EMPTY_INVENTORY } from '../../../xds-server/src/model/index.js';
import { inventory } from './fixtures.js';

test('a service is each current workload address as a host prefix; an external is its CIDR', () => {
  assert.deepEqual(addressesOf({ service: 'shop/api' }, inventory), [
    '10.213.0.21/32',
    '10.213.0.22/32',
    'fd00::22/128',
  ]);
  assert.deepEqual(addressesOf({ service: 'shop/web' }, inventory), ['10.213.0.11/32', '10.213.0.12/32']);
  assert.deepEqual(addressesOf({ cidr: '203.0.113.0/24', sni: 'x' }, inventory), ['203.0.113.0/24']);
  assert.deepEqual(addressesOf({ service: 'gone/away' }, inventory), []);
  assert.deepEqual(addressesOf({ service: 'shop/api' }, EMPTY_INVENTORY), []);
});

test('destinations of a service include its VIP', () => {
  assert.deepEqual(destinationsOf({ service: 'data/db' }, inventory), ['10.213.0.252/32', '10.213.0.31/32']);
  assert.deepEqual(destinationsOf({ cidr: '203.0.113.10/32' }, inventory), ['203.0.113.10/32']);
});

test('replicas coming and going change the principals', () => {
  const scaled = {
    ...inventory,
    workloads: [
      ...inventory.workloads,
      { name: 'web-3', service: 'shop/web', addresses: ['10.213.0.13'], ports: [8080] },
    ],
  };
  assert.deepEqual(addressesOf({ service: 'shop/web' }, scaled), [
    '10.213.0.11/32',
    '10.213.0.12/32',
    '10.213.0.13/32',
  ]);
});

test('the identity index says who is at an address: workload, VIP, named external, unknown', () => {
  const ownerOf = (ip: string, inv: typeof inventory) => IdentityIndex.build(inv).ownerOf(ip);
  assert.deepEqual(ownerOf('10.213.0.12', inventory), { peer: { service: 'shop/web' }, workload: 'web-2' });
  assert.deepEqual(ownerOf('FD00:0::22', inventory), { peer: { service: 'shop/api' }, workload: 'api-2' });
  assert.deepEqual(ownerOf('10.213.0.252', inventory), { peer: { service: 'data/db' }, vip: true });
  assert.deepEqual(ownerOf('203.0.113.10', inventory), { peer: { cidr: '203.0.113.10/32' }, externalName: 'payments' });
  assert.deepEqual(ownerOf('198.51.100.1', inventory), { peer: { cidr: '198.51.100.1/32' } });
});

test('ip: canonical forms and CIDR checks', () => {
  assert.equal(canonicalIp('2001:0DB8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
  assert.equal(canonicalIp('::'), '::');
  assert.equal(canonicalIp('::ffff:10.0.0.1'), '::ffff:a00:1');
  assert.equal(canonicalIp('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8');
  assert.equal(canonicalIp('1::2::3'), undefined);
  assert.equal(canonicalIp('01.2.3.4'), undefined);
  assert.equal(canonicalIp('1.2.3'), undefined);
  assert.equal(canonicalCidr('0.0.0.0/0'), '0.0.0.0/0');
  assert.equal(canonicalCidr('fd00::/8'), 'fd00::/8');
  assert.deepEqual(parseCidr('fd00::1/8'), { error: '"fd00::1/8" has host bits set (did you mean fd00::/8?)' });
  assert.deepEqual(parseCidr('10.0.0.0/-1'), { error: '"10.0.0.0/-1" is not a CIDR: prefix length must be 0-32' });
});
