// The xDS server against a real Envoy (v1.40, SotW and delta ADS over a unix socket), each Envoy in its own
// network namespace. Fakes of Envoy live in the unit tests; here Envoy itself decides what it accepts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ControlPlane, DEFAULT_CONTROL_PLANE_OPTIONS } from '../../xds-server/src/controlplane/controlplane.js';
import type { StatusView } from '../../xds-server/src/api/views.js';
import type { Inventory, Workload } from '../../xds-server/src/model/index.js';
import { SILENT } from '../../xds-server/src/util/logger.js';
import { tempDir, waitFor } from '../support/cli.js';
import { NEEDS_ROOT, NetnsEnvoy } from './support.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- the control plane with a SotW and a delta Envoy ---------------------------------------------------------------

const WEB = 'outbound|8080||shop/web';
const API = 'outbound|9090||shop/api';
const workload = (name: string, service: string, address: string, port: number): Workload => ({
  name,
  service,
  addresses: [address],
  ports: [port],
});
const inventory = (webReplicas: number): Inventory => ({
  workloads: [
    ...Array.from({ length: webReplicas }, (_, i) => workload(`web-${i + 1}`, 'shop/web', `10.213.0.${11 + i}`, 8080)),
    workload('api-1', 'shop/api', '10.213.0.21', 9090),
  ],
  externals: [],
  vips: [
    { service: 'shop/web', address: '10.213.0.250' },
    { service: 'shop/api', address: '10.213.0.251' },
  ],
});

type EnvoyStatus = StatusView['envoys'][number];
const TYPES = ['cds', 'eds', 'lds', 'rds'] as const;
const allAcked = (e: EnvoyStatus | undefined): boolean =>
  !!e && TYPES.every((t) => e.sent[t] !== undefined && e.acked[t] === e.sent[t]);

const cpOptions = (dir: string): ConstructorParameters<typeof ControlPlane>[0] => ({
  ...DEFAULT_CONTROL_PLANE_OPTIONS,
  stateDir: join(dir, 'state'),
  apiSocket: join(dir, 'api.sock'),
  xdsSocket: join(dir, 'xds.sock'),
  xdsAddress: undefined,
  metricsAddress: undefined,
  logger: SILENT,
});
/** A SotW and a delta Envoy of service shop/loadgen, talking to the control plane of `cpOptions(dir)`. */
const loadgenEnvoys = (dir: string): [NetnsEnvoy, NetnsEnvoy] => {
  const envoy = (name: string, api: 'sotw' | 'delta') =>
    new NetnsEnvoy({
      name,
      nodeId: `loadgen-${name}.shop`,
      cluster: 'shop/loadgen',
      xdsSocket: join(dir, 'xds.sock'),
      api,
      dir,
    });
  return [envoy('sotw', 'sotw'), envoy('delta', 'delta')];
};
const byNode = (s: StatusView, e: NetnsEnvoy): EnvoyStatus | undefined =>
  s.envoys.find((x) => x.node === e.opts.nodeId);

/**
 * A control plane with `inv` and its SotW and delta Envoys, all ACKed; removed when the test ends (`cp` is the one
 * then: a test may replace it, in the same `dir`).
 */
async function ackedLab(t: TestContext, prefix: string, inv = inventory(1)) {
  const tmp = tempDir(prefix);
  const [sotw, delta] = loadgenEnvoys(tmp.dir);
  const lab = { cp: new ControlPlane(cpOptions(tmp.dir)), dir: tmp.dir, sotw, delta };
  t.after(async () => {
    await Promise.all([sotw.stop(), delta.stop()]);
    await lab.cp.stop();
    tmp.remove();
  });
  await lab.cp.start();
  lab.cp.core!.pushed.put('test', inv);
  await Promise.all([sotw.start(), delta.start()]);
  const before = await waitFor(
    'both Envoys to ACK CDS, EDS, LDS and RDS',
    () => {
      const s = lab.cp.backend!.status();
      return allAcked(byNode(s, sotw)) && allAcked(byNode(s, delta)) && s;
    },
    15_000,
    100,
  );
  return Object.assign(lab, { before });
}

