import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Server, ServerCredentials, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';
import { Cluster } from '../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { ADS_SERVICE, AdsServer, CDS, EDS, LDS, SnapshotCache, makeSnapshot } from '../../xds-server/src/xds/index.js';
import type { AdsServerOptions, Logger, NodeInfo, Snapshot } from '../../xds-server/src/xds/index.js';
import { DeltaAdsClient, SotwAdsClient, adsChannel } from '../support/ads-client.js';
import { cluster, endpoints, listener } from '../unit/xds/fixtures.js';

const settle = (ms = 100): Promise<void> => new Promise((r) => setTimeout(r, ms));

let server: Server;
let address: string;
let cache: SnapshotCache;
let ads: AdsServer;
const events: string[] = [];
const warnings: string[] = [];
/** Per test: what the lead's controller would do when a node connects. */
let onConnect: (n: NodeInfo) => void = () => {};

const logger: Logger = { debug() {}, info() {}, error() {}, warn: (_o, msg) => void warnings.push(msg ?? '') };
const hooks: AdsServerOptions = {
  logger,
  onNodeConnected: (n) => (events.push(`connected ${n.id}`), onConnect(n)),
  onNodeDisconnected: (n) => void events.push(`disconnected ${n.id}`),
  onAck: (n, t, v) => void events.push(`ack ${n.id} ${t} ${v}`),
  onNack: (n, t, v, m) => void events.push(`nack ${n.id} ${t} ${v} ${m}`),
};

before(async () => {
  cache = new SnapshotCache();
  ads = new AdsServer(cache, hooks);
  server = new Server();
  server.addService(ADS_SERVICE, ads.handlers());
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  address = `127.0.0.1:${port}`;
});

after(() => {
  ads.stop();
  server.forceShutdown();
});

const snap = (tag = 0, extra: ReturnType<typeof cluster>[] = []): Snapshot =>
  makeSnapshot([
    cluster('a', { tag }),
    cluster('b'),
    cluster('e', { eds: true }),
    endpoints('e', tag),
    listener('l'),
    ...extra,
  ]);
const names = (r: { resources: { value: Buffer }[] }): string[] =>
  r.resources.map((x) => Cluster.decode(x.value).name).sort();

test('SotW: initial request is answered, ACK is not, a new snapshot is pushed', async () => {
  onConnect = (n) => void cache.setSnapshot(n.id, snap());
  const c = new SotwAdsClient(address, { id: 'sotw-1', cluster: 'shop/web', metadata: { mode: 'learn' } });
  try {
    c.request(CDS);
    const first = await c.waitFor(CDS);
    assert.deepEqual(names(first), ['a', 'b', 'e']);
    assert.equal(first.versionInfo, snap().types[CDS].version);
    await settle();
    assert.equal(c.count(CDS), 1, 'the ACK got no response');
    assert.ok(events.includes(`ack sotw-1 ${CDS} ${first.versionInfo}`));

    cache.setSnapshot('sotw-1', snap(1));
    const second = await c.waitFor(CDS, (r) => r.versionInfo === snap(1).types[CDS].version);
    assert.notEqual(second.nonce, first.nonce);
    await settle(50);
    const st = ads.status().find((s) => s.nodeId === 'sotw-1')!;
    assert.equal(st.kind, 'sotw');
    assert.equal(st.cluster, 'shop/web');
    assert.deepEqual(st.types[CDS], { sentVersion: second.versionInfo, ackedVersion: second.versionInfo });
    assert.deepEqual(st.totals, { pushes: 2, acks: 2, nacks: 0 });
  } finally {
    c.close();
    onConnect = () => {};
  }
  await settle(50);
  assert.ok(events.includes('disconnected sotw-1'));
});

