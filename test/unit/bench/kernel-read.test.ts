import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN_DIR } from '../../support/golden.js';
import {
  chainFallThrough,
  isVerdictRuleAdded,
  modeNotInForce,
  normElement,
  parseConntrackStat,
  parseNftListing,
  parseSnmp,
  replicaNotInForce,
  udpArrived,
} from '../../bench/kernel-read.js';

/** What the kernel point's compiler writes (the generator's layout). */
const GENERATED = readFileSync(join(GOLDEN_DIR, 'kernel', 'enforce-monitor.nft'), 'utf8');

/** What `nft list` prints back (nft 1.1's layout: tabs, no `;`, elements wrapped, names as given). */
const LISTED = `table inet nanoseg {
	map egress {
		type ipv4_addr : verdict
		elements = { 10.213.0.11 : jump egress/bench/nft-client, 10.213.0.12 : jump egress/bench/nft-server }
	}
	map ingress {
		type ipv4_addr : verdict
		elements = { 10.213.0.11 : jump ingress/bench/nft-client, 10.213.0.12 : jump ingress/bench/nft-server }
	}
	set egress/bench/nft-client/ports {
		type inet_proto . ipv4_addr . inet_service
		flags interval
		elements = { tcp . 10.213.0.12 . 8080, tcp . 10.213.0.23 . 8080,
			     udp . 10.213.0.12 . 9000, tcp . 10.213.255.1 . 8080 }
	}
	chain ingress/bench/nft-server {
		meta l4proto . ip saddr . th dport @ingress/bench/nft-server/ports return
		meta l4proto icmp ip saddr @ingress/bench/nft-server/icmp return
		log prefix "nsg deny ingress" group 15 drop
	}
	chain egress/bench/nft-server {
		meta l4proto . ip daddr . th dport @egress/bench/nft-server/ports return
		meta l4proto icmp ip daddr @egress/bench/nft-server/icmp return
		log prefix "nsg deny egress" group 15 drop
	}
}
table bridge nanoseg {
	set bound {
		type ifname . ipv4_addr
		elements = { "vh-cap-nft-c" . 10.213.0.11,
			     "vh-cap-nft-s2" . 10.213.0.23 }
	}
}
`;

test('elements are compared without quotes, /32 or layout', () => {
  assert.equal(normElement(' "vh-a" .  10.0.0.1/32 '), 'vh-a . 10.0.0.1');
  assert.equal(normElement('tcp . 10.0.0.0/24 . 80'), 'tcp . 10.0.0.0/24 . 80');
});

test("the generator's layout: sets, maps and chains with their elements and rules", () => {
  const l = parseNftListing(GENERATED);
  assert.deepEqual(l.sets.get('egress/shop/web/ports'), [
    'tcp . 10.213.0.31 . 5432',
    'tcp . 10.213.255.1 . 5432',
    'tcp . 203.0.113.10 . 443',
    'udp . 10.213.0.53 . 53',
  ]);
  assert.deepEqual(l.sets.get('ingress/shop/web/ports'), [], 'a set without elements');
  assert.ok(l.sets.get('egress')!.includes('10.213.0.12 : jump egress/shop/web'));
  assert.ok(l.sets.get('bound')!.includes('vh-web-1 . 10.213.0.11'));
  assert.equal(
    l.chains.get('egress/shop/web')!.length,
    9,
    'per family: ports, port ranges, icmp, icmp ranges; the log',
  );
  assert.equal(chainFallThrough(l.chains.get('egress/shop/web')!), 'drop');
  assert.equal(chainFallThrough(l.chains.get('egress/data/db')!), 'return');
  assert.equal(chainFallThrough(['ct state established,related accept']), undefined);
  // base chains: their hook line is not a rule
  assert.ok(l.chains.get('forward')!.every((r) => !r.startsWith('type ')));
});

test('a mode is in force only when both chains say it and every address jumps to them', () => {
  const l = parseNftListing(GENERATED);
  const web = ['10.213.0.11', '10.213.0.12'];
  assert.equal(modeNotInForce(l, 'shop/web', web, 'enforce'), undefined);
  assert.equal(modeNotInForce(l, 'data/db', ['10.213.0.31'], 'monitor'), undefined);
  assert.equal(modeNotInForce(l, 'shop/web', web, 'monitor'), 'chain egress/shop/web does not return yet');
  assert.equal(
    modeNotInForce(l, 'shop/web', [...web, '10.213.0.99'], 'enforce'),
    '10.213.0.99 not mapped to egress/shop/web',
  );
  assert.equal(modeNotInForce(l, 'shop/web', web, 'learn'), 'chain egress/shop/web still there');
  assert.equal(modeNotInForce(l, 'shop/cart', ['10.213.0.40'], 'learn'), undefined);
  assert.equal(modeNotInForce(l, 'shop/cart', ['10.213.0.40'], 'enforce'), 'no chain egress/shop/cart');
});

