import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateInventory } from '../../../xds-server/src/inventory/validate.js';
import { parseDuration, formatDuration } from '../../../xds-server/src/util/duration.js';

test('a valid inventory passes and keeps its fields', () => {
  const r = validateInventory({
    workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [8080] }],
    externals: [{ name: 'payments', address: '203.0.113.10' }],
    vips: [{ service: 'shop/web', address: '10.213.255.1' }],
  });
  assert.equal(r.valid, true);
  assert.equal(r.valid && r.result.workloads[0]!.ports[0], 8080);
});

test('every problem is reported with the path of the field', () => {
  const r = validateInventory({
    workloads: [{ name: '', service: 'Shop', addresses: ['300.1.1.1'], ports: [0], extra: 1 }],
    externals: 'no',
    vips: [{ service: 'shop/web', address: 'x' }],
    bogus: true,
  });
  assert.equal(r.valid, false);
  const paths = !r.valid ? r.errors.map((e) => e.path).sort() : [];
  assert.deepEqual(paths, [
    'bogus',
    'externals',
    'vips[0].address',
    'workloads[0].addresses[0]',
    'workloads[0].extra',
    'workloads[0].name',
    'workloads[0].ports[0]',
    'workloads[0].service',
  ]);
  assert.equal(validateInventory(null).valid, false);
  assert.equal(validateInventory([]).valid, false);
});

test('durations parse and print', () => {
  assert.deepEqual(parseDuration('20s'), { ok: true, ms: 20_000 });
  assert.deepEqual(parseDuration('1h30m'), { ok: true, ms: 5_400_000 });
  assert.deepEqual(parseDuration('500ms'), { ok: true, ms: 500 });
  for (const bad of ['', '10', 's', '-5s', '1d', '5 s']) assert.equal(parseDuration(bad).ok, false, bad);
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(0), '0s');
});
