// The mode annotation's validating webhook decision (injector/mode-admission.ts): a value that is not a mode is
// refused naming the annotation and the workload; an accepted change remembers the Kubernetes user who made it;
// dry runs, unchanged annotations and other kinds pass untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admitModeAnnotation, isModeWorkload, type AdmissionRequest } from '../../../injector/index.js';

const deployment = (mode?: string, name = 'web') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name,
    namespace: 'shop',
    annotations: { team: 'a', ...(mode !== undefined && { 'nanoseg.io/mode': mode }) },
  },
});
const request = (object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u-1',
  kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
  operation: 'UPDATE',
  namespace: 'shop',
  object,
  oldObject: deployment(),
  userInfo: { username: 'alice' },
  ...extra,
});

test('mode admission: a change to a mode is allowed and remembers who made it', () => {
  const d = admitModeAnnotation(request(deployment('enforce')));
  assert.deepEqual(d.response, { uid: 'u-1', allowed: true });
  assert.deepEqual(d.admitted, {
    service: 'shop/web',
    mode: 'enforce',
    actor: 'kubernetes user alice (annotation nanoseg.io/mode=enforce on Deployment shop/web)',
  });
  const created = admitModeAnnotation(request(deployment(' monitor '), { operation: 'CREATE', oldObject: undefined }));
  assert.equal(
    created.admitted?.mode,
    'monitor',
    'a new workload with the annotation, trimmed as the informer reads it',
  );
  const removed = admitModeAnnotation(request(deployment(), { oldObject: deployment('monitor') }));
  assert.deepEqual(removed.admitted?.mode, undefined);
  assert.match(removed.admitted?.actor ?? '', /removed nanoseg\.io\/mode on Deployment shop\/web/);
});

test('mode admission: a value that is not a mode is refused, naming the annotation, the workload and the modes', () => {
  const d = admitModeAnnotation(request(deployment('bogus')));
  assert.equal(d.response.allowed, false);
  assert.equal(d.response.status?.code, 422);
  assert.equal(
    d.response.status?.message,
    'nanoseg: annotation nanoseg.io/mode="bogus" on Deployment shop/web refused: expected one of learn, monitor, enforce',
  );
  assert.equal(d.admitted, undefined);
});

test('mode admission: unchanged annotations, dry runs, deletes and other kinds pass without an actor', () => {
  const same = admitModeAnnotation(request(deployment('monitor'), { oldObject: deployment('monitor') }));
  assert.deepEqual(same, { response: { uid: 'u-1', allowed: true } }, 'a rollout restart leaves the annotation');
  const dry = admitModeAnnotation(request(deployment('enforce'), { dryRun: true }));
  assert.deepEqual(dry, { response: { uid: 'u-1', allowed: true } });
  const del = admitModeAnnotation(request(undefined, { operation: 'DELETE' }));
  assert.deepEqual(del, { response: { uid: 'u-1', allowed: true } });
  const pod = request(deployment('bogus'), { kind: { group: '', version: 'v1', kind: 'Pod' } });
  assert.ok(!isModeWorkload(pod));
  assert.deepEqual(admitModeAnnotation(pod), { response: { uid: 'u-1', allowed: true } });
  const cron = request(deployment('enforce'), { kind: { group: 'batch', version: 'v1', kind: 'CronJob' } });
  assert.match(admitModeAnnotation(cron).admitted?.actor ?? '', /on CronJob shop\/web\)$/);
});
