import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DedupGeneration, DedupTable, hashKey } from '../../../xds-server/src/learn/dedup-table.js';

test('key hashes: 1,000,000 keys shaped like real dedup keys give 1,000,000 distinct 64-bit hashes', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 500_000; i++) {
    const tcp = hashKey(`tcp|10.1.${(i >> 8) & 255}.${i & 255}:${32768 + (i % 28000)}>10.2.0.${i % 200}:8080`);
    seen.add(`${tcp.a}:${tcp.b}`);
    const http = hashKey(
      `http|${i.toString(16).padStart(8, '0')}-6b1d-4c4e-9a2f-${((i * 2654435761) >>> 0).toString(16).padStart(12, '0')}`,
    );
    seen.add(`${http.a}:${http.b}`);
  }
  assert.equal(seen.size, 1_000_000);
  const e = hashKey('');
  assert.ok(e.a !== 0 || e.b !== 0, 'the empty key is not the empty-slot marker');
});

test('a generation finds what it holds, overwrites in place, and forgets everything on clear', () => {
  const g = new DedupGeneration(100);
  assert.ok(g.capacity >= 200);
  const keys = Array.from({ length: 100 }, (_, i) => hashKey(`k${i}`));
  keys.forEach((k, i) => g.set(k.a, k.b, i, i * 10, i * 20, 1000 + i));
  assert.equal(g.size, 100);
  keys.forEach((k, i) => {
    const s = g.find(k.a, k.b);
    assert.ok(s >= 0, `k${i} found`);
    assert.deepEqual([g.edge[s], g.sent[s], g.received[s], g.touched[s]], [i, i * 10, i * 20, 1000 + i]);
  });
  g.set(keys[5]!.a, keys[5]!.b, 99, 1, 2, 3);
  assert.equal(g.size, 100, 'an update does not add');
  assert.equal(g.edge[g.find(keys[5]!.a, keys[5]!.b)], 99);
  const absent = hashKey('not there');
  assert.equal(g.find(absent.a, absent.b), -1);
  g.clear();
  assert.equal(g.size, 0);
  assert.equal(g.find(keys[0]!.a, keys[0]!.b), -1);
});

test('the table remembers a key for the TTL, stays within its bound, and keeps refreshed keys across rotations', () => {
  const t = new DedupTable(10, 1000);
  assert.equal(t.lookup('a', 0), false);
  t.set(7, 100, 200, 0);
  assert.equal(t.lookup('a', 999), true);
  assert.equal(t.hit!.edge[t.slot], 7);
  assert.equal(t.hit!.sent[t.slot], 100);
  assert.equal(t.lookup('a', 1001), false, 'past the TTL');

  // 100 distinct keys: never more than the bound remembered
  for (let i = 0; i < 100; i++) {
    assert.equal(t.lookup(`k${i}`, 2000), false);
    t.set(i, 0, 0, 2000);
    assert.ok(t.size <= 10, `size ${t.size} after ${i + 1} keys`);
  }
  // a key refreshed on every lookup survives any number of rotations
  const u = new DedupTable(10, 60_000);
  u.lookup('keep', 0);
  u.set(1, 0, 0, 0);
  for (let i = 0; i < 100; i++) {
    u.lookup(`x${i}`, i);
    u.set(2, 0, 0, i);
    assert.equal(u.lookup('keep', i), true, `still remembered after ${i + 1} other keys`);
    u.set(1, 0, 0, i);
  }
  u.clear();
  assert.equal(u.size, 0);
  assert.equal(u.lookup('keep', 100), false);
});