test('SotW: NACK is recorded, the rejected version is not resent, the next good one is', async () => {
  cache.setSnapshot('sotw-nack', snap());
  const bad = snap(1).types[CDS].version;
  const ackPolicy = (r: { versionInfo: string }): string | undefined =>
    r.versionInfo === bad ? 'cluster a: bad timeout' : undefined;
  const c = new SotwAdsClient(address, { id: 'sotw-nack' }, { ackPolicy });
  try {
    c.request(CDS);
    const good = await c.waitFor(CDS);
    await settle(50); // let the ACK land first: an ACK overtaken by a newer response is stale and ignored
    cache.setSnapshot('sotw-nack', snap(1));
    await c.waitFor(CDS, (r) => r.versionInfo === bad);
    await settle();
    assert.equal(c.count(CDS), 2, 'rejected version not resent');
    const st = ads.status().find((s) => s.nodeId === 'sotw-nack')!;
    assert.equal(st.types[CDS]?.ackedVersion, good.versionInfo);
    assert.equal(st.types[CDS]?.lastNack?.version, bad);
    assert.equal(st.types[CDS]?.lastNack?.message, 'cluster a: bad timeout');
    assert.equal(st.totals.nacks, 1);
    assert.ok(events.includes(`nack sotw-nack ${CDS} ${bad} cluster a: bad timeout`));

    cache.setSnapshot('sotw-nack', snap(2));
    const fixed = await c.waitFor(CDS, (r) => r.versionInfo === snap(2).types[CDS].version);
    await settle(50);
    assert.equal(c.acked(CDS), fixed.versionInfo);
    assert.equal(c.count(CDS), 3);
  } finally {
    c.close();
  }
});

test('SotW: named EDS, and responses in CDS, EDS, LDS order when several are due', async () => {
  const c = new SotwAdsClient(address, { id: 'sotw-order' });
  try {
    c.request(LDS);
    c.request(EDS, ['e']);
    c.request(CDS);
    await settle(50);
    assert.equal(c.responses.length, 0, 'nothing before the snapshot exists');
    cache.setSnapshot('sotw-order', snap());
    await c.waitFor(LDS);
    assert.deepEqual(
      c.responses.map((r) => r.typeUrl),
      [CDS, EDS, LDS],
    );
    assert.equal(c.last(EDS)?.resources.length, 1);
  } finally {
    c.close();
  }
});

test('delta: initial, only changed resources, removals, and a reconnect that needs nothing', async () => {
  cache.setSnapshot('delta-1', snap());
  const c = new DeltaAdsClient(address, { id: 'delta-1' });
  let known: Record<string, string>;
  try {
    c.subscribe(CDS);
    const first = await c.waitFor(CDS);
    assert.deepEqual(first.resources.map((r) => r.name).sort(), ['a', 'b', 'e']);
    assert.equal(first.systemVersionInfo, snap().types[CDS].version);
    await settle(50);

    cache.setSnapshot('delta-1', snap(1));
    const update = await c.waitFor(CDS, (r) => r.systemVersionInfo === snap(1).types[CDS].version);
    assert.deepEqual(
      update.resources.map((r) => r.name),
      ['a'],
    );
    assert.deepEqual(update.removedResources, []);
    await settle(50);

    const less = makeSnapshot([
      cluster('a', { tag: 1 }),
      cluster('e', { eds: true }),
      endpoints('e', 1),
      listener('l'),
    ]);
    cache.setSnapshot('delta-1', less);
    const removal = await c.waitFor(CDS, (r) => r.systemVersionInfo === less.types[CDS].version);
    assert.deepEqual(removal.resources, []);
    assert.deepEqual(removal.removedResources, ['b']);
    await settle(50);
    known = c.versions(CDS);
    assert.deepEqual(Object.keys(known).sort(), ['a', 'e']);
    const st = ads.status().find((s) => s.nodeId === 'delta-1')!;
    assert.equal(st.kind, 'delta');
    assert.deepEqual(st.totals, { pushes: 3, acks: 3, nacks: 0 });
  } finally {
    c.close();
  }

  const again = new DeltaAdsClient(address, { id: 'delta-1' });
  try {
    again.subscribe(CDS, [], known);
    await settle();
    assert.equal(again.count(CDS), 0, 'nothing resent after reconnect');
    cache.setSnapshot('delta-1', snap(2));
    const next = await again.waitFor(CDS);
    assert.deepEqual(next.resources.map((r) => r.name).sort(), ['a', 'b']);
  } finally {
    again.close();
  }
});

