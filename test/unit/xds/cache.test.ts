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

test('clearGroup forgets the snapshot but keeps parked watches', () => {
  const cache = new SnapshotCache();
  cache.setSnapshot('n', s1);
  let fired = 0;
  cache.watch('n', CDS, s1.types[CDS].version, () => fired++);
  cache.clearGroup('n');
  assert.equal(cache.getSnapshot('n'), undefined);
  cache.setSnapshot('n', makeSnapshot([cluster('z')]));
  assert.equal(fired, 1);
});

test('the nodes of a group share its snapshot: one set answers all of them', () => {
  const cache = new SnapshotCache();
  const fired: string[] = [];
  for (const n of ['web-1', 'web-2', 'api-1']) {
    cache.assign(n, n.startsWith('web') ? 'shop/web' : 'shop/api');
    cache.watch(n, CDS, '', () => fired.push(n));
  }
  cache.setSnapshot('shop/web', s1);
  assert.deepEqual(fired.sort(), ['web-1', 'web-2']);
  assert.equal(cache.snapshotOf('web-1'), s1);
  assert.equal(cache.snapshotOf('api-1'), undefined);
  assert.deepEqual([...cache.members('shop/web')].sort(), ['web-1', 'web-2']);
});

test('a node moved to another group is answered from it at once; a node in no group gets nothing', () => {
  const cache = new SnapshotCache();
  cache.setSnapshot('shop/web', s1);
  cache.setSnapshot('shop/api', s2);
  cache.assign('pod', undefined);
  let got: Snapshot | undefined;
  cache.watch('pod', EDS, '', (s) => (got = s));
  cache.setSnapshot('pod', s1);
  assert.equal(got, undefined, 'held: not its own group either');
  cache.assign('pod', 'shop/api');
  assert.equal(got, s2);
  cache.watch('pod', EDS, s2.types[EDS].version, (s) => (got = s));
  cache.assign('pod', 'shop/web');
  assert.equal(got, s1);
  cache.forget('pod');
  assert.equal(cache.watchCount('pod'), 0);
  assert.deepEqual(cache.members('shop/web'), []);
});

test('1,000 parked watches are all answered, each once', () => {
  const cache = new SnapshotCache();
  let fired = 0;
  for (let i = 0; i < 1000; i++) for (const t of [CDS, EDS, LDS]) cache.watch(`node-${i}`, t, '', () => fired++);
  for (let i = 0; i < 1000; i++) cache.setSnapshot(`node-${i}`, s1);
  for (let i = 0; i < 1000; i++) cache.setSnapshot(`node-${i}`, s2);
  assert.equal(fired, 3000);
  assert.equal(cache.watchCount(), 0);
});
