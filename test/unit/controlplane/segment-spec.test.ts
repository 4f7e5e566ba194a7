// The NanoSegment spec controller (controllers/segment-spec.ts) over the real core (harness: real store, policy
// controller, audit): a spec is applied once per generation through the CLI's path, audited as the Kubernetes user the
// webhook admitted it for; a later CLI change is not undone, not even by a restart; a spec stored while the control
// plane was down is picked up; a conflicting annotation refuses it (nothing changes) until the annotation goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harness } from '../../support/harness.js';
import { SEGMENT_SPECS_KEY, SegmentSpecController } from '../../../xds-server/src/controllers/segment-spec.js';
import { specKey } from '../../../xds-server/src/inventory/kubernetes/segment-spec.js';
import { SILENT } from '../../../xds-server/src/util/logger.js';

const INVENTORY = {
  workloads: [
    { name: 'web-1.shop', service: 'shop/web', addresses: ['10.244.0.11'], ports: [8080] },
    { name: 'api-1.shop', service: 'shop/api', addresses: ['10.244.0.12'], ports: [9090] },
  ],
  externals: [],
  vips: [],
};

const controller = (h: Harness) =>
  new SegmentSpecController({
    policy: h.core.policy,
    knownServices: () => h.core.serviceNames(),
    load: () => h.core.store.getValue(SEGMENT_SPECS_KEY),
    save: (json) => h.core.store.putValue(SEGMENT_SPECS_KEY, json),
    logger: SILENT,
    now: () => h.clock.now(),
  });

const object = (name: string, generation: number, spec: unknown, uid = `uid-${name}`) => ({
  metadata: { namespace: 'shop', name, uid, generation },
  spec,
});

test('a spec is applied once per generation, audited as the admitted user; a restart re-applies nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nanoseg-segspec-'));
  let h = await Harness.open({ dir });
  t.after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });
  h.api.putInventory('kubernetes', INVENTORY);
  await h.settle();
  let c = controller(h);
  const spec = { mode: 'enforce', egress: [{ peer: { service: 'shop/api' }, protocol: 'http', port: 9090 }] };
  c.admit({ service: 'shop/web', spec: specKey(spec), actor: 'kubernetes user alice (NanoSegment shop/web)' });
  assert.equal(c.reconcile(object('web', 1, {})).state, 'none');
  const r = c.reconcile(object('web', 2, spec));
  assert.equal(r.state, 'applied', r.message);
  assert.equal(h.core.policy.modeOf('shop/web'), 'enforce');
  const p = h.core.policy.policyInForce('shop/web');
  assert.equal(p.origin, 'applied');
  assert.deepEqual(p.egress, [{ peer: { service: 'shop/api' }, protocol: 'http', port: 9090 }]);
  const audit = h.api.audit(0).filter((e) => e.target === 'shop/web');
  assert.deepEqual(
    audit.map((e) => [e.action, e.actor]),
    [
      ['policy-apply', 'kubernetes user alice (NanoSegment shop/web)'],
      ['mode', 'kubernetes user alice (NanoSegment shop/web)'],
    ],
  );

  // the CLI changes the mode afterwards: the same generation is not applied again, now or after a restart
  assert.ok(h.core.policy.setMode('shop/web', 'monitor', 'bob@host').ok);
  assert.equal(c.reconcile(object('web', 2, spec)).state, 'applied');
  await h.close();
  h = await Harness.open({ dir });
  h.api.putInventory('kubernetes', INVENTORY);
  await h.settle();
  c = controller(h);
  assert.equal(c.reconcile(object('web', 2, spec)).state, 'applied');
  assert.equal(h.core.policy.modeOf('shop/web'), 'monitor', 'no drift: the later CLI change stands');
  const before = h.api.audit(0).length;

  // a generation stored while the control plane was down: applied, the object named as the actor
  const r3 = c.reconcile(object('web', 3, { mode: 'learn' }));
  assert.equal(r3.state, 'applied');
  assert.equal(h.core.policy.modeOf('shop/web'), 'learn');
  const last = h.api.audit(0).slice(before);
  assert.deepEqual(
    last.map((e) => e.actor),
    ['kubernetes (NanoSegment shop/web generation 3, admitted earlier)'],
  );
  // the object deleted and made again (a new uid, generation 1): its spec is new
  assert.equal(c.reconcile(object('web', 1, { mode: 'monitor' }, 'uid-other')).state, 'applied');
  assert.equal(h.core.policy.modeOf('shop/web'), 'monitor');
});

test('a conflicting annotation refuses the spec and changes nothing; unknown services wait', async (t) => {
  const h = await Harness.open();
  t.after(() => h.close());
  h.api.putInventory('kubernetes', INVENTORY);
  await h.settle();
  const pin = { mode: 'monitor' as const, by: 'annotation nanoseg.io/mode=monitor on Deployment shop/web' };
  h.core.policy.syncPins(new Map([['shop/web', pin]]), 'kubernetes');
  const c = controller(h);
  const spec = { mode: 'enforce', ingress: [{ peer: { service: 'shop/api' }, protocol: 'tcp', port: 8080 }] };
  const auditBefore = h.api.audit(0).length;
  const r = c.reconcile(object('web', 4, spec));
  assert.equal(r.state, 'refused');
  assert.match(r.message, /annotation nanoseg\.io\/mode=monitor on Deployment shop\/web/);
  assert.equal(h.core.policy.modeOf('shop/web'), 'monitor');
  assert.equal(h.core.policy.control('shop/web').policy?.origin, 'learned', 'the policy was not applied either');
  assert.equal(h.api.audit(0).length, auditBefore, 'nothing audited: nothing changed');
  // the annotation goes: the same generation is applied now
  h.core.policy.syncPins(new Map(), 'kubernetes');
  assert.equal(c.reconcile(object('web', 4, spec)).state, 'applied');
  assert.equal(h.core.policy.modeOf('shop/web'), 'enforce');

  const pending = c.reconcile({ metadata: { namespace: 'shop', name: 'cart', uid: 'u', generation: 1 }, spec });
  assert.equal(pending.state, 'pending');
  assert.match(pending.message, /waiting for shop\/cart/);
  // stored without the webhook and invalid: never applied
  const bad = c.reconcile(object('api', 2, { egress: [{ peer: { service: 'shop/web' }, protocol: 'tcp' }] }));
  assert.equal(bad.state, 'invalid');
  assert.match(bad.message, /spec\.egress\[0\]: missing field port/);
});
