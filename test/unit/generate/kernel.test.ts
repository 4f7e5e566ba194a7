// The pure kernel-rule compiler: golden rulesets per mode, and the properties a reviewer checks by eye — the same
// compiled policy the sidecar gets, deterministic text, learn adds no chain, anti-spoofing binds every known port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelRuleset, chainName, type KernelService } from '../../../xds-server/src/generate/kernel.js';
import { compilePolicy } from '../../../xds-server/src/policy/compile.js';
import type { Inventory, Mode, PolicyRule, ServicePolicy } from '../../../xds-server/src/model/index.js';
import { assertGoldenText } from '../../support/golden.js';

const INV: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [8080], interface: 'vh-web-1' },
    { name: 'web-2', service: 'shop/web', addresses: ['10.213.0.12'], ports: [8080], interface: 'vh-web-2' },
    { name: 'db-1', service: 'data/db', addresses: ['10.213.0.31'], ports: [5432], interface: 'vh-db-1' },
    { name: 'dns-1', service: 'infra/dns', addresses: ['10.213.0.53', 'fd00::53'], ports: [53] },
  ],
  externals: [
    { name: 'payments', address: '203.0.113.10', interface: 'vh-payments' },
    { name: 'far', address: '198.51.100.7' },
  ],
  vips: [{ service: 'data/db', address: '10.213.255.1' }],
};

const policy = (service: string, ingress: PolicyRule[], egress: PolicyRule[]): ServicePolicy => ({
  service,
  ingress,
  egress,
  origin: 'applied',
  updatedAt: 0,
});
const WEB = policy(
  'shop/web',
  [{ peer: { cidr: '203.0.113.10/32' }, protocol: 'icmp', port: 0 }],
  [
    { peer: { service: 'data/db' }, protocol: 'tcp', port: 5432 },
    { peer: { service: 'infra/dns' }, protocol: 'udp', port: 53 },
    { peer: { cidr: '203.0.113.10/32', sni: 'payments' }, protocol: 'http', port: 443 },
    { peer: { cidr: '203.0.113.10/32' }, protocol: 'icmp', port: 0 },
  ],
);
const DB = policy('data/db', [{ peer: { service: 'shop/web' }, protocol: 'tcp', port: 5432 }], []);

function services(web: Mode, db: Mode): KernelService[] {
  return [
    { service: 'shop/web', mode: web, compiled: compilePolicy(WEB, INV) },
    { service: 'data/db', mode: db, compiled: compilePolicy(DB, INV) },
  ];
}

test('golden: every service in learn has no policy chain, only anti-spoofing and flow logging', () => {
  assertGoldenText('kernel/learn.nft', kernelRuleset({ services: services('learn', 'learn'), inventory: INV }));
});

test('golden: enforce and monitor side by side', () => {
  assertGoldenText(
    'kernel/enforce-monitor.nft',
    kernelRuleset({ services: services('enforce', 'monitor'), inventory: INV }),
  );
});

test('deterministic: the order of services and inventory entries does not change the text', () => {
  const a = kernelRuleset({ services: services('enforce', 'enforce'), inventory: INV });
  const b = kernelRuleset({
    services: services('enforce', 'enforce').reverse(),
    inventory: { ...INV, workloads: [...INV.workloads].reverse(), externals: [...INV.externals].reverse() },
  });
  assert.equal(a, b);
});

test('one transaction replaces both tables: each is declared, deleted and defined in the same text', () => {
  const t = kernelRuleset({ services: [], inventory: INV });
  for (const fam of ['bridge', 'inet']) {
    const decl = t.indexOf(`table ${fam} nanoseg\n`);
    const del = t.indexOf(`delete table ${fam} nanoseg\n`);
    const def = t.indexOf(`table ${fam} nanoseg {`);
    assert.ok(decl >= 0 && decl < del && del < def, fam);
  }
});

