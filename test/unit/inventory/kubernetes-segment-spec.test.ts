// A NanoSegment's spec as a change (inventory/kubernetes/segment-spec.ts): the same parser as `nanoseg policy apply`,
// errors named by field (`spec.egress[1].port: …`), mode alone vs a whole policy, an empty spec wanting nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseSegmentSpec,
  segmentService,
  specKey,
} from '../../../xds-server/src/inventory/kubernetes/segment-spec.js';
import { parsePolicyFile } from '../../../xds-server/src/policy/index.js';

const messages = (r: ReturnType<typeof parseSegmentSpec>) => (r.valid ? [] : r.errors.map((e) => e.message));

test('segment spec: the rules are what `nanoseg policy apply` reads from the same document', () => {
  const spec = {
    mode: 'enforce',
    ingress: [{ peer: { service: 'shop/web' }, protocol: 'http', port: 9090 }],
    egress: [
      { peer: { cidr: '203.0.113.10/32', sni: 'Payments.Example' }, protocol: 'tcp', port: 443 },
      { peer: { cidr: '10.0.0.0/8' }, protocol: 'icmp' },
    ],
  };
  const r = parseSegmentSpec('shop/api', spec);
  assert.ok(r.valid, JSON.stringify(r));
  assert.equal(r.result.kind, 'policy');
  const file = parsePolicyFile(
    JSON.stringify({ apiVersion: 'nanoseg.io/v1alpha1', kind: 'Policy', service: 'shop/api', ...spec }),
    'p.json',
  );
  assert.ok(file.valid);
  assert.deepEqual(r.result.kind === 'policy' && r.result.policy, file.result);
  // the file parser's canonical forms
  assert.deepEqual(r.result.kind === 'policy' && r.result.policy.egress[0]?.peer, {
    cidr: '203.0.113.10/32',
    sni: 'payments.example',
  });
});

test('segment spec: mode and l7 alone are a mode change; an empty spec wants nothing', () => {
  assert.deepEqual(parseSegmentSpec('shop/web', { mode: 'monitor' }), {
    valid: true,
    result: { kind: 'mode', service: 'shop/web', mode: 'monitor' },
  });
  assert.deepEqual(parseSegmentSpec('shop/web', { l7: true }), {
    valid: true,
    result: { kind: 'mode', service: 'shop/web', l7: true },
  });
  for (const empty of [undefined, null, {}])
    assert.deepEqual(parseSegmentSpec('shop/web', empty), {
      valid: true,
      result: { kind: 'none', service: 'shop/web' },
    });
  // one side given: the other is empty, as a policy file without it
  const r = parseSegmentSpec('shop/web', { egress: [] });
  assert.deepEqual(r, {
    valid: true,
    result: { kind: 'policy', service: 'shop/web', policy: { service: 'shop/web', ingress: [], egress: [] } },
  });
});

test('segment spec: every problem is reported at once, each naming its field under spec', () => {
  const r = parseSegmentSpec('shop/web', {
    mode: 'block',
    ingress: [{ peer: { service: 'shop/api', cidr: '10.0.0.1/32' }, protocol: 'tcp', port: 80 }],
    egress: [
      { peer: { service: 'shop/api' }, protocol: 'http', port: 9090 },
      { peer: { service: 'shop/api' }, protocol: 'http', port: 70000 },
      { peer: { service: 'shop/api' }, protocol: 'http', port: 9090 },
      { peer: { cidr: '10.0.0.300/32' }, protocol: 'tcp', port: 5432, paths: [{ method: 'GET', path: '/' }] },
    ],
  });
  assert.deepEqual(messages(r), [
    'spec.mode: "block" is not a mode (learn|monitor|enforce)',
    'spec.ingress[0].peer: exactly one of service or cidr is required',
    'spec.egress[1].port: 70000 is not a port (1-65535)',
    'spec.egress[2]: duplicate rule: same peer, protocol and port as egress[0]',
    ...messages(
      parseSegmentSpec('shop/web', { egress: [{ peer: { cidr: '10.0.0.300/32' }, protocol: 'tcp', port: 1 }] }),
    ).map((m) => m.replace('egress[0]', 'egress[3]')),
  ]);
  assert.ok(!r.valid && r.errors.every((e) => e.message.startsWith(`${e.path}: `) && e.path.startsWith('spec')));
  assert.deepEqual(messages(parseSegmentSpec('shop/web', { mode: 'enforce', service: 'x/y', apiVersion: 'v1' })), [
    'spec.service: unknown field (expected mode, l7, ingress, egress)',
    'spec.apiVersion: unknown field (expected mode, l7, ingress, egress)',
  ]);
  assert.deepEqual(messages(parseSegmentSpec('shop/web', 'enforce')), [
    'spec: expected an object {mode, l7, ingress, egress}',
  ]);
  assert.deepEqual(messages(parseSegmentSpec('shop/web', { l7: 'yes' })), [
    'spec.l7: expected true or false, got "yes"',
  ]);
  assert.deepEqual(
    messages(
      parseSegmentSpec('shop/web', {
        egress: [{ peer: { service: 'shop/api' }, protocol: 'udp', port: 53, paths: [] }],
      }),
    ),
    ['spec.egress[0].paths: paths are only allowed on http and grpc rules (this one is udp)'],
  );
});

test('segment spec: the object names its service; the spec key ignores key order', () => {
  assert.deepEqual(segmentService({ namespace: 'shop', name: 'web' }), { valid: true, result: 'shop/web' });
  const bad = segmentService({ namespace: 'shop', name: 'web.v2' });
  assert.ok(!bad.valid);
  assert.match(bad.errors[0]!.message, /^metadata\.name: "shop\/web\.v2" is not a service name/);
  assert.equal(
    specKey({ mode: 'enforce', egress: [{ port: 1, peer: { service: 'a/b' } }] }),
    specKey({ egress: [{ peer: { service: 'a/b' }, port: 1 }], mode: 'enforce' }),
  );
  assert.notEqual(specKey({ mode: 'enforce' }), specKey({ mode: 'monitor' }));
  assert.equal(specKey(undefined), specKey({}));
});
