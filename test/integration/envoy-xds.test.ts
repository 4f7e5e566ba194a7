// The xDS server against a real Envoy (v1.40, SotW and delta ADS over a unix socket), each Envoy in its own
// network namespace. Fakes of Envoy live in the unit tests; here Envoy itself decides what it accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, Server, ServerCredentials, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';
import { Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { ControlPlane, DEFAULT_CONTROL_PLANE_OPTIONS } from '../../xds-server/src/controlplane/controlplane.js';
import type { StatusView } from '../../xds-server/src/api/views.js';
import type { Inventory, Workload } from '../../xds-server/src/model/index.js';
import { SILENT } from '../../xds-server/src/util/logger.js';
import { T, encode, pack } from '../../xds-server/src/generate/index.js';
import {
  ADS_SERVICE,
  AdsServer,
  CDS,
  LDS,
  SnapshotCache,
  makeSnapshot,
  resource,
} from '../../xds-server/src/xds/index.js';
import type { ConnectionStatus, Snapshot, XdsResource } from '../../xds-server/src/xds/index.js';
import { SotwAdsClient } from '../support/ads-client.js';
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

test(
  "a SotW and a delta Envoy get, ACK and follow the control plane's config",
  { skip: NEEDS_ROOT, timeout: 60_000 },
  async (t) => {
    const tmp = tempDir('nanoseg-it-cp-');
    const cp = new ControlPlane(cpOptions(tmp.dir));
    const [sotw, delta] = loadgenEnvoys(tmp.dir);
    t.after(async () => {
      await Promise.all([sotw.stop(), delta.stop()]);
      await cp.stop();
      tmp.remove();
    });
    await cp.start();
    cp.core!.pushed.put('test', inventory(1));
    await Promise.all([sotw.start(), delta.start()]);

    const before = await waitFor(
      'both Envoys to ACK CDS, EDS, LDS and RDS',
      () => {
        const s = cp.backend!.status();
        return allAcked(byNode(s, sotw)) && allAcked(byNode(s, delta)) && s;
      },
      15_000,
      100,
    );
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
  'Envoys reconnecting to a restarted control plane are not reconfigured',
  { skip: NEEDS_ROOT, timeout: 60_000 },
  async (t) => {
    const tmp = tempDir('nanoseg-it-restart-');
    let cp = new ControlPlane(cpOptions(tmp.dir));
    const [sotw, delta] = loadgenEnvoys(tmp.dir);
    t.after(async () => {
      await Promise.all([sotw.stop(), delta.stop()]);
      await cp.stop();
      tmp.remove();
    });
    await cp.start();
    cp.core!.pushed.put('test', inventory(2));
    await Promise.all([sotw.start(), delta.start()]);
    const before = await waitFor(
      'both Envoys to ACK everything',
      () => {
        const s = cp.backend!.status();
        return allAcked(byNode(s, sotw)) && allAcked(byNode(s, delta)) && s;
      },
      15_000,
      100,
    );
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
    await cp.stop();
    cp = new ControlPlane(cpOptions(tmp.dir));
    await cp.start();
    await waitFor(
      'both Envoys to reconnect',
      () => {
        const s = cp.backend!.status();
        return byNode(s, delta) && allAcked(byNode(s, sotw)) && s;
      },
      15_000,
      100,
    );
    await sleep(1000); // the delta Envoy's initial requests get no answer; give a wrong one time to arrive
    const s = cp.backend!.status();
    assert.equal(s.xds.pushes, 0, 'nothing sent on the new streams');
    assert.deepEqual(byNode(s, sotw)!.acked, byNode(before, sotw)!.acked);
    assert.deepEqual(await updates(sotw), sotwUpdates, 'SotW Envoy: no config update');
    assert.deepEqual(await updates(delta), deltaUpdates, 'delta Envoy: no config update');
    assert.equal(await delta.stat('control_plane.connected_state'), 1);

    await t.test('status shows what the reconnected delta Envoy has', () => {
      assert.deepEqual(byNode(cp.backend!.status(), delta)!.acked, byNode(before, delta)!.acked);
    });
  },
);

// ---- the xDS layer alone (SnapshotCache + AdsServer on our own gRPC server), hand-made resources ------------------

interface AdsOnSocket {
  readonly cache: SnapshotCache;
  readonly ads: AdsServer;
  readonly socket: string;
  listen(): Promise<void>;
  stop(): void;
}

/** A SnapshotCache and AdsServer behind a grpc-js server on `DIR/ads.sock` (once `listen()` resolves). */
function adsOnSocket(dir: string): AdsOnSocket {
  const cache = new SnapshotCache();
  const ads = new AdsServer(cache);
  const server = new Server();
  server.addService(ADS_SERVICE, ads.handlers());
  const socket = join(dir, 'ads.sock');
  return {
    cache,
    ads,
    socket,
    listen: () =>
      new Promise<void>((res, rej) =>
        server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
      ),
    stop: () => (ads.stop(), server.forceShutdown()),
  };
}

const backend: XdsResource = resource(
  CDS,
  'backend',
  encode(T.cluster, {
    name: 'backend',
    type: Cluster_DiscoveryType.STATIC,
    connectTimeout: { seconds: 1, nanos: 0 },
    loadAssignment: {
      clusterName: 'backend',
      endpoints: [
        { lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 9 } } } }] },
      ],
    },
  }),
);

