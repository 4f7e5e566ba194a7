import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, decide, explainDeny } from '../../../xds-server/src/policy/compile.js';
import type { ServicePolicy } from '../../../xds-server/src/model/index.js';
import { apiPolicy, dbPolicy, inventory, rule } from './fixtures.js';

test('compile: per inbound port the allowed sources with their rule; outbound destinations incl. VIP', () => {
  const c = compilePolicy(apiPolicy, inventory);
  assert.equal(c.service, 'shop/api');
  assert.deepEqual(
    c.inbound.map((p) => ({ port: p.port, sources: p.sources.map((s) => `${s.cidr} ${s.rule.name}`) })),
    [
      {
        port: 9090,
        sources: [
          '10.213.0.11/32 ingress|shop/web|http/9090',
          '10.213.0.12/32 ingress|shop/web|http/9090',
          '192.0.2.0/24 ingress|192.0.2.0/24|tcp/9090',
        ],
      },
    ],
  );
  assert.deepEqual(
    c.outbound.map((d) => ({ cidrs: d.cidrs, port: d.port, protocol: d.protocol, sni: d.sni, rule: d.rule.name })),
    [
      {
        cidrs: ['10.213.0.252/32', '10.213.0.31/32'],
        port: 5432,
        protocol: 'tcp',
        sni: undefined,
        rule: 'egress|data/db|tcp/5432',
      },
      {
        cidrs: ['198.51.100.7/32'],
        port: 80,
        protocol: 'http',
        sni: undefined,
        rule: 'egress|198.51.100.7/32|http/80',
      },
      {
        cidrs: ['203.0.113.10/32'],
        port: 443,
        protocol: 'tcp',
        sni: 'payments',
        rule: 'egress|203.0.113.10/32#payments|tcp/443',
      },
    ],
  );
});

test('compile is deterministic and keeps rules whose peer runs nowhere (for explanations)', () => {
  const p: ServicePolicy = { ...dbPolicy, ingress: [rule({ service: 'gone/away' }, 'tcp', 5432), ...dbPolicy.ingress] };
  const a = compilePolicy(p, inventory);
  const b = compilePolicy({ ...p, ingress: [...p.ingress].reverse() }, inventory);
  assert.deepEqual(a, b);
  assert.deepEqual(
    a.inbound[0]!.rules.map((r) => r.name),
    ['ingress|gone/away|tcp/5432', 'ingress|shop/api|tcp/5432'],
  );
  assert.deepEqual(
    a.inbound[0]!.sources.map((s) => s.cidr),
    ['10.213.0.21/32', '10.213.0.22/32', 'fd00::22/128'],
  );
});

const db = compilePolicy(dbPolicy, inventory);
const api = compilePolicy(apiPolicy, inventory);
const web = compilePolicy(
  {
    service: 'shop/web',
    ingress: [],
    egress: [rule({ service: 'shop/api' }, 'http', 9090)],
    origin: 'learned',
    updatedAt: 0,
  },
  inventory,
);

test('decide: the allowing rule, most specific first', () => {
  const d = decide(db, 'ingress', { sourceIp: '10.213.0.22', destIp: '10.213.0.31', port: 5432 }, inventory);
  assert.deepEqual(
    [d.allowed, d.rule?.name, d.reason],
    [true, 'ingress|shop/api|tcp/5432', 'allowed by ingress|shop/api|tcp/5432'],
  );
  assert.equal(
    decide(db, 'ingress', { sourceIp: 'fd00::22', destIp: 'fd00::31', port: 5432 }, inventory).allowed,
    true,
  );
  assert.equal(
    decide(api, 'ingress', { sourceIp: '192.0.2.200', destIp: '10.213.0.21', port: 9090 }, inventory).allowed,
    true,
  );
  assert.equal(
    decide(api, 'egress', { sourceIp: '10.213.0.21', destIp: '10.213.0.252', port: 5432 }, inventory).allowed,
    true,
    'via the VIP',
  );
  assert.equal(
    decide(api, 'egress', { sourceIp: '10.213.0.21', destIp: '203.0.113.10', port: 443, sni: 'payments' }, inventory)
      .allowed,
    true,
  );
  assert.equal(
    decide(api, 'egress', { sourceIp: '10.213.0.21', destIp: '198.51.100.7', port: 80, sni: 'anything' }, inventory)
      .allowed,
    true,
    'SNI is not checked for http rules',
  );
  assert.equal(
    decide(db, 'ingress', { sourceIp: '10.213.0.21', destIp: '10.213.0.31', port: 5432, protocol: 'udp' }, inventory)
      .allowed,
    false,
    'udp never matches tcp rules',
  );
});

