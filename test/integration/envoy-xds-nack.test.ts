// The xDS layer alone (SnapshotCache + AdsServer on our own gRPC server) against a real Envoy, with hand-made
// resources: what Envoy itself accepts, rejects (NACK) and keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, Server, ServerCredentials, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';
import { Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster.js';
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
