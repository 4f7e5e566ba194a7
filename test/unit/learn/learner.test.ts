import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AccessLogType,
  HTTPAccessLogEntry,
  HTTPAccessLogEntry_HTTPVersion,
  TCPAccessLogEntry,
} from '../../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import { Learner, toObservation } from '../../../xds-server/src/learn/index.js';
import { IdentityIndex } from '../../../xds-server/src/inventory/identity.js';
import type { AlsEntryKind } from '../../../xds-server/src/learn/index.js';
import type { Inventory, Observation } from '../../../xds-server/src/model/index.js';

const inv: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.0.0.11'], ports: [8080] },
    { name: 'web-2', service: 'shop/web', addresses: ['10.0.0.12'], ports: [8080] },
    { name: 'web-3', service: 'shop/web', addresses: ['10.0.0.13'], ports: [8080] },
    { name: 'web-4', service: 'shop/web', addresses: ['10.0.0.14'], ports: [8080] },
    { name: 'db-0', service: 'shop/db', addresses: ['10.0.0.21'], ports: [5432] },
    { name: 'db-1', service: 'shop/db', addresses: ['10.0.0.22'], ports: [5432] },
  ],
  externals: [],
  vips: [{ service: 'shop/db', address: '10.96.0.21' }],
};
const index = IdentityIndex.build(inv);
const T0 = 1_700_000_000;
const sa = (ip: string, port: number) => ({ socketAddress: { address: ip, portValue: port } });
const nodeOf: Record<string, string> = {
  '10.0.0.11': 'web-1.shop',
  '10.0.0.12': 'web-2.shop',
  '10.0.0.13': 'web-3.shop',
  '10.0.0.14': 'web-4.shop',
  '10.0.0.21': 'db-0.shop',
  '10.0.0.22': 'db-1.shop',
};

function obs(
  entry: TCPAccessLogEntry | HTTPAccessLogEntry,
  kind: AlsEntryKind,
  logName: 'inbound' | 'outbound',
  reporterIp: string,
): Observation {
  const r = toObservation(entry, kind, { logName, node: { id: nodeOf[reporterIp]!, cluster: '' }, index });
  assert.ok(r.ok, JSON.stringify(r));
  return r.obs;
}

/** One TCP connection client → (vip or pod) as logged by both sidecars. */
function connection(
  client: string,
  cport: number,
  dst: string,
  server: string,
  port: number,
  o: {
    type?: AccessLogType;
    sec?: number;
    rx?: number;
    tx?: number;
  } = {},
): { out: Observation; in: Observation } {
  const common = {
    startTime: { seconds: T0 + (o.sec ?? 0), nanos: 0 },
    accessLogType: o.type ?? AccessLogType.TcpConnectionEnd,
  };
  const cp = { receivedBytes: o.rx ?? 100, sentBytes: o.tx ?? 1000 };
  const out = TCPAccessLogEntry.fromPartial({
    commonProperties: {
      ...common,
      downstreamRemoteAddress: sa(client, cport),
      downstreamLocalAddress: sa(dst, port),
      upstreamLocalAddress: sa(client, cport + 10_000),
      upstreamRemoteAddress: sa(server, port),
    },
    connectionProperties: cp,
  });
  const inb = TCPAccessLogEntry.fromPartial({
    commonProperties: {
      ...common,
      downstreamRemoteAddress: sa(client, cport + 10_000),
      downstreamLocalAddress: sa(server, port),
      upstreamLocalAddress: sa('127.0.0.6', 44444),
      upstreamRemoteAddress: sa(server, port),
    },
    connectionProperties: cp,
  });
  return { out: obs(out, 'tcp', 'outbound', client), in: obs(inb, 'tcp', 'inbound', server) };
}

test('client-side and server-side logs of one connection count once', () => {
  const l = new Learner();
  const c = connection('10.0.0.11', 40001, '10.96.0.21', '10.0.0.21', 5432);
  const a = l.observe(c.out);
  const b = l.observe(c.in);
  assert.equal(a.isNew, true);
  assert.equal(a.counted, true);
  assert.equal(b.isNew, false);
  assert.equal(b.counted, false);
  assert.equal(b.edge.id, a.edge.id);
  const edges = l.edges();
  assert.equal(edges.length, 1);
  assert.equal(edges[0]!.id, 'svc:shop/web>svc:shop/db|tcp/5432');
  assert.equal(edges[0]!.evidence.count, 1);
  assert.equal(edges[0]!.evidence.bytesSent, 100);
  assert.equal(edges[0]!.evidence.bytesReceived, 1000);
  // server side first works the same
  const l2 = new Learner();
  l2.observe(c.in);
  l2.observe(c.out);
  assert.equal(l2.edges()[0]!.evidence.count, 1);
});

test('connected, periodic and end logs of one connection count once; bytes follow the latest cumulative value', () => {
  const l = new Learner();
  const steps: [AccessLogType, number, number, number][] = [
    [AccessLogType.TcpUpstreamConnected, 0, 0, 0],
    [AccessLogType.TcpPeriodic, 5, 300, 4000],
    [AccessLogType.TcpPeriodic, 10, 600, 9000],
    [AccessLogType.TcpConnectionEnd, 12, 700, 9500],
  ];
  let counted = 0;
  for (const [type, sec, rx, tx] of steps) {
    const c = connection('10.0.0.11', 40001, '10.0.0.21', '10.0.0.21', 5432, { type, sec, rx, tx });
    for (const o of [c.out, c.in]) if (l.observe(o).counted) counted++;
  }
  assert.equal(counted, 1);
  const [e] = l.edges();
  assert.equal(e!.evidence.count, 1);
  assert.equal(e!.evidence.bytesSent, 700);
  assert.equal(e!.evidence.bytesReceived, 9500);
  assert.equal(e!.evidence.firstSeen, T0 * 1000);
  assert.equal(e!.evidence.lastSeen, (T0 + 12) * 1000);
});

