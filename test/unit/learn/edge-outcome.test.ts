// Per-edge latency and errors: the histogram (learn/latency.ts), the definition of a failed request
// (learn/outcome.ts), the learner counting one request once across its records, and the metric rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LATENCY_BOUNDS_MS,
  LATENCY_BUCKETS,
  PROM_BOUNDS_MS,
  bucketOf,
  emptyLatency,
  latencyCount,
  latencyQuantile,
  mergeLatency,
  promBuckets,
  recordLatency,
  restoreLatency,
} from '../../../xds-server/src/learn/latency.js';
import { ERROR_FLAG_BITS, logEntryFailed, spanFlagsFailed } from '../../../xds-server/src/learn/outcome.js';
import { OTHER_EDGES, edgeMetricRows, rowHistogram } from '../../../xds-server/src/learn/edge-metrics.js';
import { Learner } from '../../../xds-server/src/learn/index.js';
import { outcome } from '../../../xds-server/src/policy/document.js';
import type { Observation } from '../../../xds-server/src/model/index.js';
import { prng } from '../../support/prng.js';

test('bounds: 10 per decade from 0.1 ms to 80 s, each Prometheus bound among them, a bucket per bound + overflow', () => {
  assert.equal(LATENCY_BOUNDS_MS[0], 0.1);
  assert.equal(LATENCY_BOUNDS_MS.at(-1), 80_000);
  assert.equal(LATENCY_BUCKETS, 61);
  for (let i = 1; i < LATENCY_BOUNDS_MS.length; i++) {
    const r = LATENCY_BOUNDS_MS[i]! / LATENCY_BOUNDS_MS[i - 1]!;
    assert.ok(r > 1.2 && r < 1.3, `step ${LATENCY_BOUNDS_MS[i - 1]} → ${LATENCY_BOUNDS_MS[i]}`);
  }
  for (const b of PROM_BOUNDS_MS) assert.ok(LATENCY_BOUNDS_MS.includes(b), `${b} ms is a bound`);
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(0.1), 0, 'bounds are inclusive');
  assert.equal(bucketOf(0.1001), 1);
  assert.equal(LATENCY_BOUNDS_MS[bucketOf(4)], 4);
  assert.equal(bucketOf(1e9), LATENCY_BUCKETS - 1, 'above the last bound: the overflow bucket');
});

test('quantiles of known distributions are within one bucket width (26 %), usually far closer', () => {
  const R = prng(7);
  for (const [name, draw] of [
    ['uniform 1-100 ms', () => 1 + 99 * R()],
    ['log-uniform 0.2 ms - 20 s', () => 0.2 * 10 ** (5 * R())],
    ['constant 3 ms', () => 3],
  ] as const) {
    const h = emptyLatency();
    const xs: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const x = draw();
      xs.push(x);
      recordLatency(h, x);
    }
    xs.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = xs[Math.ceil(q * xs.length) - 1]!;
      const est = latencyQuantile(h, q)!;
      assert.ok(Math.abs(est - exact) / exact < 0.26, `${name} p${q * 100}: ${est} vs ${exact}`);
    }
    assert.equal(latencyCount(h), 20_000);
    assert.ok(Math.abs(h.sumMs - xs.reduce((a, b) => a + b, 0)) < 1e-6 * h.sumMs);
  }
  assert.equal(latencyQuantile(emptyLatency(), 0.5), undefined, 'nothing measured: no quantile');
  const over = emptyLatency();
  recordLatency(over, 200_000);
  assert.equal(latencyQuantile(over, 0.99), 200_000, 'the overflow bucket ends at the largest duration seen');
});

test('histograms merge by adding counts, and the Prometheus buckets are cumulative', () => {
  const a = emptyLatency();
  const b = emptyLatency();
  for (const x of [0.5, 3, 3, 40]) recordLatency(a, x);
  for (const x of [3, 700, 90_000]) recordLatency(b, x);
  assert.equal(recordLatency(a, -1), false, 'a negative duration is no measurement');
  assert.equal(recordLatency(a, Number.NaN), false);
  mergeLatency(a, b);
  assert.equal(latencyCount(a), 7);
  assert.equal(a.maxMs, 90_000);
  assert.equal(a.counts.length, LATENCY_BUCKETS, 'merging never grows a histogram');
  //                      1  2.5 5  10 25 50 100 250 500 1000 2500 5000 10000 +Inf
  assert.deepEqual(promBuckets(a), [1, 1, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7]);
});

