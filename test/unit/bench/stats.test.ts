import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abba, added, addedRatio, median, pairedRatio, percentile } from '../../bench/stats.js';

test('median and nearest-rank percentiles', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1
  assert.equal(percentile(xs, 50), 51);
  assert.equal(percentile(xs, 99), 100);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('paired ratios are medians of per-round ratios, so drift between rounds cancels', () => {
  // round 2 ran on a machine twice as slow: both sides doubled, the ratio did not move
  assert.equal(pairedRatio([1.1, 2.2, 1.1], [1, 2, 1]), 1.1);
  assert.throws(() => pairedRatio([1, 2], [1]), /unequal length/);
});

test('added latency: each path minus the baseline of its own round', () => {
  const direct = [0.2, 0.4];
  const nft = [1.2, 1.4]; // adds 1.0 in both rounds
  const ebpf = [1.0, 1.2]; // adds 0.8
  assert.ok(Math.abs(added(nft, direct) - 1.0) < 1e-9);
  assert.ok(Math.abs(addedRatio(ebpf, nft, direct) - 0.8) < 1e-9);
  // a round where the reference adds nothing has no ratio (it would be ±∞): it is left out, not averaged in
  assert.ok(Math.abs(addedRatio([1.0, 0.5], [1.2, 0.5], [0.2, 0.5]) - 0.8) < 1e-9);
  assert.ok(Number.isNaN(addedRatio([1], [0.5], [0.5])));
  assert.throws(() => addedRatio([1], [1, 2], [1]), /unequal length/);
});

test('A B B A: every other round reversed, each variant as often first as last', () => {
  assert.deepEqual(abba(['a', 'b'], 4), [
    ['a', 'b'],
    ['b', 'a'],
    ['a', 'b'],
    ['b', 'a'],
  ]);
  assert.deepEqual(abba(['a', 'b', 'c'], 1), [['a', 'b', 'c']]);
  assert.deepEqual(abba(['a'], 0), []);
  const v = ['x', 'y'];
  abba(v, 2)[1]!.push('z');
  assert.deepEqual(v, ['x', 'y'], 'the caller’s list is not changed');
});
