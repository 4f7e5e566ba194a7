// A dual-stack service's sidecar: the capture listeners also listen on [::] (only when its workloads have IPv6
// addresses), an IPv4 VIP balances over IPv4 endpoints only, and RBAC names IPv6 principals for service peers but
// never for an address peer written as IPv4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateProxy, emptyPolicy, render } from '../../../xds-server/src/generate/index.js';
import type { Inventory, Mode, ServicePolicy } from '../../../xds-server/src/model/index.js';

const INV: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11', 'fd6e::b'], ports: [8080] },
    { name: 'db-1', service: 'shop/db', addresses: ['10.213.0.21', 'fd6e::15'], ports: [5432] },
    { name: 'old-1', service: 'shop/old', addresses: ['10.213.0.40'], ports: [] },
  ],
  externals: [
    { name: 'payments', address: '203.0.113.10' },
    { name: 'payments', address: '2001:db8::10' },
  ],
  vips: [{ service: 'shop/db', address: '10.213.255.2' }],
};

const WEB: ServicePolicy = {
  service: 'shop/web',
  origin: 'applied',
  updatedAt: 0,
  ingress: [{ peer: { service: 'shop/old' }, protocol: 'tcp', port: 8080 }],
  egress: [
    { peer: { service: 'shop/db' }, protocol: 'tcp', port: 5432 },
    { peer: { cidr: '203.0.113.10/32' }, protocol: 'tcp', port: 443 },
  ],
};

function gen(service: string, mode: Mode = 'learn', policy: ServicePolicy = emptyPolicy(service)) {
  return generateProxy({ identity: { service }, inventory: INV, mode, policy });
}
function rendered(list: ReturnType<typeof gen>, kind: string, name: string): string {
  const r = list.find((g) => g.kind === kind && g.name === name);
  assert.ok(r, `${kind} ${name}`);
  return JSON.stringify(render(r.typeUrl, r.body));
}

test('a dual-stack sidecar listens on 0.0.0.0 and [::]; an IPv4-only one does not bind [::]', () => {
  const web = gen('shop/web');
  for (const [name, port] of [
    ['outbound', 15001],
    ['inbound', 15006],
  ] as const) {
    const l = JSON.parse(rendered(web, 'listener', name)) as {
      address: { socketAddress: { address: string; portValue: number } };
      additionalAddresses?: { address: { socketAddress: { address: string; portValue: number } } }[];
    };
    assert.deepEqual(l.address.socketAddress, { address: '0.0.0.0', portValue: port });
    assert.deepEqual(
      l.additionalAddresses?.map((a) => a.address.socketAddress),
      [{ address: '::', portValue: port }],
    );
  }
  assert.doesNotMatch(rendered(gen('shop/old'), 'listener', 'outbound'), /additionalAddresses|"::"/);
});

test('an IPv4 VIP balances over the replicas’ IPv4 addresses only', () => {
  const eds = rendered(gen('shop/web'), 'endpoints', 'outbound|5432||shop/db');
  assert.match(eds, /10\.213\.0\.21/);
  assert.doesNotMatch(eds, /fd6e/);
});

test('RBAC: a service peer allows both families, an IPv4 address peer no IPv6', () => {
  const web = gen('shop/web', 'enforce', WEB);
  const out = rendered(web, 'extension', 'nanoseg.rbac.outbound');
  assert.match(out, /"addressPrefix":"fd6e::15","prefixLen":128/, 'db-1 over IPv6');
  assert.match(out, /"addressPrefix":"10\.213\.0\.21","prefixLen":32/);
  assert.match(out, /"addressPrefix":"203\.0\.113\.10","prefixLen":32/);
  assert.doesNotMatch(out, /2001:db8::10/, 'payments is allowed over IPv4 only');
  const inb = rendered(web, 'extension', 'nanoseg.rbac.inbound');
  assert.match(inb, /"addressPrefix":"10\.213\.0\.40","prefixLen":32/);
  assert.doesNotMatch(inb, /"addressPrefix":"fd6e/, 'old-1 has no IPv6 address: nothing over IPv6 is allowed in');
  // the allowed external gets its own outbound chain, IPv4 only
  const listener = rendered(web, 'listener', 'outbound');
  assert.match(listener, /direct\|443\|203\.0\.113\.10\/32/);
  assert.match(listener, /direct\|5432\|fd6e::15\/128/);
  assert.doesNotMatch(listener, /direct\|443\|2001/);
});
