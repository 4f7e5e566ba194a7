import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogramDelta, histogramQuantile, readHistogram } from '../../bench/prom-histogram.js';

// the shape of the apiserver's admission webhook histogram (its buckets), two webhooks, both `rejected` values
const M = 'apiserver_admission_webhook_admission_duration_seconds';
const series = (name: string, rejected: string, counts: number[], sum: number) => {
  const les = ['0.005', '0.025', '0.1', '0.5', '1', '2.5', '10', '25', '+Inf'];
  const l = `name="${name}",operation="CREATE",rejected="${rejected}",type="admit"`;
  return [
    ...les.map((le, i) => `${M}_bucket{${l},le="${le}"} ${counts[i]}`),
    `${M}_sum{${l}} ${sum}`,
    `${M}_count{${l}} ${counts.at(-1)}`,
  ];
};
const text = (ours: number[], sum: number) =>
  [
    `# HELP ${M} Admission webhook latency`,
    `# TYPE ${M} histogram`,
    ...series('inject.nanoseg.io', 'false', ours, sum),
    ...series('inject.nanoseg.io', 'true', [0, 1, 1, 1, 1, 1, 1, 1, 1], 0.01),
    ...series('other.example.com', 'false', [0, 0, 0, 0, 0, 0, 0, 0, 50], 5000),
    `${M}_count_total 3`, // another metric sharing the prefix
  ].join('\n');

test('reads one webhook’s histogram, summed over the series that match', () => {
  const h = readHistogram(text([10, 90, 100, 100, 100, 100, 100, 100, 100], 1.5), M, {
    name: 'inject.nanoseg.io',
    type: 'admit',
  });
  assert.equal(h.count, 101);
  assert.equal(h.sum, 1.51);
  assert.deepEqual(
    h.buckets.map((b) => [b.le, b.count]),
    [
      [0.005, 10],
      [0.025, 91],
      [0.1, 101],
      [0.5, 101],
      [1, 101],
      [2.5, 101],
      [10, 101],
      [25, 101],
      [Infinity, 101],
    ],
  );
  assert.equal(readHistogram(text([0, 0, 0, 0, 0, 0, 0, 0, 0], 0), M, { name: 'nothing' }).buckets.length, 0);
});

test('the difference of two scrapes, and quantiles interpolated in their bucket as histogram_quantile does', () => {
  const labels = { name: 'inject.nanoseg.io', rejected: 'false' };
  const a = readHistogram(text([10, 10, 10, 10, 10, 10, 10, 10, 10], 0.02), M, labels);
  const b = readHistogram(text([60, 110, 110, 110, 110, 110, 110, 110, 110], 0.72), M, labels);
  const d = histogramDelta(a, b);
  assert.equal(d.count, 100);
  assert.ok(Math.abs(d.sum - 0.7) < 1e-9);
  // 50 in (0, 5 ms], 50 in (5, 25 ms]: the median is the end of the first bucket, p99 is 49/50 into the second
  assert.deepEqual(histogramQuantile(d, 0.5), { estimate: 0.005, bound: 0.005 });
  const p99 = histogramQuantile(d, 0.99);
  assert.equal(p99.bound, 0.025);
  assert.ok(Math.abs(p99.estimate - (0.005 + 0.02 * (49 / 50))) < 1e-12);
  // everything in +Inf: the largest finite bound, and no bound
  const slow = readHistogram(text([0, 0, 0, 0, 0, 0, 0, 0, 5], 500), M, labels);
  assert.deepEqual(histogramQuantile(slow, 0.99), { estimate: 25, bound: Infinity });
  assert.ok(Number.isNaN(histogramQuantile(histogramDelta(a, a), 0.99).estimate));
});