test('the kernel enforces the same rules the sidecar compiles: tcp/http as TCP to the port, udp, icmp without port', () => {
  const t = kernelRuleset({ services: services('enforce', 'enforce'), inventory: INV });
  const web = chainName('egress', 'shop/web');
  assert.match(t, new RegExp(`set ${web}/ports \\{[^}]*tcp \\. 10\\.213\\.0\\.31 \\. 5432`));
  assert.match(t, /tcp \. 10\.213\.255\.1 \. 5432/, 'the VIP too');
  assert.match(t, /udp \. 10\.213\.0\.53 \. 53/);
  assert.match(t, /tcp \. 203\.0\.113\.10 \. 443/, 'http with SNI is TCP to its port here (SNI is the sidecar’s)');
  assert.match(t, /set egress\/shop\/web\/ports6 \{[^}]*udp \. fd00::53 \. 53/, 'a service peer: both families');
  assert.doesNotMatch(
    t.slice(t.indexOf('set egress/shop/web/ports {'), t.indexOf('set egress/shop/web/ports6')),
    /fd00/,
  );
  assert.match(t, new RegExp(`set ${web}/icmp \\{[^}]*203\\.0\\.113\\.10,`));
  // single addresses are hash-set elements; only real ranges go into the interval sets
  assert.doesNotMatch(
    t.slice(t.indexOf(`set ${web}/ports {`), t.indexOf(`set ${web}/port-ranges {`)),
    /flags interval/,
  );
  assert.match(t, new RegExp(`set ${web}/port-ranges \\{\\n\\s+type [^;]+;\\n\\s+flags interval;`));
  assert.match(t, /10\.213\.0\.11 : jump egress\/shop\/web/);
  assert.match(t, /10\.213\.0\.12 : jump egress\/shop\/web/, 'every replica');
  assert.match(t, /log group 15 prefix "nsg deny egress" drop/);
});

test('monitor logs would-deny and lets the flow through; enforce drops', () => {
  const t = kernelRuleset({ services: services('monitor', 'enforce'), inventory: INV });
  const chain = (name: string) => t.slice(t.indexOf(`chain ${name} {`), t.indexOf('}', t.indexOf(`chain ${name} {`)));
  assert.match(chain('egress/shop/web'), /prefix "nsg wd egress" return/);
  assert.match(chain('ingress/data/db'), /prefix "nsg deny ingress" drop/);
});

test('anti-spoofing: each known port is bound to its addresses; unknown ports and forged sources drop', () => {
  const t = kernelRuleset({ services: [], inventory: INV, logGroup: 7 });
  assert.match(t, /"vh-web-1" \. 10\.213\.0\.11/);
  assert.match(t, /"vh-payments" \. 203\.0\.113\.10/);
  assert.doesNotMatch(t, /198\.51\.100\.7/, 'an external without an interface binds nothing');
  assert.match(
    t,
    /iifname \. ip saddr @bound accept\n[\s\S]*?\n\s+log group 7 prefix "nsg spoof" drop\n\s+\}\n\s+chain forward/,
  );
  assert.match(t, /chain forward \{\n\s+type filter hook forward priority filter; policy drop;/, 'no L2 between ports');
});

// A Kubernetes node: pods on the CNI's bridge, no interfaces known, the control plane on the node's bridge address.
const NODE = { controlPlane: [{ address: '10.244.0.1', port: 15012 }] };
const POD_INV: Inventory = {
  workloads: INV.workloads.map(({ interface: _, ...w }) => w),
  externals: [],
  vips: INV.vips,
};

test('golden: a Kubernetes node, enforce and monitor', () => {
  assertGoldenText(
    'kernel/node.nft',
    kernelRuleset({ services: services('enforce', 'monitor'), inventory: POD_INV, node: NODE }),
  );
});

test('a Kubernetes node: no bridge table, the control plane reachable first, only pods’ udp/icmp flows logged', () => {
  const t = kernelRuleset({ services: services('enforce', 'enforce'), inventory: POD_INV, node: NODE });
  assert.doesNotMatch(t, /table bridge/, 'the CNI binds addresses to ports; other bridges of the node are not ours');
  assert.match(t, /set control-plane \{[^}]*10\.244\.0\.1 \. 15012/);
  for (const hook of ['forward', 'input']) {
    const c = t.slice(t.indexOf(`chain ${hook} {`), t.indexOf('\n  }', t.indexOf(`chain ${hook} {`)));
    const cp = c.indexOf('ip daddr . th dport @control-plane accept');
    assert.ok(cp > c.indexOf('ct state established,related accept'), hook);
    assert.ok(cp >= 0 && cp < c.indexOf('ip saddr vmap @egress'), `${hook}: before any pod's egress chain`);
  }
  assert.match(t, /set pods \{[^}]*10\.213\.0\.11,[^}]*10\.213\.0\.53,/);
  assert.match(t, /ip saddr @pods meta l4proto \{ udp, icmp, ipv6-icmp \} ct state new log group 15 prefix "nsg obs"/);
  assert.doesNotMatch(t, /\n\s+meta l4proto \{ udp, icmp, ipv6-icmp \} ct state new log/, 'never every flow');
  assert.match(t, /ip saddr != @pods ip daddr @pods meta l4proto/, 'pod to pod: logged once, by its source');
  assert.match(t, /10\.213\.0\.11 : jump egress\/shop\/web/);
});

