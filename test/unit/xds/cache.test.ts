import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CDS, EDS, LDS, SnapshotCache, makeSnapshot } from '../../../xds-server/src/xds/index.js';
import type { Snapshot, TypeUrl } from '../../../xds-server/src/xds/index.js';
import { cluster, endpoints, listener } from './fixtures.js';

const s1 = makeSnapshot([cluster('a', { eds: true }), endpoints('a'), listener('l')]);
const s2 = makeSnapshot([cluster('a', { eds: true }), endpoints('a', 1), listener('l')]);

test('a parked watch is answered by setSnapshot, once', () => {
  const cache = new SnapshotCache();
  const fired: Snapshot[] = [];
  cache.watch('n1', CDS, '', (s) => fired.push(s));
  assert.equal(cache.watchCount('n1'), 1);
  cache.setSnapshot('n1', s1);
  cache.setSnapshot('n1', s2);
  assert.deepEqual(fired, [s1]);
  assert.equal(cache.watchCount(), 0);
  assert.equal(cache.getSnapshot('n1'), s2);
});

test('a watch stays parked while its type keeps the known version, and only its node answers it', () => {
  const cache = new SnapshotCache();
  cache.setSnapshot('n1', s1);
  const fired: TypeUrl[] = [];
  cache.watch('n1', CDS, s1.types[CDS].version, () => fired.push(CDS));
  cache.watch('n1', EDS, s1.types[EDS].version, () => fired.push(EDS));
  cache.watch('n2', EDS, '', () => fired.push(LDS));
  cache.setSnapshot('n1', s2); // only EDS changed
  assert.deepEqual(fired, [EDS]);
  assert.equal(cache.watchCount('n1'), 1);
});

test('watches fire in response order, and cancelled ones do not fire', () => {
  const cache = new SnapshotCache();
  const fired: TypeUrl[] = [];
  for (const t of [LDS, EDS, CDS]) cache.watch('n', t, '', () => fired.push(t));
  const cancel = cache.watch('n', CDS, '', () => fired.push('cancelled' as TypeUrl));
  cancel();
  cache.setSnapshot('n', s1);
  assert.deepEqual(fired, [CDS, EDS, LDS]);
});

test('a watch on an already newer snapshot fires on the next microtask', async () => {
  const cache = new SnapshotCache();
  cache.setSnapshot('n', s1);
  let fired = 0;
  cache.watch('n', CDS, 'old', () => fired++);
  assert.equal(fired, 0);
  await Promise.resolve();
  assert.equal(fired, 1);
});

test('an inconsistent snapshot is rejected with errors and the previous one kept', () => {
  const cache = new SnapshotCache();
  cache.setSnapshot('n', s1);
  let fired = 0;
  cache.watch('n', CDS, s1.types[CDS].version, () => fired++);
  const r = cache.setSnapshot('n', makeSnapshot([cluster('b', { eds: true })]));
  assert.equal(r.valid, false);
  if (!r.valid) assert.equal(r.errors[0]?.path, 'CDS/b.deps[0]');
  assert.equal(cache.getSnapshot('n'), s1);
  assert.equal(fired, 0);
});

test('clear forgets the snapshot but keeps parked watches', () => {
  const cache = new SnapshotCache();
  cache.setSnapshot('n', s1);
  let fired = 0;
  cache.watch('n', CDS, s1.types[CDS].version, () => fired++);
  cache.clear('n');
  assert.equal(cache.getSnapshot('n'), undefined);
  cache.setSnapshot('n', makeSnapshot([cluster('z')]));
  assert.equal(fired, 1);
});

test('1,000 parked watches are answered quickly', () => {
  const cache = new SnapshotCache();
  let fired = 0;
  for (let i = 0; i < 1000; i++) for (const t of [CDS, EDS, LDS]) cache.watch(`node-${i}`, t, '', () => fired++);
  const start = performance.now();
  for (let i = 0; i < 1000; i++) cache.setSnapshot(`node-${i}`, s1);
  const ms = performance.now() - start;
  assert.equal(fired, 3000);
  assert.ok(ms < 500, `took ${ms}ms`);
});
