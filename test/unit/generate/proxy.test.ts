import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateProxy, render } from '../../../xds-server/src/generate/index.js';
import { makeSnapshot, checkConsistency, resource, CDS, EDS, LDS, RDS, ECDS } from '../../../xds-server/src/xds/index.js';
import type { Inventory } from '../../../xds-server/src/model/index.js';
import { assertGolden } from '../../support/golden.js';

const INV: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [8080] },
    { name: 'web-2', service: 'shop/web', addresses: ['10.213.0.12'], ports: [8080] },
    { name: 'db-1', service: 'shop/db', addresses: ['10.213.0.21'], ports: [5432] },
    { name: 'loadgen', service: 'shop/loadgen', addresses: ['10.213.0.30'], ports: [] },
  ],
  externals: [{ name: 'payments', address: '203.0.113.10' }],
  vips: [{ service: 'shop/web', address: '10.213.255.1' }, { service: 'shop/db', address: '10.213.255.2' }],
};

const KIND = { cluster: CDS, endpoints: EDS, listener: LDS, route: RDS, extension: ECDS } as const;

function rendered(inv: Inventory) {
  return generateProxy({ nodeId: 'loadgen.shop', service: 'shop/loadgen' }, inv)
    .map((r) => ({ name: r.name, deps: r.deps, config: render(r.typeUrl, r.body) }));
}

test('learn-mode sidecar config matches the golden file', () => {
  assertGolden('generate/learn-sidecar.json', rendered(INV));
  assertGolden('generate/learn-sidecar-empty.json', rendered({ workloads: [], externals: [], vips: [] }));
});

test('generation is deterministic: the same input gives byte-identical resources', () => {
  const a = generateProxy({ nodeId: 'loadgen.shop', service: 'shop/loadgen' }, INV);
  const b = generateProxy({ nodeId: 'loadgen.shop', service: 'shop/loadgen' }, { ...INV, workloads: [...INV.workloads].reverse(), vips: [...INV.vips].reverse() });
  assert.deepEqual(a.map((r) => [r.name, r.body.toString('hex')]), b.map((r) => [r.name, r.body.toString('hex')]));
});

test('every generated snapshot passes the consistency check (each EDS/RDS name referenced, each dep present)', () => {
  const gen = generateProxy({ nodeId: 'web-1.shop', service: 'shop/web' }, INV);
  const snap = makeSnapshot(gen.map((g) => resource(KIND[g.kind], g.name, g.body, g.deps.map((d) => ({ typeUrl: KIND[d.kind], name: d.name })))));
  const r = checkConsistency(snap);
  assert.equal(r.valid, true, JSON.stringify(!r.valid && r.errors));
});

test('a VIP service gets an EDS cluster per port with every replica as endpoint', () => {
  const gen = generateProxy({ nodeId: 'loadgen.shop', service: 'shop/loadgen' }, INV);
  const eds = gen.find((g) => g.kind === 'endpoints' && g.name === 'outbound|8080||shop/web');
  assert.ok(eds);
  const text = JSON.stringify(render(eds.typeUrl, eds.body));
  assert.match(text, /10\.213\.0\.11/);
  assert.match(text, /10\.213\.0\.12/);
  assert.ok(gen.some((g) => g.kind === 'cluster' && g.name === 'outbound|5432||shop/db'));
  // a service without declared ports gets no VIP routing
  assert.ok(!gen.some((g) => g.name.includes('shop/loadgen')));
});
