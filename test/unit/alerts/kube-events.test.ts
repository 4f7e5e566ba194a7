// Alerts as Kubernetes Events: the Event is on the calling pod (or the reporting one when the caller is no pod) and
// says who called what, the verdict, the mode and the missing rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventOf, podOf } from '../../../xds-server/src/alerts/kube-events.js';
import type { Alert } from '../../../xds-server/src/model/index.js';

const ALERT: Alert = {
  time: '2026-12-01T17:00:00.000Z',
  verdict: 'denied',
  mode: 'enforce',
  source: { service: 'shop/web', workload: 'web-6d9f7c-abcde.shop', ip: '10.244.0.7' },
  destination: { ip: '10.244.0.9', port: 9091 },
  protocol: 'tcp',
  count: 3,
  reason: 'shop/web egress has no rule for 10.244.0.9/32 tcp/9091',
  reporter: 'web-6d9f7c-abcde.shop',
  side: 'egress',
  point: 'sidecar',
};

test('podOf splits a workload name at its last dot; anything else is no pod', () => {
  assert.deepEqual(podOf('web-1.shop'), { name: 'web-1', namespace: 'shop' });
  assert.equal(podOf('web'), undefined);
  assert.equal(podOf('.shop'), undefined);
  assert.equal(podOf('web.'), undefined);
  assert.equal(podOf(undefined), undefined);
});

test('a denial becomes a Warning NanosegDenied on the calling pod', () => {
  const ev = eventOf(ALERT, 'cp-0')!;
  assert.deepEqual(ev.involvedObject, { apiVersion: 'v1', kind: 'Pod', name: 'web-6d9f7c-abcde', namespace: 'shop' });
  assert.equal(ev.metadata.namespace, 'shop');
  assert.equal(ev.reason, 'NanosegDenied');
  assert.equal(ev.type, 'Warning');
  assert.equal(ev.count, 3);
  assert.equal(
    ev.message,
    'shop/web → 10.244.0.9:9091 tcp denied (enforce, sidecar, 3 times): shop/web egress has no rule for 10.244.0.9/32 tcp/9091',
  );
  assert.equal(ev.reportingInstance, 'cp-0');
});

test('an external caller: the Event goes on the reporting pod; no pod at all: no Event', () => {
  const external: Alert = {
    ...ALERT,
    verdict: 'would-deny',
    mode: 'monitor',
    count: 1,
    source: { ip: '203.0.113.7' },
    destination: { service: 'shop/api', ip: '10.244.0.9', port: 9090 },
    reporter: 'api-1.shop',
    side: 'ingress',
  };
  const ev = eventOf(external, 'cp-0')!;
  assert.equal(ev.involvedObject.name, 'api-1');
  assert.equal(ev.reason, 'NanosegWouldDeny');
  assert.match(ev.message!, /^203\.0\.113\.7 → shop\/api:9090 tcp would be denied \(monitor, sidecar\): /);
  assert.equal(eventOf({ ...external, reporter: undefined }, 'cp-0'), undefined);
});
