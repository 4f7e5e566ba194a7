import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { exportPolicy } from '../../../xds-server/src/export/index.js';
import { policyDocument } from '../../../xds-server/src/policy/index.js';
import { assertGolden } from '../../support/golden.js';
import { apiPolicy, rule } from '../policy/fixtures.js';
import { dig } from '../../support/dig.js';

const doc = policyDocument(
  { ...apiPolicy, ingress: [...apiPolicy.ingress, rule({ service: 'ops/probe' }, 'udp', 9999)] },
  'enforce',
);

test('export networkpolicy: golden; ingress and egress, pods by nanoseg.io/workload, SNI noted', () => {
  const text = exportPolicy(doc, 'networkpolicy');
  assertGolden('export/shop-api-networkpolicy.json', text.split('\n'));
  const np = parse(text) as unknown;
  assert.equal(dig(np, 'kind'), 'NetworkPolicy');
  assert.deepEqual(dig(np, 'spec', 'policyTypes'), ['Ingress', 'Egress']);
  assert.deepEqual(dig(np, 'spec', 'podSelector'), { matchLabels: { 'nanoseg.io/workload': 'api' } });
  assert.deepEqual(dig(np, 'spec', 'ingress', 1), {
    from: [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
        podSelector: { matchLabels: { 'nanoseg.io/workload': 'web' } },
      },
    ],
    ports: [{ protocol: 'TCP', port: 9090 }],
  });
  assert.equal((dig(np, 'spec', 'egress') as unknown[]).length, 3);
  assert.match(text, /203\.0\.113\.10\/32:443 is allowed by address only \(SNI payments/);
  assert.ok(
    (dig(np, 'spec', 'ingress') as unknown[]).some((r) => dig(r, 'ports', 0, 'protocol') === 'UDP'),
    'udp rules keep UDP',
  );
});

test('export istio: golden; ingress only, and the output says so', () => {
  const text = exportPolicy(doc, 'istio');
  assertGolden('export/shop-api-istio.json', text.split('\n'));
  assert.match(text, /^# .*\n# INGRESS ONLY/m);
  assert.match(text, /egress rules\n# \(3\) are not in this policy/);
  const ap = parse(text) as unknown;
  assert.equal(dig(ap, 'apiVersion'), 'security.istio.io/v1');
  assert.equal(dig(ap, 'spec', 'action'), 'ALLOW');
  assert.deepEqual(dig(ap, 'spec', 'rules', 0), {
    from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }],
    to: [{ operation: { ports: ['9090'] } }],
  });
  assert.deepEqual(dig(ap, 'spec', 'rules', 1, 'from', 0, 'source'), { ipBlocks: ['192.0.2.0/24'] });
  assert.equal((dig(ap, 'spec', 'rules') as unknown[]).length, 2, 'the UDP rule is left out, and said so');
  assert.match(text, /UDP rules are left out/);
  assert.equal(text.includes('egress:'), false);
});

test('export: an empty policy is deny-all in both formats', () => {
  const empty = policyDocument({ ...apiPolicy, ingress: [], egress: [] }, 'enforce');
  const np = parse(exportPolicy(empty, 'networkpolicy')) as unknown;
  assert.deepEqual(dig(np, 'spec', 'ingress'), []);
  assert.deepEqual(dig(np, 'spec', 'egress'), []);
  assert.deepEqual(dig(parse(exportPolicy(empty, 'istio')), 'spec', 'rules'), []);
});
