import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffPolicy, isEmptyDiff, renderDiff } from '../../../xds-server/src/policy/diff.js';
import { freezePolicy } from '../../../xds-server/src/policy/freeze.js';
import { apiPolicy, edge, prng, rule } from './fixtures.js';

test('diff: added and removed rules per side, compared by peer + protocol + port', () => {
  const next = {
    ingress: [rule({ service: 'shop/web' }, 'http', 9090), rule({ service: 'shop/web' }, 'grpc', 9090)],
    egress: [rule({ service: 'data/db' }, 'tcp', 5432), rule({ cidr: '203.0.113.10/32' }, 'tcp', 443)],
  };
  const d = diffPolicy(apiPolicy, next);
  assert.deepEqual(d.ingress.added, [rule({ service: 'shop/web' }, 'grpc', 9090)]);
  assert.deepEqual(d.ingress.removed, [rule({ cidr: '192.0.2.0/24' }, 'tcp', 9090)]);
  assert.deepEqual(d.egress.added, [rule({ cidr: '203.0.113.10/32' }, 'tcp', 443)]);
  assert.deepEqual(d.egress.removed, [
    rule({ cidr: '198.51.100.7/32' }, 'http', 80),
    rule({ cidr: '203.0.113.10/32', sni: 'payments' }, 'tcp', 443),
  ]);
  assert.equal(
    renderDiff(d),
    [
      '- ingress  192.0.2.0/24                    tcp/9090',
      '+ ingress  shop/web                        grpc/9090',
      '- egress   198.51.100.7/32                 http/80',
      '- egress   203.0.113.10/32 (sni payments)  tcp/443',
      '+ egress   203.0.113.10/32                 tcp/443',
    ].join('\n') + '\n',
  );
});

test('diff: same rules in another order is no change; no current policy means everything is added', () => {
  const same = diffPolicy(apiPolicy, {
    ingress: [...apiPolicy.ingress].reverse(),
    egress: [...apiPolicy.egress].reverse(),
  });
  assert.ok(isEmptyDiff(same));
  assert.equal(renderDiff(same), 'no changes\n');
  const fresh = diffPolicy(undefined, apiPolicy);
  assert.equal(fresh.ingress.added.length, 2);
  assert.equal(fresh.egress.added.length, 3);
  assert.match(renderDiff(fresh), /^\+ ingress  shop\/web  +http\/9090$/m);
});

test('freeze: one rule per distinct (peer, protocol, port), deterministic whatever the edge order', () => {
  const ingress = [
    edge({ service: 'shop/web' }, { service: 'shop/api' }, 'http', 9090, 52),
    edge({ cidr: '192.0.2.7/32' }, { service: 'shop/api' }, 'tcp', 9090),
    edge({ service: 'shop/web' }, { service: 'shop/api' }, 'http', 9090, 3), // same rule again
    edge({ service: 'shop/admin' }, { service: 'shop/api' }, 'grpc', 9091),
  ];
  const egress = [
    edge({ service: 'shop/api' }, { cidr: '203.0.113.10/32', sni: 'payments' }, 'tcp', 443),
    edge({ service: 'shop/api' }, { service: 'data/db' }, 'tcp', 5432),
    edge({ service: 'shop/api' }, { cidr: '203.0.113.10/32' }, 'tcp', 443),
  ];
  const p = freezePolicy('shop/api', { ingress, egress }, 1234);
  assert.deepEqual(p, {
    service: 'shop/api',
    ingress: [
      rule({ service: 'shop/admin' }, 'grpc', 9091),
      rule({ service: 'shop/web' }, 'http', 9090),
      rule({ cidr: '192.0.2.7/32' }, 'tcp', 9090),
    ],
    egress: [
      rule({ service: 'data/db' }, 'tcp', 5432),
      rule({ cidr: '203.0.113.10/32' }, 'tcp', 443),
      rule({ cidr: '203.0.113.10/32', sni: 'payments' }, 'tcp', 443),
    ],
    origin: 'learned',
    updatedAt: 1234,
  });
  const rand = prng(7);
  for (let i = 0; i < 50; i++) {
    const shuffle = <T>(xs: T[]): T[] =>
      xs
        .map((x) => [rand(), x] as const)
        .sort((a, b) => a[0] - b[0])
        .map(([, x]) => x);
    assert.deepEqual(
      freezePolicy('shop/api', { ingress: shuffle([...ingress]), egress: shuffle([...egress]) }, 1234),
      p,
    );
  }
  // rules carry only peer/protocol/port: edge ids and evidence do not leak into the policy
  assert.equal(JSON.stringify(p).includes('evidence'), false);
});