test('a stored histogram of another layout is dropped on restore, a good one copied', () => {
  const h = emptyLatency();
  recordLatency(h, 5);
  const back = restoreLatency(JSON.parse(JSON.stringify(h)));
  assert.deepEqual(back, h);
  assert.notEqual(back!.counts, h.counts);
  assert.equal(restoreLatency({ counts: [1, 2, 3], sumMs: 1, maxMs: 1 }), undefined);
  assert.equal(restoreLatency({ ...h, counts: h.counts.map(() => -1) }), undefined);
  assert.equal(restoreLatency('x'), undefined);
  assert.equal(restoreLatency(undefined), undefined);
});

test('what makes a request an error: 5xx, gRPC status not OK, upstream failure flags; not 4xx nor a client gone', () => {
  assert.equal(logEntryFailed(503, undefined, undefined), true);
  assert.equal(logEntryFailed(500, undefined, 0), true);
  assert.equal(logEntryFailed(404, undefined, 0), false);
  assert.equal(logEntryFailed(200, 0, 0), false);
  assert.equal(logEntryFailed(200, 14, 0), true, 'gRPC UNAVAILABLE with HTTP 200');
  const bit = (field: number) => 1 << (field - 1);
  assert.equal(logEntryFailed(undefined, undefined, bit(6)), true, 'upstream connection failure (UF)');
  assert.equal(logEntryFailed(undefined, undefined, bit(2)), true, 'no healthy upstream (UH)');
  assert.equal(logEntryFailed(undefined, undefined, bit(15)), false, 'downstream connection termination (DC)');
  assert.equal(logEntryFailed(0, undefined, bit(28)), false, 'downstream remote reset (DR)');
  assert.equal(ERROR_FLAG_BITS & bit(13), 0, 'an RBAC denial (unauthorized) is an alert, never an error');
  assert.equal(spanFlagsFailed('UF,URX'), true);
  assert.equal(spanFlagsFailed('-'), false);
  assert.equal(spanFlagsFailed('DC'), false);
  assert.equal(spanFlagsFailed(undefined), false);
});

const RID = 'http|0f1e2d3c-4b5a-x978-8a9b-0c1d2e3f4a5b';
function request(side: 'outbound' | 'inbound', o: Partial<Observation> = {}): Observation {
  return {
    time: 1_700_000_000_000,
    side,
    reporter: side === 'outbound' ? 'web-1.shop' : 'api-1.shop',
    source: { service: 'shop/web' },
    destination: { service: 'shop/api' },
    port: 9090,
    protocol: 'http',
    bytesSent: 0,
    bytesReceived: 0,
    dedupKey: RID,
    ...o,
  };
}

test('one request seen four times counts once, with the client side duration, and fails once', () => {
  const l = new Learner();
  // the server's span arrives first, then its log entry, then the client's log entry and span
  l.observe(request('inbound', { durationMs: 2, error: true }));
  let ev = l.edges()[0]!.evidence;
  assert.equal(latencyQuantile(ev.latency!, 0.5)! <= 2, true, 'the server side stands in for now');
  l.observe(request('inbound', { durationMs: 2.1, error: true }));
  l.observe(request('outbound', { durationMs: 9, error: true }));
  l.observe(request('outbound', { durationMs: 9.2 }));
  ev = l.edges()[0]!.evidence;
  assert.equal(ev.count, 1);
  assert.equal(ev.errors, 1);
  assert.equal(latencyCount(ev.latency!), 1, 'one request, one duration');
  assert.equal(ev.latency!.sumMs, 9, "the client's first record replaced the server's");
  assert.equal(LATENCY_BOUNDS_MS[ev.latency!.counts.findIndex((c) => c > 0)], 10);

  // a failure only the client saw (the server never answered) is still an error of the edge, once
  l.observe(request('inbound', { dedupKey: 'http|b', durationMs: 1 }));
  l.observe(request('outbound', { dedupKey: 'http|b', durationMs: 1000, error: true }));
  l.observe(request('outbound', { dedupKey: 'http|b', error: true }));
  // a request with no duration anywhere counts but has no latency
  l.observe(request('outbound', { dedupKey: 'http|c' }));
  ev = l.edges()[0]!.evidence;
  assert.equal(ev.count, 3);
  assert.equal(ev.errors, 2);
  assert.equal(latencyCount(ev.latency!), 2);
  assert.equal(ev.latency!.sumMs, 1009);
  assert.deepEqual(outcome(ev).errorRate, 0.6667);
});