// A dual-stack lab: web and db have IPv6 addresses, payments is an external with both.
const INV6: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11', 'fd6e::b'], ports: [8080], interface: 'vh-web-1' },
    { name: 'db-1', service: 'data/db', addresses: ['10.213.0.31', 'fd6e::1f'], ports: [5432], interface: 'vh-db-1' },
  ],
  externals: [
    { name: 'payments', address: '203.0.113.10', interface: 'vh-payments' },
    { name: 'payments', address: '2001:db8::10', interface: 'vh-payments' },
  ],
  vips: [],
};

function services6(): KernelService[] {
  return [
    { service: 'shop/web', mode: 'enforce', compiled: compilePolicy(WEB, INV6) },
    { service: 'data/db', mode: 'monitor', compiled: compilePolicy(DB, INV6) },
  ];
}

test('golden: a dual-stack lab, enforce and monitor', () => {
  assertGoldenText('kernel/dual-stack.nft', kernelRuleset({ services: services6(), inventory: INV6 }));
});

test('IPv6: a rule goes into its peer’s family; a policy with only IPv4 peers allows no IPv6', () => {
  const t = kernelRuleset({ services: services6(), inventory: INV6 });
  const section = (start: string, end: string) => t.slice(t.indexOf(start), t.indexOf(end, t.indexOf(start) + 1));
  // payments is allowed by its IPv4 address only: its IPv6 address is in no set
  assert.match(section('set egress/shop/web/ports {', '}\n  }'), /tcp \. 203\.0\.113\.10 \. 443/);
  for (const set of ['ports6', 'port-ranges6', 'icmp6', 'icmp-ranges6'])
    assert.doesNotMatch(section(`set egress/shop/web/${set} {`, '}\n  }'), /2001:db8::10/, set);
  // a service peer stands for both families of its workloads
  assert.match(section('set egress/shop/web/ports6 {', '}\n  }'), /tcp \. fd6e::1f \. 5432/);
  assert.match(section('set ingress/data/db/ports6 {', '}\n  }'), /tcp \. fd6e::b \. 5432/);
  // IPv6 flows of an enforced service jump to its chain, where only the IPv6 sets can match them
  assert.match(t, /map egress6 \{\n\s+type ipv6_addr : verdict;[^}]*fd6e::b : jump egress\/shop\/web/);
  const chain = section('chain egress/shop/web {', '  }');
  assert.match(chain, /meta l4proto \. ip6 daddr \. th dport @egress\/shop\/web\/ports6 return/);
  assert.match(chain, /meta l4proto ipv6-icmp ip6 daddr @egress\/shop\/web\/icmp6 return/);
  assert.match(t, /ip6 saddr vmap @egress6\n\s+ip daddr vmap @ingress\n\s+ip6 daddr vmap @ingress6/);
  assert.match(t, /meta l4proto \{ udp, icmp, ipv6-icmp \} ct state new log/);
});

test('IPv6 anti-spoofing binds each port’s IPv6 addresses and neighbour advertisements; ND to the gateway passes', () => {
  const t = kernelRuleset({ services: services6(), inventory: INV6 });
  assert.match(
    t,
    /set bound6 \{\n\s+type ifname \. ipv6_addr;[^}]*"vh-payments" \. 2001:db8::10,[^}]*"vh-web-1" \. fd6e::b,/,
  );
  const input = t.slice(t.indexOf('chain input {'), t.indexOf('chain forward {'));
  const na = input.indexOf('icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @nd6 log');
  const v6 = input.indexOf('ether type ip6 iifname . ip6 saddr @bound6 accept');
  assert.ok(na > 0 && na < v6, 'a forged neighbour advertisement is dropped before the source check accepts it');
  assert.ok(input.indexOf('ip6 saddr :: icmpv6 type { mld-listener-report, mld2-listener-report } drop') > v6);
  const inetInput = t.slice(t.lastIndexOf('chain input {'));
  assert.ok(
    inetInput.indexOf('icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept') <
      inetInput.indexOf('ip6 saddr vmap @egress6'),
    'neighbour discovery with the gateway before any policy chain',
  );
});