/** Listener `app` on 127.0.0.1:PORT, tcp_proxy to `backend`. An empty stat prefix is invalid for Envoy. */
function appListener(port: number, statPrefix = 'app'): XdsResource {
  return resource(
    LDS,
    'app',
    encode(T.listener, {
      name: 'app',
      address: { socketAddress: { address: '127.0.0.1', portValue: port } },
      filterChains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.tcp_proxy',
              typedConfig: pack(T.tcpProxy, { statPrefix, cluster: 'backend' }),
            },
          ],
        },
      ],
    }),
  );
}

const appSnapshot = (port: number, statPrefix?: string): Snapshot =>
  makeSnapshot([backend, appListener(port, statPrefix)]);

for (const api of ['sotw', 'delta'] as const) {
  test(
    `${api}: real Envoy NACKs an invalid listener: the error is recorded, the old listener kept, nothing resent`,
    { skip: NEEDS_ROOT, timeout: 30_000 },
    async (t) => {
      const tmp = tempDir('nanoseg-it-nack-');
      const xds = adsOnSocket(tmp.dir);
      const envoy = new NetnsEnvoy({
        name: `nack-${api}`,
        nodeId: 'app-1.test',
        cluster: 'test/app',
        xdsSocket: xds.socket,
        api,
        dir: tmp.dir,
      });
      t.after(async () => {
        await envoy.stop();
        xds.stop();
        tmp.remove();
      });
      await xds.listen();
      const good = appSnapshot(10000);
      const bad = appSnapshot(10001, '');
      const fixed = appSnapshot(10002);
      const conn = (): ConnectionStatus | undefined => xds.ads.status().find((c) => c.nodeId === 'app-1.test');
      const lds = () => conn()?.types[LDS];

      xds.cache.setSnapshot('app-1.test', good);
      await envoy.start();
      await waitFor(
        'Envoy to ACK the good listener',
        () => lds()?.ackedVersion === good.types[LDS].version,
        10_000,
        100,
      );
      assert.deepEqual((await envoy.listeners()).get('app'), { port: 10000 });

      xds.cache.setSnapshot('app-1.test', bad);
      const nack = await waitFor('Envoy to NACK the invalid listener', () => lds()?.lastNack, 5000, 100);
      assert.equal(nack.version, bad.types[LDS].version);
      assert.match(nack.message, /stat_?prefix/i, "the NACK carries Envoy's own error");
      assert.equal(lds()!.ackedVersion, good.types[LDS].version, 'the last ACKed version stays the good one');
      const pushes = conn()!.totals.pushes;
      await sleep(2000);
      assert.equal(conn()!.totals.pushes, pushes, 'the rejected version is not resent');
      assert.equal(conn()!.totals.nacks, 1);
      assert.equal(await envoy.stat('listener_manager.lds.update_rejected'), 1);
      const kept = (await envoy.listeners()).get('app');
      assert.equal(kept?.port, 10000, 'Envoy still runs the good listener');
      assert.match(kept?.error ?? '', /stat_?prefix/i, 'config_dump shows the rejected update as an error');

      xds.cache.setSnapshot('app-1.test', fixed);
      await waitFor(
        'Envoy to ACK the fixed listener',
        () => lds()?.ackedVersion === fixed.types[LDS].version,
        5000,
        100,
      );
      assert.deepEqual((await envoy.listeners()).get('app'), { port: 10002 });
      assert.equal(await envoy.stat('listener_manager.lds.update_rejected'), 1);
      assert.equal(conn()!.types[CDS]?.ackedVersion, good.types[CDS].version, 'CDS was never touched');
    },
  );
}

