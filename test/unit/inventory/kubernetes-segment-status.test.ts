// The NanoSegment status (pure part of the status controller): what it says, how conditions keep their transition
// times, which alerts land on which service, and when a computed status is worth a write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  lastAlertOf,
  nanoSegmentStatus,
  segmentRef,
  writeDue,
  type SegmentFacts,
} from '../../../xds-server/src/inventory/kubernetes/segment-status.js';
import type { Alert } from '../../../xds-server/src/model/index.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const learning: SegmentFacts = {
  service: 'shop/web',
  state: 'learning',
  mode: 'learn',
  confidence: 0.66666,
  edges: 1,
  reason: 'quiet for 9s of 10m; 2 of 20 observations',
};

const alert = (over: Partial<Alert>): Alert => ({
  time: '2026-12-01T10:00:05.000Z',
  verdict: 'denied',
  mode: 'enforce',
  source: { service: 'shop/web', workload: 'web-1.shop', ip: '10.244.0.3' },
  destination: { service: 'shop/api', ip: '10.244.0.2', port: 9091 },
  protocol: 'http',
  count: 1,
  reason: 'shop/web egress has no rule for shop/api http/9091',
  side: 'egress',
  ...over,
});

test('the status mirrors the service: state, rounded confidence, reason, edges, generation and conditions', () => {
  const s = nanoSegmentStatus(learning, 3, undefined, T0);
  assert.deepEqual(s, {
    state: 'learning',
    mode: 'learn',
    confidence: 0.667,
    reason: learning.reason,
    edges: 1,
    conditions: [
      {
        type: 'Converged',
        status: 'False',
        observedGeneration: 3,
        lastTransitionTime: '2026-12-01T10:00:00.000Z',
        reason: 'Learning',
        message: learning.reason,
      },
      {
        type: 'Enforcing',
        status: 'False',
        observedGeneration: 3,
        lastTransitionTime: '2026-12-01T10:00:00.000Z',
        reason: 'Learn',
        message: 'mode learn',
      },
    ],
    observedGeneration: 3,
  });
});

test('a condition keeps its transition time until its status flips', () => {
  const first = nanoSegmentStatus(learning, 1, undefined, T0);
  const later = nanoSegmentStatus({ ...learning, reason: 'quiet for 40s' }, 1, first, T0 + 31_000);
  assert.equal(later.conditions[0]!.lastTransitionTime, '2026-12-01T10:00:00.000Z');
  assert.equal(later.conditions[0]!.message, 'quiet for 40s');
  const conv = nanoSegmentStatus({ ...learning, state: 'converged', mode: 'enforce' }, 1, later, T0 + 60_000);
  assert.deepEqual(
    conv.conditions.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime]),
    [
      ['Converged', 'True', 'Converged', '2026-12-01T10:01:00.000Z'],
      ['Enforcing', 'True', 'Enforce', '2026-12-01T10:01:00.000Z'],
    ],
  );
});

test('an alert lands on the service whose policy gave the verdict, and the last one stays until a newer one', () => {
  const egress = lastAlertOf(alert({}));
  assert.deepEqual(egress, {
    service: 'shop/web',
    kind: 'lastDenied',
    entry: {
      time: '2026-12-01T10:00:05.000Z',
      source: 'shop/web',
      destination: 'shop/api:9091/http',
      reason: 'shop/web egress has no rule for shop/api http/9091',
    },
  });
  const ingress = lastAlertOf(alert({ side: 'ingress', verdict: 'would-deny' }));
  assert.equal(ingress?.service, 'shop/api');
  assert.equal(ingress?.kind, 'lastWouldDeny');
  const external = lastAlertOf(
    alert({
      source: { ip: '198.51.100.7' },
      side: 'egress',
      destination: { ip: '203.0.113.9', port: 443, sni: 'x.io' },
    }),
  );
  assert.equal(external, undefined, 'no service caused it: nothing to attribute');

  const s = nanoSegmentStatus({ ...learning, lastDenied: egress!.entry }, 1, undefined, T0);
  assert.deepEqual(s.lastDenied, egress!.entry);
  const kept = nanoSegmentStatus(learning, 1, s, T0 + 5000);
  assert.deepEqual(kept.lastDenied, egress!.entry, 'a restarted control plane keeps the object’s last denial');
});

test('writes: never when equal; changes at once but at most every 2 s; drift only every 30 s', () => {
  const cur = nanoSegmentStatus(learning, 1, undefined, T0);
  assert.equal(writeDue(undefined, cur, undefined, T0), true, 'a status never written');
  assert.equal(writeDue(cur, cur, T0, T0 + 3_600_000), false, 'nothing changed');

  const edge = nanoSegmentStatus({ ...learning, edges: 2 }, 1, cur, T0 + 1000);
  assert.equal(writeDue(cur, edge, T0, T0 + 1000), false, 'within 2 s of the last write');
  assert.equal(writeDue(cur, edge, T0, T0 + 2000), true, 'a new edge');
  const denied = nanoSegmentStatus({ ...learning, lastDenied: lastAlertOf(alert({}))!.entry }, 1, cur, T0 + 2000);
  assert.equal(writeDue(cur, denied, T0, T0 + 2000), true, 'a new denial');
  const gen = nanoSegmentStatus(learning, 2, cur, T0 + 2000);
  assert.equal(writeDue(cur, gen, T0, T0 + 2000), true, 'a new generation of the spec');

  const drift = nanoSegmentStatus({ ...learning, confidence: 0.7, reason: 'quiet for 20s' }, 1, cur, T0 + 10_000);
  assert.equal(writeDue(cur, drift, T0, T0 + 10_000), false, 'confidence and reason alone wait');
  assert.equal(writeDue(cur, drift, T0, T0 + 30_000), true, 'until 30 s passed');
  assert.equal(writeDue(cur, drift, undefined, T0 + 10_000), true, 'or nothing was written by this process');
});

test('the spec outcome: a SpecApplied condition, and observedGeneration only once the generation was acted on', () => {
  const applied = nanoSegmentStatus(
    { ...learning, mode: 'enforce', spec: { generation: 4, state: 'applied', message: 'generation 4: mode applied' } },
    4,
    undefined,
    T0,
  );
  assert.equal(applied.mode, 'enforce');
  assert.equal(applied.observedGeneration, 4);
  assert.deepEqual(applied.conditions[2], {
    type: 'SpecApplied',
    status: 'True',
    observedGeneration: 4,
    lastTransitionTime: '2026-12-01T10:00:00.000Z',
    reason: 'Applied',
    message: 'generation 4: mode applied',
  });
  const refused = nanoSegmentStatus(
    { ...learning, spec: { generation: 5, state: 'refused', message: 'refused: shop/web is monitor by annotation' } },
    5,
    applied,
    T0 + 5000,
  );
  assert.deepEqual(
    [refused.conditions[2]?.status, refused.conditions[2]?.reason, refused.observedGeneration],
    ['False', 'Refused', 5],
  );
  assert.equal(writeDue(applied, refused, T0, T0 + 5000), true, 'a refusal is written at once');
  const pending = nanoSegmentStatus(
    { ...learning, spec: { generation: 6, state: 'pending', message: 'waiting' } },
    6,
    refused,
    T0 + 9000,
  );
  assert.equal(pending.observedGeneration, 5, 'a pending generation is not observed yet');
  assert.equal(pending.conditions[2]?.reason, 'Pending');
});

test('a NanoSegment is named and namespaced as its service', () => {
  assert.deepEqual(segmentRef('shop/web'), { namespace: 'shop', name: 'web' });
});
