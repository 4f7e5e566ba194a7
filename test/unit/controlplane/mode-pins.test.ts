// The mode annotation (`nanoseg.io/mode` on a workload): modeAnnotations() reads the pins (pure), and the policy
// controller applies them and refuses an API change that would override one, naming the annotation; auto-promotion
// leaves pinned services alone; a pin that goes away leaves the mode as it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../support/harness.js';
import { modeAnnotations } from '../../../xds-server/src/inventory/kubernetes/modes.js';
import { RecentActors } from '../../../xds-server/src/controllers/recent-actors.js';

const meta = (namespace: string, name: string, annotations?: Record<string, string>) => ({
  metadata: { namespace, name, ...(annotations && { annotations }) },
});

test('modeAnnotations: each annotated workload pins its service; bad values are reported, not pinned', () => {
  const r = modeAnnotations([
    { kind: 'Deployment', ...meta('shop', 'web', { 'nanoseg.io/mode': 'enforce' }) },
    { kind: 'StatefulSet', ...meta('data', 'db', { 'nanoseg.io/mode': ' monitor ' }) },
    { kind: 'CronJob', ...meta('shop', 'report', { 'nanoseg.io/mode': 'block' }) },
    { kind: 'DaemonSet', ...meta('shop', 'agent') },
  ]);
  assert.deepEqual(
    [...r.pins],
    [
      ['data/db', { mode: 'monitor', by: 'annotation nanoseg.io/mode=monitor on StatefulSet data/db' }],
      ['shop/web', { mode: 'enforce', by: 'annotation nanoseg.io/mode=enforce on Deployment shop/web' }],
    ],
  );
  assert.deepEqual(r.invalid, [{ service: 'shop/report', value: 'block', on: 'CronJob shop/report' }]);
});

const INVENTORY = {
  workloads: [
    { name: 'web-1.shop', service: 'shop/web', addresses: ['10.244.0.11'], ports: [8080] },
    { name: 'api-1.shop', service: 'shop/api', addresses: ['10.244.0.12'], ports: [9090] },
  ],
  externals: [],
  vips: [],
};

test('a pinned mode is applied and audited; the API cannot override it; removing the pin frees the mode', async (t) => {
  const h = await Harness.open();
  t.after(() => h.close());
  h.api.putInventory('kubernetes', INVENTORY);
  await h.settle();
  const pins = modeAnnotations([{ kind: 'Deployment', ...meta('shop', 'web', { 'nanoseg.io/mode': 'monitor' }) }]).pins;
  h.core.policy.syncPins(pins, 'kubernetes');
  assert.equal(h.core.policy.modeOf('shop/web'), 'monitor');
  const audit = h.api.audit(0).filter((e) => e.target === 'shop/web');
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.actor, 'kubernetes (annotation nanoseg.io/mode=monitor on Deployment shop/web)');

  const one = h.core.policy.setMode('shop/web', 'enforce', 'alice@host');
  assert.ok(!one.ok);
  assert.equal(one.error.kind, 'conflict');
  assert.match(
    one.error.message,
    /shop\/web is monitor by annotation nanoseg.io\/mode=monitor on Deployment shop\/web/,
  );
  assert.equal(h.core.policy.modeOf('shop/web'), 'monitor', 'a refused change changes nothing');
  assert.ok(h.core.policy.setMode('shop/web', 'monitor', 'alice@host').ok, 'the same mode is no conflict');
  const all = h.core.policy.setAllModes('enforce', 'alice@host');
  assert.ok(!all.ok, '--all would override the pin');
  assert.equal(h.core.policy.modeOf('shop/api'), 'learn', 'and changes nothing either');
  assert.ok(h.core.policy.setMode('shop/api', 'enforce', 'alice@host').ok, 'unpinned services are free');

  h.core.policy.syncPins(new Map(), 'kubernetes');
  assert.equal(h.core.policy.modeOf('shop/web'), 'monitor', 'the mode stays when the annotation goes');
  assert.ok(h.core.policy.setMode('shop/web', 'enforce', 'alice@host').ok);
});

test('a pin applied with the user the webhook saw annotating is audited with that user', async (t) => {
  const h = await Harness.open();
  t.after(() => h.close());
  h.api.putInventory('kubernetes', INVENTORY);
  await h.settle();
  const actors = new RecentActors();
  actors.remember(
    'shop/web|enforce',
    'kubernetes user alice (annotation nanoseg.io/mode=enforce on Deployment shop/web)',
    0,
  );
  const pins = modeAnnotations([{ kind: 'Deployment', ...meta('shop', 'web', { 'nanoseg.io/mode': 'enforce' }) }]).pins;
  h.core.policy.syncPins(pins, 'kubernetes', (s, mode) => actors.take(`${s}|${mode}`, 1_000));
  const audit = h.api.audit(0).filter((e) => e.target === 'shop/web');
  assert.deepEqual(
    audit.map((e) => e.actor),
    ['kubernetes user alice (annotation nanoseg.io/mode=enforce on Deployment shop/web)'],
  );
});

test('recent actors: taken once, forgotten after their time, the oldest dropped past the bound', () => {
  const a = new RecentActors(1_000);
  a.remember('k', 'alice', 0);
  assert.equal(a.take('k', 999), 'alice');
  assert.equal(a.take('k', 999), undefined, 'taken once');
  a.remember('k', 'bob', 0);
  assert.equal(a.take('k', 1_000), undefined, 'too old');
  a.remember('k', 'carol', 0);
  a.remember('k', 'dave', 10);
  assert.equal(a.take('k', 20), 'dave', 'the latest wins');
  for (let i = 0; i <= 10_000; i++) a.remember(`n${i}`, 'x', 0);
  assert.equal(a.take('n0', 1), undefined, 'the oldest went past 10,000 keys');
  assert.equal(a.take('n10000', 1), 'x');
});