test(
  "clients sending garbage or no node id do not disturb a real Envoy's stream",
  { skip: NEEDS_ROOT, timeout: 30_000 },
  async (t) => {
    const tmp = tempDir('nanoseg-it-peer-');
    const xds = adsOnSocket(tmp.dir);
    const envoy = new NetnsEnvoy({
      name: 'peer',
      nodeId: 'app-2.test',
      cluster: 'test/app',
      xdsSocket: xds.socket,
      api: 'delta',
      dir: tmp.dir,
    });
    const raw = new Client(`unix:${xds.socket}`, credentials.createInsecure());
    const clients: { close(): void }[] = [];
    t.after(async () => {
      for (const c of clients) c.close();
      raw.close();
      await envoy.stop();
      xds.stop();
      tmp.remove();
    });
    await xds.listen();
    const conn = (): ConnectionStatus | undefined => xds.ads.status().find((c) => c.nodeId === 'app-2.test');
    const first = appSnapshot(10000);
    xds.cache.setSnapshot('app-2.test', first);
    await envoy.start();
    await waitFor(
      'Envoy to ACK its listener',
      () => conn()?.types[LDS]?.ackedVersion === first.types[LDS].version,
      10_000,
      100,
    );
    const streamId = conn()!.streamId;

    // Undecodable bytes on both ADS methods, and a well-formed first request without node id.
    const garbage = async (method: string): Promise<StatusObject> => {
      const call = raw.makeBidiStreamRequest(
        `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      call.on('error', () => {});
      const closed = new Promise<StatusObject>((r) => call.on('status', r));
      call.write(Buffer.from([0x0f, 0xff, 0xff, 0xff])); // field 1 with wire type 7: no such wire type
      return closed;
    };
    const [sotwGarbage, deltaGarbage] = await Promise.all([
      garbage('StreamAggregatedResources'),
      garbage('DeltaAggregatedResources'),
    ]);
    assert.equal(sotwGarbage.code, GrpcStatus.INTERNAL);
    assert.equal(deltaGarbage.code, GrpcStatus.INTERNAL);
    const anonymous = new SotwAdsClient(`unix:${xds.socket}`, { id: '' });
    clients.push(anonymous);
    anonymous.request(CDS);
    const refused = await anonymous.closed;
    assert.equal(refused.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(refused.details, /node\.id/);

    // Envoy's stream is the same one and still gets pushes.
    const next = appSnapshot(10003);
    xds.cache.setSnapshot('app-2.test', next);
    await waitFor(
      'Envoy to ACK the next listener',
      () => conn()?.types[LDS]?.ackedVersion === next.types[LDS].version,
      5000,
      100,
    );
    assert.deepEqual((await envoy.listeners()).get('app'), { port: 10003 });
    assert.equal(conn()!.streamId, streamId, 'Envoy did not have to reconnect');
    assert.deepEqual(
      xds.ads.status().map((c) => c.nodeId),
      ['app-2.test'],
      'only Envoy is connected',
    );
    assert.equal(conn()!.totals.nacks, 0);
  },
);
