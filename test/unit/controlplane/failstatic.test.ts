// Fail-static, in the in-memory harness: a control plane holds only sidecars running config it did not produce
// (their versions carry another store's id, or none), never the ones it configured itself, and the fail-static state
// ends once every connected sidecar is configured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CDS, LDS } from '../../../xds-server/src/xds/index.js';
import { Harness } from '../../support/harness.js';
import { tempDir } from '../../support/cli.js';

const INVENTORY = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [8080] },
    { name: 'web-2', service: 'shop/web', addresses: ['10.213.0.12'], ports: [8080] },
  ],
  externals: [],
  vips: [],
};
const WEB1 = { id: 'web-1.shop', cluster: 'shop/web' };

/** A sidecar's SotW versions after it got and ACKed its config from `h`. */
async function configure(h: Harness, node = WEB1): Promise<{ cds: string; lds: string }> {
  const c = h.sotw(node);
  c.request(CDS);
  c.request(LDS);
  await h.settle();
  const cds = c.acked(CDS);
  const lds = c.acked(LDS);
  c.close();
  await h.settle();
  assert.ok(cds && lds, 'configured');
  return { cds, lds };
}

test('a control plane with a new store holds a sidecar configured by another, serves fresh ones, until release', async (t) => {
  const first = await Harness.open();
  t.after(() => first.close());
  first.api.putInventory('lab', INVENTORY);
  assert.equal(first.api.setMode('shop/web', 'enforce', 'test').ok, true);
  await first.advance(200);
  const v = await configure(first);
  assert.ok(v.cds.startsWith(`${first.core.store.id}.`), `versions carry the store id: ${v.cds}`);

  const second = await Harness.open(); // an EMPTY state dir: the old one was lost
  t.after(() => second.close());
  const old = second.sotw(WEB1);
  old.request(CDS, [], { versionInfo: v.cds });
  old.request(LDS, [], { versionInfo: v.lds });
  await second.settle();
  await second.advance(2000);
  assert.equal(old.count(CDS) + old.count(LDS), 0, 'nothing pushed to a held sidecar');
  const s = second.api.status();
  assert.deepEqual(
    s.held.map((h) => h.node),
    ['web-1.shop'],
  );
  assert.match(s.held[0]!.reason, new RegExp(`was made by control plane ${first.core.store.id}`));
  assert.equal(s.envoys[0]!.held, s.held[0]!.reason);

  // a new sidecar (no config yet) is configured as usual, and so is an inventory change for everyone not held
  const fresh = second.sotw({ id: 'web-2.shop', cluster: 'shop/web' });
  fresh.request(CDS);
  await second.settle();
  assert.equal(fresh.count(CDS), 1);
  second.api.putInventory('lab', INVENTORY);
  await second.advance(2000);
  assert.equal(old.count(CDS), 0, 'still held after a push');

  // a person decides: release; the fail-static state is over
  const r = second.api.release(['web-1.shop'], 'test');
  assert.deepEqual(r.ok && r.value, ['web-1.shop']);
  await second.settle();
  assert.equal(old.count(CDS), 1, 'configured once released');
  assert.equal(second.api.status().held.length, 0);
  const again = second.api.release(['nobody'], 'test');
  assert.equal(!again.ok && again.error.kind, 'not-found');
  assert.match(!again.ok ? again.error.message : '', /not held: nobody/);
  assert.ok(second.api.audit(0).some((e) => e.action === 'release' && e.target === 'web-1.shop'));
  old.close();
  fresh.close();
});

test('a control plane started on an empty store never holds the sidecars it configured itself', async (t) => {
  const h = await Harness.open();
  t.after(() => h.close());
  h.api.putInventory('lab', INVENTORY);
  await h.advance(200);
  const v = await configure(h); // configured by this control plane, then the sidecar reconnects (e.g. a network blip)
  const back = h.sotw(WEB1);
  back.request(CDS, [], { versionInfo: v.cds });
  await h.settle();
  assert.equal(h.api.status().held.length, 0, 'its own config: not held');
  assert.equal(back.acked(CDS) ?? v.cds, v.cds);
  // a change is pushed to it as to anyone
  h.api.putInventory('lab', { ...INVENTORY, vips: [{ service: 'shop/web', address: '10.213.255.1' }] });
  await h.advance(2000);
  assert.equal(back.count(CDS), 1, 'the new config reached the reconnected sidecar');
  assert.notEqual(back.acked(CDS), v.cds);
  back.close();
});

test('a sidecar whose versions carry no control-plane id is held; a restart on the same store holds nobody', async (t) => {
  const tmp = tempDir('nanoseg-failstatic-');
  t.after(() => tmp.remove());
  const a = await Harness.open({ dir: tmp.dir });
  a.api.putInventory('lab', INVENTORY);
  await a.advance(200);
  const v = await configure(a);
  a.crash();
  const b = await Harness.open({ dir: tmp.dir });
  t.after(() => b.close());
  assert.equal(b.core.store.id, a.core.store.id, 'same state dir, same store id');
  const back = b.sotw(WEB1);
  back.request(LDS, [], { versionInfo: v.lds });
  await b.settle();
  assert.equal(b.api.status().held.length, 0);
  assert.equal(back.count(LDS), 0, 'same content, same version: nothing resent');
  const legacy = b.delta({ id: 'web-2.shop', cluster: 'shop/web' });
  legacy.subscribe(CDS, [], { passthrough: '0123456789abcdef' });
  await b.settle();
  assert.deepEqual(
    b.api.status().held.map((x) => x.node),
    ['web-2.shop'],
  );
  assert.match(b.api.status().held[0]!.reason, /carries no control-plane id/);
  back.close();
  legacy.close();
});