test('replicas collapse into their service and ephemeral ports never appear in edges', () => {
  const l = new Learner();
  const clients = ['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14'];
  let port = 30000;
  for (let i = 0; i < 40; i++) {
    const client = clients[i % 4]!;
    const server = i % 2 ? '10.0.0.21' : '10.0.0.22';
    const c = connection(client, port++, '10.96.0.21', server, 5432, { sec: i });
    l.observe(c.out);
    l.observe(c.in);
  }
  const edges = l.edges();
  assert.equal(edges.length, 1);
  const e = edges[0]!;
  assert.deepEqual(e.source, { service: 'shop/web' });
  assert.deepEqual(e.destination, { service: 'shop/db' });
  assert.equal(e.port, 5432);
  assert.equal(e.evidence.count, 40);
  assert.equal(e.evidence.exampleWorkloads.length, 3);
  // identity (id, peers, port) carries no client port; evidence numbers are not ports
  const identity = JSON.stringify(edges.map(({ evidence: _e, ...k }) => k));
  for (let p = 30000; p < port; p++) {
    for (const q of [p, p + 10_000]) assert.ok(!identity.includes(String(q)), `port ${q} leaked into ${identity}`);
  }
  const of = l.edgesOf('shop/db');
  assert.equal(of.ingress.length, 1);
  assert.equal(of.egress.length, 0);
  assert.equal(l.edgesOf('shop/web').egress.length, 1);
  assert.deepEqual(l.edgesOf('nobody/here'), { ingress: [], egress: [] });
});

test('HTTP requests dedup across sides by request id; requests without one each count', () => {
  const mk = (rid: string, reporterLocal: string, remote: string) =>
    HTTPAccessLogEntry.fromPartial({
      commonProperties: {
        downstreamRemoteAddress: sa(remote, 41000),
        downstreamLocalAddress: sa(reporterLocal, 8080),
        startTime: { seconds: T0, nanos: 0 },
      },
      protocolVersion: HTTPAccessLogEntry_HTTPVersion.HTTP11,
      request: { requestId: rid, path: '/', requestHeadersBytes: 10 },
      response: { responseHeadersBytes: 20 },
    });
  const l = new Learner();
  for (const rid of ['r1', 'r2', 'r3']) {
    l.observe(obs(mk(rid, '10.0.0.21', '10.0.0.11'), 'http', 'outbound', '10.0.0.11'));
    l.observe(obs(mk(rid, '10.0.0.21', '10.0.0.11'), 'http', 'inbound', '10.0.0.21'));
  }
  l.observe(obs(mk('', '10.0.0.21', '10.0.0.11'), 'http', 'outbound', '10.0.0.11'));
  const [e] = l.edges();
  assert.equal(e!.id, 'svc:shop/web>svc:shop/db|http/8080');
  assert.equal(e!.evidence.count, 4);
  assert.equal(e!.evidence.bytesSent, 40);
});

test('dedup keys expire after the TTL and the key map stays bounded', () => {
  const l = new Learner({ dedupTtlMs: 1000, dedupMaxKeys: 10 });
  const c = connection('10.0.0.11', 40001, '10.0.0.21', '10.0.0.21', 5432);
  l.observe(c.out);
  // 2 s later, same 4-tuple: the port was reused by a new connection
  const later = connection('10.0.0.11', 40001, '10.0.0.21', '10.0.0.21', 5432, { sec: 2 });
  assert.equal(l.observe(later.out).counted, true);
  for (let i = 0; i < 100; i++)
    l.observe(connection('10.0.0.12', 20000 + i, '10.0.0.21', '10.0.0.21', 5432, { sec: 2 }).out);
  assert.ok(l.dedupSize <= 10);
});

test('dirty() returns changed edges once; load() restores', () => {
  const l = new Learner();
  assert.deepEqual(l.dirty(), []);
  const c = connection('10.0.0.11', 40001, '10.0.0.21', '10.0.0.21', 5432);
  l.observe(c.out);
  const d = l.dirty();
  assert.equal(d.length, 1);
  assert.deepEqual(l.dirty(), []);
  l.observe(c.in); // same bytes, same time: nothing changed
  assert.deepEqual(l.dirty(), []);
  const l2 = new Learner();
  l2.load(l.edges());
  assert.deepEqual(l2.edges(), l.edges());
  const r = l2.observe(connection('10.0.0.12', 40002, '10.0.0.21', '10.0.0.21', 5432, { sec: 5 }).out);
  assert.equal(r.isNew, false);
  assert.equal(r.edge.evidence.count, 2);
  // snapshots are copies: mutating them does not touch the learner
  l2.edges()[0]!.evidence.count = 99;
  assert.equal(l2.edges()[0]!.evidence.count, 2);
});

test('performance: well over 100k observe() per second on one core', () => {
  const l = new Learner();
  const n = 300_000;
  // 150k distinct connections, each logged by both sides: half the calls count, half are dedup hits
  const base = connection('10.0.0.11', 40001, '10.96.0.21', '10.0.0.21', 5432);
  const obsList: Observation[] = [];
  for (let i = 0; i < n / 2; i++) {
    const dedupKey = `tcp|10.0.0.1${1 + (i % 4)}:${i}>10.0.0.21:5432`;
    const time = base.out.time + i;
    obsList.push({ ...base.out, dedupKey, time }, { ...base.in, dedupKey, time });
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    l.observe(obsList[i]!);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = n / secs;
  console.log(`# learner: ${Math.round(rate).toLocaleString('en')} observe()/s`);
  assert.ok(rate > 100_000, `only ${rate}/s`);
});
