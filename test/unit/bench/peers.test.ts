import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_BENCH_PEERS, benchPeerCidr, benchPeerRules, isBenchPeer } from '../../bench/peers.js';
import { parseCidr } from '../../../xds-server/src/policy/ip.js';

test('10,000 bench peers: distinct /32s inside 198.18.0.0/15, none the network address', () => {
  const rules = benchPeerRules(10_000, 'http', 8080);
  assert.equal(rules.length, 10_000);
  const cidrs = rules.map((r) => r.peer.cidr);
  assert.equal(new Set(cidrs).size, 10_000);
  for (const c of cidrs) {
    assert.match(c, /^198\.1[89]\.\d{1,3}\.\d{1,3}\/32$/);
    assert.ok(
      c
        .split('/')[0]!
        .split('.')
        .every((o) => Number(o) <= 255),
      c,
    );
    assert.ok('cidr' in parseCidr(c), `${c} parses as a CIDR`);
    assert.ok(isBenchPeer(c));
  }
  assert.deepEqual(cidrs.slice(0, 2), ['198.18.0.1/32', '198.18.0.2/32']);
  assert.equal(cidrs[254], '198.18.0.255/32');
  assert.equal(cidrs[255], '198.18.1.0/32');
  assert.ok(rules.every((r) => r.protocol === 'http' && r.port === 8080));
});

test('the range ends at 198.19.255.255; icmp rules carry no port; other addresses are not bench peers', () => {
  assert.equal(benchPeerCidr(MAX_BENCH_PEERS - 1), '198.19.255.255/32');
  assert.throws(() => benchPeerCidr(MAX_BENCH_PEERS), /out of range/);
  assert.throws(() => benchPeerCidr(-1), /out of range/);
  assert.equal('port' in benchPeerRules(1, 'icmp', undefined)[0]!, false);
  assert.equal(isBenchPeer('10.213.0.11/32'), false);
  assert.equal(isBenchPeer('198.20.0.1/32'), false);
});