test("nft's own layout: wrapped elements, log options in nft's order", () => {
  const l = parseNftListing(LISTED);
  assert.deepEqual(l.sets.get('egress/bench/nft-client/ports'), [
    'tcp . 10.213.0.12 . 8080',
    'tcp . 10.213.0.23 . 8080',
    'udp . 10.213.0.12 . 9000',
    'tcp . 10.213.255.1 . 8080',
  ]);
  assert.deepEqual(l.sets.get('bound'), ['vh-cap-nft-c . 10.213.0.11', 'vh-cap-nft-s2 . 10.213.0.23']);
  assert.equal(chainFallThrough(l.chains.get('ingress/bench/nft-server')!), 'drop');
  assert.equal(modeNotInForce(l, 'bench/nft-server', ['10.213.0.12'], 'enforce'), undefined);
});

test('a replica is in force when the client may reach it, both maps send it to its chains and its port is bound', () => {
  const l = parseNftListing(LISTED);
  const r = {
    client: 'bench/nft-client',
    server: 'bench/nft-server',
    address: '10.213.0.23',
    port: 8080,
    iface: 'vh-cap-nft-s2',
  };
  assert.equal(replicaNotInForce(l, r, true), 'ingress lacks 10.213.0.23 : jump ingress/bench/nft-server');
  const mapped = LISTED.replace(
    '10.213.0.12 : jump ingress/bench/nft-server }',
    '10.213.0.12 : jump ingress/bench/nft-server, 10.213.0.23 : jump ingress/bench/nft-server }',
  ).replace(
    '10.213.0.12 : jump egress/bench/nft-server }',
    '10.213.0.12 : jump egress/bench/nft-server, 10.213.0.23 : jump egress/bench/nft-server }',
  );
  assert.equal(replicaNotInForce(parseNftListing(mapped), r, true), undefined);
  assert.equal(
    replicaNotInForce(parseNftListing(mapped), r, false),
    'egress/bench/nft-client/ports still has tcp . 10.213.0.23 . 8080',
  );
  assert.equal(replicaNotInForce(parseNftListing(''), r, false), undefined, 'nothing left of it');
});

test('a namespace UDP counters: arrived = delivered + errors (full buffer included) + no port', () => {
  const snmp = [
    'Ip: Forwarding DefaultTTL InReceives',
    'Ip: 1 64 12345',
    'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
    'Udp: 1000 7 300 12 300 0 0 0 0',
    'UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
    'UdpLite: 0 0 0 0 0 0 0 0 0',
  ].join('\n');
  const u = parseSnmp(snmp, 'Udp');
  assert.equal(u['InDatagrams'], 1000);
  assert.equal(u['RcvbufErrors'], 300);
  assert.equal(udpArrived(u), 1307);
  assert.throws(() => parseSnmp('Ip: a\nIp: 1\n', 'Udp'), /no Udp counters/);
});

test('conntrack statistics: per-CPU hex rows summed, the table size taken once', () => {
  const stat = [
    'entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error',
    '00000010  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000001 0000000a 00000000 00000000',
    '00000010  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000006 00000002 00000000',
  ].join('\n');
  const s = parseConntrackStat(stat);
  assert.equal(s['entries'], 16);
  assert.equal(s['invalid'], 4);
  assert.equal(s['drop'], 16);
  assert.equal(s['early_drop'], 2);
  assert.equal(s['insert_failed'], 1);
});

test('nft monitor: the rule that makes a chain drop or return, as nft prints its add event', () => {
  const deny = 'add rule inet nanoseg ingress/bench/nft-server log prefix "nsg deny ingress" group 15 drop';
  const wd = 'add rule inet nanoseg egress/bench/nft-server log prefix "nsg wd egress" group 15 return';
  assert.equal(isVerdictRuleAdded(deny, 'bench/nft-server', 'ingress', 'enforce'), true);
  assert.equal(isVerdictRuleAdded(deny, 'bench/nft-server', 'ingress', 'monitor'), false);
  assert.equal(isVerdictRuleAdded(deny, 'bench/nft-server', 'egress', 'enforce'), false);
  assert.equal(isVerdictRuleAdded(deny, 'bench/nft', 'ingress', 'enforce'), false, 'another service');
  assert.equal(isVerdictRuleAdded(wd, 'bench/nft-server', 'egress', 'monitor'), true);
  assert.equal(isVerdictRuleAdded(deny.replace('add', 'delete'), 'bench/nft-server', 'ingress', 'enforce'), false);
  assert.equal(isVerdictRuleAdded(deny, 'bench/nft-server', 'ingress', 'learn'), false);
});