test('a failed TCP connection is an error without a latency; restarts keep the histogram', () => {
  const l = new Learner();
  const tcp = { protocol: 'tcp' as const, port: 5432, destination: { service: 'shop/db' } };
  l.observe(request('outbound', { ...tcp, dedupKey: 'tcp|a', error: true }));
  l.observe(request('outbound', { ...tcp, dedupKey: 'tcp|b' }));
  l.observe(request('outbound', { durationMs: 12 }));
  const edges = l.edges();
  const db = edges.find((e) => e.port === 5432)!.evidence;
  assert.deepEqual([db.count, db.errors, db.latency], [2, 1, undefined]);

  const restarted = new Learner();
  restarted.load(JSON.parse(JSON.stringify(edges)));
  assert.deepEqual(restarted.edges(), edges, 'errors and latency are evidence: stored and restored');
  const broken = structuredClone(edges).map((e) => ({
    ...e,
    evidence: { ...e.evidence, latency: { counts: [1], sumMs: 1, maxMs: 1 }, errors: -3 },
  }));
  restarted.load(broken);
  for (const e of restarted.edges()) {
    assert.equal(e.evidence.latency, undefined, 'a histogram of another layout starts afresh');
    assert.equal(e.evidence.errors, undefined);
  }
  // the copies handed out are copies
  const copy = l.edges().find((e) => e.port === 9090)!;
  copy.evidence.latency!.counts.fill(0);
  assert.equal(latencyCount(l.edges().find((e) => e.port === 9090)!.evidence.latency!), 1);
});

test('metric rows: an own label set for the first edges, everything beyond summed under other', () => {
  const l = new Learner();
  for (let i = 0; i < 5; i++) {
    l.observe(request('outbound', { dedupKey: `http|${i}`, port: 9000 + i, durationMs: 10 * (i + 1), error: i === 4 }));
  }
  l.observe(request('outbound', { dedupKey: 'x', port: 5432, protocol: 'tcp', destination: { cidr: '192.0.2.1/32' } }));
  const rows = edgeMetricRows(l.visitEdges(), 3);
  assert.equal(rows.length, 4);
  assert.deepEqual(rows[0]!.labels, { source: 'shop/web', destination: 'shop/api', port: '9000', protocol: 'http' });
  const other = rows[3]!;
  assert.deepEqual(other.labels, OTHER_EDGES);
  assert.deepEqual([other.requests, other.errors], [3, 1]);
  const h = rowHistogram(other)!;
  assert.equal(h.count, 2, 'two of the three other edges measured a duration (tcp has none)');
  assert.equal(h.sumSeconds, 0.09);
  assert.deepEqual(
    edgeMetricRows(l.visitEdges()).map((r) => r.labels.destination),
    ['shop/api', 'shop/api', 'shop/api', 'shop/api', 'shop/api', '192.0.2.1/32'],
  );
});

test('quantiles shown to 0.01 ms never read above the slowest request', () => {
  for (const slowest of [1.237, 0.996, 45.678, 0.107]) {
    const latency = emptyLatency();
    recordLatency(latency, slowest); // one request: every quantile is that request
    const ev = { firstSeen: 0, lastSeen: 0, count: 1, bytesSent: 0, bytesReceived: 0, exampleWorkloads: [], latency };
    assert.ok(Number(latencyQuantile(latency, 0.99)!.toFixed(2)) > slowest, `${slowest}: rounding alone goes up`);
    const shown = outcome(ev).latency!;
    assert.ok(shown.p99Ms <= slowest && shown.p50Ms <= shown.p99Ms, `${slowest}: ${JSON.stringify(shown)}`);
    assert.equal(shown.p99Ms, Math.floor(slowest * 100) / 100);
  }
});
