import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CDS,
  ECDS,
  EDS,
  LDS,
  RDS,
  checkConsistency,
  makeSnapshot,
  resource,
} from '../../../xds-server/src/xds/index.js';
import { cluster, endpoints, listener, routes } from './fixtures.js';

test('versions derive from content: same content, same version, whatever the order', () => {
  const a = makeSnapshot([cluster('a'), cluster('b'), listener('l')]);
  const b = makeSnapshot([listener('l'), cluster('b'), cluster('a')]);
  for (const t of [CDS, EDS, LDS, RDS, ECDS] as const) assert.equal(a.types[t].version, b.types[t].version);
  const c = makeSnapshot([cluster('a', { tag: 1 }), cluster('b'), listener('l')]);
  assert.notEqual(c.types[CDS].version, a.types[CDS].version);
  assert.equal(c.types[LDS].version, a.types[LDS].version);
  assert.equal(a.types[CDS].resources.get('a')?.body.length, cluster('a').body.length);
  assert.ok(Object.isFrozen(a));
});

test('a resource hash is a short sha256 of its body', () => {
  const r = cluster('a');
  assert.match(r.hash, /^[0-9a-f]{16}$/);
  assert.equal(cluster('a').hash, r.hash);
  assert.notEqual(cluster('a', { tag: 2 }).hash, r.hash);
});

test('a consistent snapshot is valid', () => {
  const s = makeSnapshot([
    cluster('a', { eds: true }),
    endpoints('a'),
    listener('l', 'r'),
    routes('r'),
    resource(ECDS, 'f', Buffer.from('x')),
    resource(LDS, 'l2', Buffer.from(''), [{ typeUrl: ECDS, name: 'f' }]),
  ]);
  const r = checkConsistency(s);
  assert.equal(r.valid, true);
  if (r.valid) assert.equal(r.result, s);
});

test('missing dependencies, orphans and duplicates are reported with paths', () => {
  const r = checkConsistency(
    makeSnapshot([
      cluster('a', { eds: true }),
      listener('l', 'r'),
      endpoints('orphan'),
      routes('lonely'),
      cluster('d'),
      cluster('d', { tag: 1 }),
    ]),
  );
  assert.equal(r.valid, false);
  if (r.valid) return;
  assert.deepEqual(r.errors, [
    { path: 'CDS/d', message: 'defined more than once' },
    { path: 'CDS/a.deps[0]', message: 'references EDS/a, which is not in the snapshot' },
    { path: 'LDS/l.deps[0]', message: 'references RDS/r, which is not in the snapshot' },
    { path: 'EDS/orphan', message: 'not referenced by any resource' },
    { path: 'RDS/lonely', message: 'not referenced by any resource' },
  ]);
});
