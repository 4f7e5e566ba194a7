import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admit, inject, parseReview, type AdmissionRequest } from '../../../injector/index.js';
import { CONFIG, deploymentPod, PLAIN, SHOP } from './fixtures.js';

const podRequest = (object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u-1',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  operation: 'CREATE',
  namespace: 'shop',
  object,
  ...extra,
});

test('admission: a pod in a labelled namespace gets the inject patch, base64 JSONPatch', () => {
  const r = admit(podRequest(deploymentPod()), SHOP, CONFIG);
  assert.equal(r.uid, 'u-1');
  assert.equal(r.allowed, true);
  assert.equal(r.patchType, 'JSONPatch');
  const expected = inject(deploymentPod(), SHOP, CONFIG);
  assert.equal(expected.action, 'inject');
  assert.deepEqual(JSON.parse(Buffer.from(r.patch!, 'base64').toString()), (expected as { patch: unknown }).patch);
});

test('admission: skipped pods and other kinds or operations are allowed unchanged', () => {
  assert.deepEqual(admit(podRequest(deploymentPod()), PLAIN, CONFIG), { uid: 'u-1', allowed: true });
  assert.deepEqual(admit(podRequest(deploymentPod(), { operation: 'UPDATE' }), SHOP, CONFIG), {
    uid: 'u-1',
    allowed: true,
  });
  const svc = podRequest({}, { kind: { group: '', version: 'v1', kind: 'Service' } });
  assert.deepEqual(admit(svc, SHOP, CONFIG), { uid: 'u-1', allowed: true });
});

test('admission: refusals carry a status message naming the problem', () => {
  const bad = deploymentPod({ annotations: { 'nanoseg.io/exclude-outbound-ports': 'x' } });
  const r = admit(podRequest(bad), SHOP, CONFIG);
  assert.equal(r.allowed, false);
  assert.equal(r.status?.code, 400);
  assert.match(r.status!.message, /nanoseg\.io\/exclude-outbound-ports: "x" is not a port/);
  for (const [object, what] of [
    ['a string', /request\.object is not a Pod/],
    [{ spec: { containers: 'web' } }, /containers is not a list/],
    [{ metadata: { annotations: { a: 1 } }, spec: {} }, /annotations is not a map of strings/],
    [{ metadata: [], spec: {} }, /not a Pod/],
  ] as const) {
    const x = admit(podRequest(object), SHOP, CONFIG);
    assert.equal(x.allowed, false);
    assert.match(x.status!.message, what);
  }
});

test('admission: the envelope is checked, never thrown on', () => {
  for (const [body, what] of [
    [null, /not a JSON object/],
    [[1], /not a JSON object/],
    [{ kind: 'Pod' }, /expected AdmissionReview/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1beta1', request: { uid: 'x' } }, /not supported/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: {} }, /uid is missing/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }, /uid is missing/],
  ] as const) {
    const p = parseReview(body);
    assert.equal(p.ok, false);
    assert.match((p as { message: string }).message, what);
  }
  assert.equal(
    parseReview({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: 'a' } }).ok,
    true,
  );
});