test('delta: named EDS subscription and unsubscription', async () => {
  cache.setSnapshot('delta-eds', snap());
  const c = new DeltaAdsClient(address, { id: 'delta-eds' });
  try {
    c.subscribe(EDS, ['e']);
    assert.deepEqual(
      (await c.waitFor(EDS)).resources.map((r) => r.name),
      ['e'],
    );
    c.unsubscribe(EDS, ['e']);
    await settle(50);
    cache.setSnapshot('delta-eds', snap(1));
    await settle(50);
    assert.equal(c.count(EDS), 1, 'no push for a resource no longer subscribed');
  } finally {
    c.close();
  }
});

/** Opens a stream that sends raw bytes, bypassing the generated serializer. */
function rawStream(path: string, chunks: Buffer[]): Promise<StatusObject> {
  const client = new Client(address, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    path,
    (b: Buffer) => b,
    (b: Buffer) => b,
  );
  call.on('error', () => {});
  call.on('data', () => {});
  for (const b of chunks) call.write(b);
  return new Promise((res) => call.on('status', (s) => (client.close(), res(s))));
}

test('malformed and unexpected requests end only their stream; the server keeps serving', async () => {
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x99]);
  const s1 = await rawStream('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', [
    garbage,
  ]);
  assert.notEqual(s1.code, GrpcStatus.OK);
  const s2 = await rawStream('/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', [
    garbage,
  ]);
  assert.notEqual(s2.code, GrpcStatus.OK);

  const anonymous = new SotwAdsClient(address, { id: '' });
  anonymous.request(CDS);
  assert.equal((await anonymous.closed).code, GrpcStatus.INVALID_ARGUMENT);
  anonymous.close();

  cache.setSnapshot('odd', snap());
  const c = new SotwAdsClient(address, { id: 'odd' });
  try {
    c.request('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', ['x']);
    c.request('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', ['y']);
    c.request(CDS);
    await c.waitFor(CDS);
    assert.equal(warnings.filter((w) => w.includes('unsupported type URL')).length, 1, 'logged once');
  } finally {
    c.close();
  }
});

test('1,000 streams on one channel all get the push, each exactly once', async () => {
  const channel = adsChannel(address);
  const clients = Array.from(
    { length: 1000 },
    (_, i) => new SotwAdsClient(address, { id: `many-${i}` }, { client: channel }),
  );
  try {
    for (const [i, c] of clients.entries()) {
      cache.setSnapshot(`many-${i}`, snap());
      c.request(CDS);
    }
    await Promise.all(clients.map((c) => c.waitFor(CDS, () => true, 10_000)));
    await settle(200);
    const target = snap(1).types[CDS].version;
    for (let i = 0; i < clients.length; i++) cache.setSnapshot(`many-${i}`, snap(1));
    await Promise.all(clients.map((c) => c.waitFor(CDS, (r) => r.versionInfo === target, 20_000)));
    await settle(200);
    // how fast is the benchmarks' business (ads-fanout); here: everyone got it, once
    assert.deepEqual(new Set(clients.map((c) => c.count(CDS))), new Set([2]));
  } finally {
    for (const c of clients) c.close();
    channel.close();
  }
});

test('stop ends every stream and is idempotent', async () => {
  cache.setSnapshot('stopper', snap());
  const c = new SotwAdsClient(address, { id: 'stopper' });
  c.request(CDS);
  await c.waitFor(CDS);
  ads.stop();
  ads.stop();
  await c.closed;
  assert.deepEqual(ads.status(), []);
  const late = new SotwAdsClient(address, { id: 'late' });
  late.request(CDS);
  assert.equal((await late.closed).code, GrpcStatus.UNAVAILABLE);
  c.close();
  late.close();
});