test('explainDeny names the missing rule', () => {
  const cases: [ReturnType<typeof compilePolicy>, 'ingress' | 'egress', Parameters<typeof explainDeny>[2], string][] = [
    [
      web,
      'egress',
      { sourceIp: '10.213.0.11', destIp: '10.213.0.31', port: 5432 },
      'shop/web egress has no rule for data/db tcp/5432',
    ],
    [
      web,
      'egress',
      { sourceIp: '10.213.0.11', destIp: '10.213.0.251', port: 9091, protocol: 'http' },
      'shop/web egress has no rule for shop/api http/9091 (it allows shop/api on http/9090)',
    ],
    [
      db,
      'ingress',
      { sourceIp: '10.213.0.11', destIp: '10.213.0.31', port: 5432 },
      'data/db ingress allows shop/api on 5432 but not shop/web (10.213.0.11)',
    ],
    [
      db,
      'ingress',
      { sourceIp: '198.51.100.9', destIp: '10.213.0.31', port: 5432 },
      'data/db ingress allows shop/api on 5432 but not 198.51.100.9',
    ],
    [
      db,
      'ingress',
      { sourceIp: '10.213.0.11', destIp: '10.213.0.31', port: 22 },
      'data/db ingress has no rule for shop/web tcp/22',
    ],
    [
      api,
      'egress',
      { sourceIp: '10.213.0.21', destIp: '203.0.113.10', port: 443, sni: 'evil' },
      'shop/api egress allows 203.0.113.10/32 tcp/443 only with SNI payments, not evil',
    ],
    [
      api,
      'egress',
      { sourceIp: '10.213.0.21', destIp: '203.0.113.10', port: 443 },
      'shop/api egress allows 203.0.113.10/32 tcp/443 only with SNI payments, not without SNI',
    ],
    [
      api,
      'egress',
      { sourceIp: '10.213.0.21', destIp: '203.0.113.99', port: 443 },
      'shop/api egress has no rule for 203.0.113.99/32 tcp/443',
    ],
    [
      db,
      'ingress',
      { sourceIp: '10.213.0.21', destIp: '10.213.0.31', port: 5432 },
      'allowed by ingress|shop/api|tcp/5432',
    ],
  ];
  for (const [c, side, conn, want] of cases) assert.equal(explainDeny(c, side, conn, inventory), want);
});

test('explainDeny notices a policy compiled against an older inventory', () => {
  const scaled = {
    ...inventory,
    workloads: [
      ...inventory.workloads,
      { name: 'api-3', service: 'shop/api', addresses: ['10.213.0.23'], ports: [9090] },
    ],
  };
  assert.equal(
    explainDeny(db, 'ingress', { sourceIp: '10.213.0.23', destIp: '10.213.0.31', port: 5432 }, scaled),
    'data/db ingress allows shop/api on 5432 but not shop/api (10.213.0.23) (10.213.0.23 was not an address of shop/api when the policy was compiled)',
  );
});

test('the compiled policy says which enforcement point enforces each rule (TCP: both; udp, icmp: the kernel)', () => {
  const p = {
    ...apiPolicy,
    ingress: [
      ...apiPolicy.ingress,
      { peer: { service: 'shop/web' }, protocol: 'udp' as const, port: 53 },
      { peer: { service: 'shop/web' }, protocol: 'icmp' as const, port: 0 },
    ],
  };
  const c = compilePolicy(p, inventory);
  const points = c.inbound.flatMap((port) => port.rules.map((r) => [r.rule.protocol, r.points]));
  for (const [protocol, pts] of points)
    assert.deepEqual(
      pts,
      protocol === 'udp' || protocol === 'icmp' ? ['kernel'] : ['sidecar', 'kernel'],
      String(protocol),
    );
  assert.ok(points.some(([protocol]) => protocol === 'udp'));
  assert.ok(points.some(([protocol]) => protocol === 'icmp'));
  assert.ok(c.outbound.every((d) => d.rule.points.join() === 'sidecar,kernel'));
});

test('icmp decisions and explanations have no port', () => {
  const p = { ...apiPolicy, ingress: [{ peer: { service: 'shop/web' }, protocol: 'icmp' as const, port: 0 }] };
  const c = compilePolicy(p, inventory);
  const web = inventory.workloads.find((w) => w.service === 'shop/web')!.addresses[0]!;
  const db = inventory.workloads.find((w) => w.service === 'data/db')!.addresses[0]!;
  assert.ok(
    decide(c, 'ingress', { sourceIp: web, destIp: '10.213.0.21', port: 0, protocol: 'icmp' }, inventory).allowed,
  );
  const r = decide(c, 'ingress', { sourceIp: db, destIp: '10.213.0.21', port: 0, protocol: 'icmp' }, inventory);
  assert.equal(r.allowed, false);
  assert.match(r.reason, /allows shop\/web on 0 but not data\/db|no rule for data\/db icmp$/);
  assert.equal(
    decide(c, 'ingress', { sourceIp: web, destIp: '10.213.0.21', port: 0, protocol: 'udp' }, inventory).allowed,
    false,
  );
});
