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
  assert.match(t, new RegExp(`set ${web}/ports \\{[^}]*tcp \\. 10\\.213\\.0\\.31/32 \\. 5432`));
  assert.match(t, /tcp \. 10\.213\.255\.1\/32 \. 5432/, 'the VIP too');
  assert.match(t, /udp \. 10\.213\.0\.53\/32 \. 53/);
  assert.match(t, /tcp \. 203\.0\.113\.10\/32 \. 443/, 'http with SNI is TCP to its port here (SNI is the sidecar’s)');
  assert.doesNotMatch(t, /fd00::53/, 'IPv4 only');
  assert.match(t, new RegExp(`set ${web}/icmp \\{[^}]*203\\.0\\.113\\.10/32`));
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
  assert.match(t, /iifname \. ip saddr @bound accept\n\s+log group 7 prefix "nsg spoof" drop/);
  assert.match(t, /chain forward \{\n\s+type filter hook forward priority filter; policy drop;/, 'no L2 between ports');
});
