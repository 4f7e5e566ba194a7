// The NanoSegment validating webhook's decision (injector/segment-admission.ts): a bad spec is refused naming the
// field, a mode that conflicts with the workload's annotation is refused naming the annotation, an accepted change
// remembers the Kubernetes user who asked; dry runs, unchanged specs, deletes and other kinds pass untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admitSegment, type AdmissionRequest } from '../../../injector/index.js';
import type { ModePin } from '../../../xds-server/src/inventory/kubernetes/modes.js';

const segment = (spec: unknown, name = 'web') => ({
  apiVersion: 'nanoseg.io/v1alpha1',
  kind: 'NanoSegment',
  metadata: { name, namespace: 'shop', generation: 2 },
  spec,
});
const request = (object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u-7',
  kind: { group: 'nanoseg.io', version: 'v1alpha1', kind: 'NanoSegment' },
  operation: 'CREATE',
  namespace: 'shop',
  object,
  userInfo: { username: 'alice', groups: ['system:authenticated'] },
  ...extra,
});
const PIN: ModePin = { mode: 'monitor', by: 'annotation nanoseg.io/mode=monitor on Deployment shop/web' };
const pins = (s: string) => (s === 'shop/web' ? PIN : undefined);
const none = () => undefined;

test('segment admission: an accepted change is allowed and remembers who asked', () => {
  const spec = { mode: 'enforce', egress: [{ peer: { service: 'shop/api' }, protocol: 'http', port: 9090 }] };
  const d = admitSegment(request(segment(spec)), none);
  assert.deepEqual(d.response, { uid: 'u-7', allowed: true });
  assert.deepEqual(d.admitted, {
    service: 'shop/web',
    spec: '{"egress":[{"peer":{"service":"shop/api"},"port":9090,"protocol":"http"}],"mode":"enforce"}',
    actor: 'kubernetes user alice (NanoSegment shop/web)',
  });
  // the same mode as the annotation's is no conflict
  assert.equal(admitSegment(request(segment({ mode: 'monitor' })), pins).response.allowed, true);
});

test('segment admission: a bad spec is refused with every field named, and nothing is remembered', () => {
  const d = admitSegment(
    request(
      segment({
        egress: [
          { peer: { service: 'shop/api' }, protocol: 'http', port: 9090 },
          { peer: { service: 'shop/api', cidr: '10.0.0.1/32' }, protocol: 'tcp', port: 5432 },
        ],
      }),
    ),
    none,
  );
  assert.equal(d.response.allowed, false);
  assert.equal(d.response.status?.code, 422);
  assert.equal(
    d.response.status?.message,
    'nanoseg: NanoSegment shop/web refused: spec.egress[1].peer: exactly one of service or cidr is required',
  );
  assert.equal(d.admitted, undefined);
  const name = admitSegment(request(segment({ mode: 'enforce' }, 'web.v2')), none);
  assert.equal(name.response.allowed, false);
  assert.match(name.response.status!.message, /metadata\.name: "shop\/web\.v2" is not a service name/);
});

test('segment admission: a mode against the workload annotation is refused naming the annotation', () => {
  for (const spec of [{ mode: 'enforce' }, { mode: 'learn', ingress: [] }]) {
    const d = admitSegment(request(segment(spec)), pins);
    assert.equal(d.response.allowed, false, JSON.stringify(spec));
    assert.equal(d.response.status?.code, 409);
    assert.match(
      d.response.status!.message,
      /spec\.mode: shop\/web is monitor by annotation nanoseg\.io\/mode=monitor on Deployment shop\/web/,
    );
    assert.equal(d.admitted, undefined);
  }
  // a policy without a mode leaves the pinned mode alone: allowed
  assert.equal(admitSegment(request(segment({ ingress: [] })), pins).response.allowed, true);
});

test('segment admission: dry runs are checked but remembered by nobody; unchanged specs, deletes, other kinds pass', () => {
  const dry = admitSegment(request(segment({ mode: 'enforce' }), { dryRun: true }), none);
  assert.deepEqual(dry, { response: { uid: 'u-7', allowed: true } });
  assert.equal(admitSegment(request(segment({ mode: 'bogus' }), { dryRun: true }), none).response.allowed, false);
  // a label change of an object whose spec conflicts (stored before the annotation came) changes nothing: allowed
  const old = segment({ mode: 'enforce' });
  const relabelled = { ...old, metadata: { ...old.metadata, labels: { team: 'a' } } };
  assert.deepEqual(admitSegment(request(relabelled, { operation: 'UPDATE', oldObject: old }), pins), {
    response: { uid: 'u-7', allowed: true },
  });
  assert.equal(
    admitSegment(request(segment({ mode: 'learn' }), { operation: 'UPDATE', oldObject: old }), pins).response.allowed,
    false,
  );
  assert.deepEqual(admitSegment(request(old, { operation: 'DELETE' }), pins), {
    response: { uid: 'u-7', allowed: true },
  });
  const pod = request({}, { kind: { group: '', version: 'v1', kind: 'Pod' } });
  assert.deepEqual(admitSegment(pod, pins), { response: { uid: 'u-7', allowed: true } });
  // the control plane's own create of an empty NanoSegment: allowed, nothing to apply
  assert.deepEqual(admitSegment(request(segment({})), pins), { response: { uid: 'u-7', allowed: true } });
  assert.equal(admitSegment(request('nope'), none).response.status?.code, 400);
});