test(
  "a SotW and a delta Envoy get, ACK and follow the control plane's config",
  { skip: NEEDS_ROOT, timeout: 60_000 },
  async (t) => {
    const { cp, sotw, delta, before } = await ackedLab(t, 'nanoseg-it-cp-');
    assert.equal(byNode(before, sotw)!.kind, 'sotw');
    assert.equal(byNode(before, delta)!.kind, 'delta');
    assert.equal(before.xds.nacks, 0);

    for (const e of [sotw, delta]) {
      const ls = await e.listeners();
      assert.deepEqual(Object.fromEntries(ls), { outbound: { port: 15001 }, inbound: { port: 15006 } }, e.opts.name);
      const cs = await e.clusters();
      assert.deepEqual(cs.get(WEB), ['10.213.0.11:8080'], e.opts.name);
      assert.deepEqual(cs.get(API), ['10.213.0.21:9090'], e.opts.name);
    }
    // Only the endpoints changed: each Envoy gets one EDS response and nothing else. The delta one gets only the
    // changed ClusterLoadAssignment (web's), so Envoy updates web's endpoints but not api's; SotW resends both.
    const webEds = `cluster.${WEB}.update_success`;
    const apiEds = `cluster.${API}.update_success`;
    const edsUpdates = async (e: NetnsEnvoy) => ({ web: await e.stat(webEds), api: await e.stat(apiEds) });
    const sotwBefore = await edsUpdates(sotw);
    const deltaBefore = await edsUpdates(delta);
    assert.ok(
      [sotwBefore, deltaBefore].every((u) => u.web > 0 && u.api > 0),
      'Envoy counts EDS updates per cluster',
    );

    cp.core!.pushed.put('test', inventory(2));
    for (const e of [sotw, delta]) {
      await waitFor(
        `${e.opts.name}: the new web replica in /clusters`,
        async () => JSON.stringify((await e.clusters()).get(WEB)) === '["10.213.0.11:8080","10.213.0.12:8080"]',
        5000,
        100,
      );
      assert.deepEqual((await e.clusters()).get(API), ['10.213.0.21:9090'], e.opts.name);
    }
    const after = await waitFor(
      'both Envoys to ACK the new endpoints',
      () => {
        const s = cp.backend!.status();
        const moved = (e: NetnsEnvoy) => byNode(s, e)?.acked.eds !== byNode(before, e)!.acked.eds;
        return allAcked(byNode(s, sotw)) && allAcked(byNode(s, delta)) && moved(sotw) && moved(delta) && s;
      },
      5000,
      100,
    );
    await sleep(300); // anything else the control plane would (wrongly) push arrives now
    const final = cp.backend!.status();
    for (const e of [sotw, delta]) {
      const was = byNode(before, e)!;
      const now = byNode(final, e)!;
      assert.deepEqual(now.acked, byNode(after, e)!.acked, e.opts.name);
      assert.deepEqual({ ...now.sent, eds: was.sent.eds }, was.sent, `${e.opts.name}: only EDS has a new version`);
    }
    assert.equal(final.xds.pushes - before.xds.pushes, 2, 'one EDS response per Envoy');
    assert.equal(final.xds.nacks, 0);
    assert.deepEqual(
      await edsUpdates(sotw),
      { web: sotwBefore.web + 1, api: sotwBefore.api + 1 },
      'SotW: both assignments resent',
    );
    assert.deepEqual(
      await edsUpdates(delta),
      { web: deltaBefore.web + 1, api: deltaBefore.api },
      'delta: only the changed one',
    );
  },
);

test(
  'the last EDS cluster removed: nothing stays outstanding for the SotW Envoy, which no longer ACKs EDS',
  { skip: NEEDS_ROOT, timeout: 60_000 },
  async (t) => {
    const { cp, sotw, delta } = await ackedLab(t, 'nanoseg-it-unsub-');
    // no service left to call: the config has no EDS cluster, and Envoy unsubscribes from every EDS name
    cp.core!.pushed.put('test', { workloads: [], externals: [], vips: [] });
    const settled = (e: EnvoyStatus | undefined) =>
      !!e && Object.keys(e.sent).every((k) => e.sent[k as 'cds'] === e.acked[k as 'cds']);
    const s = await waitFor(
      'the Envoys to have no cluster of shop/web and nothing outstanding',
      async () => {
        const st = cp.backend!.status();
        const gone = !(await sotw.clusters()).has(WEB) && !(await delta.clusters()).has(WEB);
        return gone && settled(byNode(st, sotw)) && settled(byNode(st, delta)) && st;
      },
      10_000,
      100,
    ).catch((e: Error) => assert.fail(`${e.message}: ${JSON.stringify(cp.backend!.status().envoys)}`));
    assert.equal(byNode(s, sotw)!.sent.eds, undefined, 'SotW: EDS subscribed to nothing, so nothing is sent');
    assert.equal(s.xds.nacks, 0);
  },
);

test(
  'Envoys reconnecting to a restarted control plane are not reconfigured',
  { skip: NEEDS_ROOT, timeout: 60_000 },
  async (t) => {
    const lab = await ackedLab(t, 'nanoseg-it-restart-', inventory(2));
    const { sotw, delta, before } = lab;
    const updates = async (e: NetnsEnvoy) => ({
      cds: await e.stat('cluster_manager.cds.update_success'),
      lds: await e.stat('listener_manager.lds.update_success'),
      eds: await e.stat(`cluster.${WEB}.update_success`),
      rds: await e.stat(`http.${WEB}.rds.${WEB}.update_success`),
    });
    const sotwUpdates = await updates(sotw);
    const deltaUpdates = await updates(delta);
    assert.ok(
      [sotwUpdates, deltaUpdates].every((u) => Object.values(u).every((n) => n > 0)),
      'Envoy counts updates of each type',
    );

    // Same state dir: the inventory comes back from the store, so the config is byte-identical.
    await lab.cp.stop();
    lab.cp = new ControlPlane(cpOptions(lab.dir));
    await lab.cp.start();
    await waitFor(
      'both Envoys to reconnect',
      () => {
        const s = lab.cp.backend!.status();
        return byNode(s, delta) && allAcked(byNode(s, sotw)) && s;
      },
      15_000,
      100,
    );
    await sleep(1000); // the delta Envoy's initial requests get no answer; give a wrong one time to arrive
    const s = lab.cp.backend!.status();
    assert.equal(s.xds.pushes, 0, 'nothing sent on the new streams');
    assert.deepEqual(byNode(s, sotw)!.acked, byNode(before, sotw)!.acked);
    assert.deepEqual(await updates(sotw), sotwUpdates, 'SotW Envoy: no config update');
    assert.deepEqual(await updates(delta), deltaUpdates, 'delta Envoy: no config update');
    assert.equal(await delta.stat('control_plane.connected_state'), 1);

    await t.test('status shows what the reconnected delta Envoy has', () => {
      assert.deepEqual(byNode(lab.cp.backend!.status(), delta)!.acked, byNode(before, delta)!.acked);
    });
  },
);
