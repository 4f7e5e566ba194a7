// Fail-static: a control plane that lost its state never pushes config to sidecars that run config it cannot
// account for; it holds them (they keep what they have) until a person releases them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ControlPlane, DEFAULT_CONTROL_PLANE_OPTIONS } from '../../../xds-server/src/controlplane/controlplane.js';
import { SILENT } from '../../../xds-server/src/util/logger.js';
import { CDS, LDS } from '../../../xds-server/src/xds/index.js';
import { SotwAdsClient } from '../../support/ads-client.js';
import { tempDir, waitFor } from '../../support/cli.js';

function plane(dir: string, state: string): ControlPlane {
  return new ControlPlane({
    ...DEFAULT_CONTROL_PLANE_OPTIONS,
    stateDir: join(dir, state),
    apiSocket: join(dir, `${state}.sock`),
    xdsSocket: undefined,
    xdsAddress: '127.0.0.1:0',
    metricsAddress: '127.0.0.1:0',
    logger: SILENT,
  });
}

const INVENTORY = {
  workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [8080] }],
  externals: [],
  vips: [],
};

test('a control plane with no state holds sidecars that already run config, until released', async (t) => {
  const tmp = tempDir('nanoseg-failstatic-');
  const first = plane(tmp.dir, 'a');
  t.after(() => tmp.remove());
  await first.start();
  first.setInventory('lab', INVENTORY);
  first.setMode('shop/web', 'enforce', 'test');
  const c1 = new SotwAdsClient(`127.0.0.1:${first.xdsPort}`, { id: 'web-1.shop', cluster: 'shop/web' });
  c1.request(CDS);
  const cds = await c1.waitFor(CDS, undefined, 5000);
  c1.request(LDS);
  const lds = await c1.waitFor(LDS, undefined, 5000);
  c1.close();
  await first.stop();

  // a new control plane with an EMPTY state dir (the old one was lost)
  const second = plane(tmp.dir, 'b');
  await second.start();
  t.after(() => second.stop());
  const c2 = new SotwAdsClient(`127.0.0.1:${second.xdsPort}`, { id: 'web-1.shop', cluster: 'shop/web' });
  t.after(() => c2.close());
  c2.request(CDS, [], { versionInfo: cds.versionInfo });
  c2.request(LDS, [], { versionInfo: lds.versionInfo });
  await waitFor('the sidecar to be held', () => second.status().held.length === 1, 5000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(c2.count(CDS) + c2.count(LDS), 0, 'nothing pushed to a held sidecar');
  const s = second.status();
  assert.equal(s.held[0]!.node, 'web-1.shop');
  assert.match(s.held[0]!.reason, /no record/);
  assert.equal(s.envoys[0]!.held, s.held[0]!.reason);

  // a new sidecar (no config yet) is configured as usual
  const fresh = new SotwAdsClient(`127.0.0.1:${second.xdsPort}`, { id: 'web-9.shop', cluster: 'shop/web' });
  t.after(() => fresh.close());
  fresh.request(CDS);
  await fresh.waitFor(CDS, undefined, 5000);

  // a person decides: release
  assert.deepEqual(second.release(['web-1.shop'], 'test'), ['web-1.shop']);
  await c2.waitFor(CDS, undefined, 5000);
  assert.equal(second.status().held.length, 0);
  assert.throws(() => second.release(['nobody'], 'test'), /not held: nobody/);
});

test('with its state intact, a restarted control plane holds nobody and serves the same versions', async (t) => {
  const tmp = tempDir('nanoseg-failstatic-');
  t.after(() => tmp.remove());
  const a = plane(tmp.dir, 'same');
  await a.start();
  a.setInventory('lab', INVENTORY);
  a.setMode('shop/web', 'enforce', 'test');
  const c1 = new SotwAdsClient(`127.0.0.1:${a.xdsPort}`, { id: 'web-1.shop', cluster: 'shop/web' });
  c1.request(LDS);
  const lds = await c1.waitFor(LDS, undefined, 5000);
  c1.close();
  await a.stop();
  const b = plane(tmp.dir, 'same');
  await b.start();
  t.after(() => b.stop());
  const c2 = new SotwAdsClient(`127.0.0.1:${b.xdsPort}`, { id: 'web-1.shop', cluster: 'shop/web' });
  t.after(() => c2.close());
  c2.request(LDS, [], { versionInfo: lds.versionInfo });
  await waitFor('ACK recorded', () => b.status().envoys[0]?.acked.lds === lds.versionInfo, 5000);
  assert.equal(c2.count(LDS), 0, 'same version: nothing resent');
  assert.equal(b.status().held.length, 0);
  // the mode survived the restart
  assert.equal(b.services().find((s) => s.name === 'shop/web')?.mode, 'enforce');
});
