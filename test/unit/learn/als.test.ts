import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AccessLogType,
  HTTPAccessLogEntry,
  HTTPAccessLogEntry_HTTPVersion,
  TCPAccessLogEntry,
} from '../../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import { toObservation } from '../../../xds-server/src/learn/index.js';
import { IdentityIndex } from '../../../xds-server/src/inventory/identity.js';
import type { AlsContext } from '../../../xds-server/src/learn/index.js';
import type { Inventory } from '../../../xds-server/src/model/index.js';

const inv: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.0.0.11'], ports: [8080] },
    { name: 'web-2', service: 'shop/web', addresses: ['10.0.0.12'], ports: [8080] },
    { name: 'db-0', service: 'shop/db', addresses: ['10.0.0.21'], ports: [5432] },
  ],
  externals: [{ name: 'payments', address: '203.0.113.10' }],
  vips: [{ service: 'shop/db', address: '10.96.0.21' }],
};
const index = IdentityIndex.build(inv);
const T0 = 1_700_000_000;

const sa = (ip: string, port: number) => ({ socketAddress: { address: ip, portValue: port } });

function ctx(logName: string, nodeId = 'web-1.shop', cluster = 'shop/web'): AlsContext {
  return { logName, node: { id: nodeId, cluster }, index };
}

function outboundTcp(dst: [string, number], extra: Record<string, unknown> = {}): TCPAccessLogEntry {
  return TCPAccessLogEntry.fromPartial({
    commonProperties: {
      downstreamRemoteAddress: sa('10.0.0.11', 40001),
      downstreamLocalAddress: sa(dst[0], dst[1]),
      upstreamLocalAddress: sa('10.0.0.11', 50001),
      upstreamRemoteAddress: sa(dst[0] === '10.96.0.21' ? '10.0.0.21' : dst[0], dst[1]),
      startTime: { seconds: T0, nanos: 0 },
      accessLogType: AccessLogType.TcpConnectionEnd,
      ...extra,
    },
    connectionProperties: { receivedBytes: 100, sentBytes: 2000 },
  });
}

test('outbound to a workload address: source is the reporter, destination its service, port the original', () => {
  const r = toObservation(outboundTcp(['10.0.0.21', 5432]), 'tcp', ctx('outbound'));
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.obs.source, { service: 'shop/web' });
  assert.equal(r.obs.sourceWorkload, 'web-1');
  assert.deepEqual(r.obs.destination, { service: 'shop/db' });
  assert.equal(r.obs.port, 5432);
  assert.equal(r.obs.protocol, 'tcp');
  assert.equal(r.obs.side, 'outbound');
  assert.equal(r.obs.reporter, 'web-1.shop');
  assert.equal(r.obs.bytesSent, 100);
  assert.equal(r.obs.bytesReceived, 2000);
  assert.equal(r.obs.time, T0 * 1000);
  assert.equal(r.obs.dedupKey, 'tcp|10.0.0.11:50001>10.0.0.21:5432');
});

test('outbound to a VIP: destination is the VIP service on the VIP port', () => {
  const r = toObservation(outboundTcp(['10.96.0.21', 5432]), 'tcp', ctx('outbound'));
  assert.ok(r.ok);
  assert.deepEqual(r.obs.destination, { service: 'shop/db' });
  assert.equal(r.obs.port, 5432);
  // the dedup key follows the real upstream so it matches the server's inbound log
  assert.equal(r.obs.dedupKey, 'tcp|10.0.0.11:50001>10.0.0.21:5432');
});

test('outbound to an external keeps the exact address and the TLS SNI (a named external is still external)', () => {
  const r = toObservation(
    outboundTcp(['203.0.113.10', 443], { tlsProperties: { tlsSniHostname: 'pay.example' } }),
    'tcp',
    ctx('outbound'),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.obs.destination, { cidr: '203.0.113.10/32', sni: 'pay.example' });
  assert.equal(r.obs.port, 443);
  const plain = toObservation(outboundTcp(['198.51.100.7', 443]), 'tcp', ctx('outbound'));
  assert.ok(plain.ok);
  assert.deepEqual(plain.obs.destination, { cidr: '198.51.100.7/32' });
});

test('outbound reporter found by node id or cluster when the app address is unknown', () => {
  const e = outboundTcp(['10.0.0.21', 5432], { downstreamRemoteAddress: sa('127.0.0.1', 40001) });
  const byNode = toObservation(e, 'tcp', ctx('outbound', 'web-2.shop', 'whatever'));
  assert.ok(byNode.ok);
  assert.equal(byNode.obs.sourceWorkload, 'web-2');
  const byCluster = toObservation(e, 'tcp', ctx('outbound', 'unknown-pod.shop', 'shop/web'));
  assert.ok(byCluster.ok);
  assert.deepEqual(byCluster.obs.source, { service: 'shop/web' });
  assert.equal(byCluster.obs.sourceWorkload, undefined);
  const nobody = toObservation(e, 'tcp', ctx('outbound', 'x.y', 'no/such'));
  assert.ok(!nobody.ok);
  assert.equal(nobody.kind, 'unknown-reporter');
});

test('outbound without an upstream connection gets a key that never matches an inbound log', () => {
  const r = toObservation(
    outboundTcp(['10.0.0.21', 5432], { upstreamLocalAddress: undefined, upstreamRemoteAddress: undefined }),
    'tcp',
    ctx('outbound'),
  );
  assert.ok(r.ok);
  assert.equal(r.obs.dedupKey, 'tcp-d|10.0.0.11:40001>10.0.0.21:5432');
});

test('inbound: source from the client address, destination the reporter, port the local port', () => {
  const e = TCPAccessLogEntry.fromPartial({
    commonProperties: {
      downstreamRemoteAddress: sa('10.0.0.11', 50001),
      downstreamLocalAddress: sa('10.0.0.21', 5432),
      upstreamLocalAddress: sa('127.0.0.6', 33333),
      upstreamRemoteAddress: sa('10.0.0.21', 5432),
      startTime: { seconds: T0, nanos: 500_000_000 },
      duration: { seconds: 2, nanos: 0 },
    },
    connectionProperties: { receivedBytes: 100, sentBytes: 2000 },
  });
  const r = toObservation(e, 'tcp', ctx('inbound', 'db-0.shop', 'shop/db'));
  assert.ok(r.ok);
  assert.deepEqual(r.obs.source, { service: 'shop/web' });
  assert.equal(r.obs.sourceWorkload, 'web-1');
  assert.deepEqual(r.obs.destination, { service: 'shop/db' });
  assert.equal(r.obs.port, 5432);
  assert.equal(r.obs.time, T0 * 1000 + 500 + 2000);
  assert.equal(r.obs.dedupKey, 'tcp|10.0.0.11:50001>10.0.0.21:5432');
  assert.equal(r.obs.bytesSent, 100);
  assert.equal(r.obs.bytesReceived, 2000);
});

test('inbound from an unknown address: exact external source without SNI', () => {
  const e = TCPAccessLogEntry.fromPartial({
    commonProperties: {
      downstreamRemoteAddress: sa('::ffff:192.0.2.5', 61000),
      downstreamLocalAddress: sa('10.0.0.21', 5432),
      startTime: { seconds: T0, nanos: 0 },
      tlsProperties: { tlsSniHostname: 'db.shop.internal' },
    },
  });
  const r = toObservation(e, 'tcp', ctx('inbound', 'db-0.shop', 'shop/db'));
  assert.ok(r.ok);
  assert.deepEqual(r.obs.source, { cidr: '192.0.2.5/32' });
});

test('http: request id is the dedup key on both sides; gRPC recognised by HTTP/2 and path shape', () => {
  const mk = (path: string, version: HTTPAccessLogEntry_HTTPVersion) =>
    HTTPAccessLogEntry.fromPartial({
      commonProperties: {
        downstreamRemoteAddress: sa('10.0.0.11', 40001),
        downstreamLocalAddress: sa('10.96.0.21', 8080),
        startTime: { seconds: T0, nanos: 0 },
      },
      protocolVersion: version,
      request: { requestId: 'req-1', authority: 'db:8080', path, requestHeadersBytes: 50, requestBodyBytes: 10 },
      response: { responseCode: 200, responseHeadersBytes: 30, responseBodyBytes: 300 },
    });
  const h = toObservation(mk('/orders?id=1', HTTPAccessLogEntry_HTTPVersion.HTTP11), 'http', ctx('outbound'));
  assert.ok(h.ok);
  assert.equal(h.obs.protocol, 'http');
  assert.equal(h.obs.dedupKey, 'http|req-1');
  assert.equal(h.obs.bytesSent, 60);
  assert.equal(h.obs.bytesReceived, 330);
  const g = toObservation(mk('/shop.v1.Orders/Get', HTTPAccessLogEntry_HTTPVersion.HTTP2), 'http', ctx('outbound'));
  assert.ok(g.ok);
  assert.equal(g.obs.protocol, 'grpc');
  const h2 = toObservation(mk('/orders/1', HTTPAccessLogEntry_HTTPVersion.HTTP2), 'http', ctx('outbound'));
  assert.ok(h2.ok);
  assert.equal(h2.obs.protocol, 'http');
});

test('http to an external without TLS names it by the authority host', () => {
  const e = HTTPAccessLogEntry.fromPartial({
    commonProperties: {
      downstreamRemoteAddress: sa('10.0.0.11', 40001),
      downstreamLocalAddress: sa('203.0.113.10', 80),
      startTime: { seconds: T0, nanos: 0 },
    },
    protocolVersion: HTTPAccessLogEntry_HTTPVersion.HTTP11,
    request: { authority: 'api.example:80', path: '/' },
  });
  const r = toObservation(e, 'http', ctx('outbound'));
  assert.ok(r.ok);
  assert.deepEqual(r.obs.destination, { cidr: '203.0.113.10/32', sni: 'api.example' });
  assert.equal(r.obs.dedupKey, undefined);
});

test('malformed entries give error kinds and never throw', () => {
  const good = outboundTcp(['10.0.0.21', 5432]);
  const cases: [unknown, string, string][] = [
    [good, 'sideways', 'unknown-log-name'],
    [{}, 'outbound', 'missing-common'],
    [
      TCPAccessLogEntry.fromPartial({ commonProperties: { downstreamRemoteAddress: sa('10.0.0.11', 1) } }),
      'outbound',
      'missing-address',
    ],
    [outboundTcp(['10.0.0.21', 0]), 'outbound', 'bad-port'],
    [outboundTcp(['10.0.0.21', 70000]), 'outbound', 'bad-port'],
    [outboundTcp(['', 80]), 'outbound', 'bad-address'],
    [
      outboundTcp(['10.0.0.21', 80], { downstreamLocalAddress: { pipe: { path: '/x', mode: 0 } } }),
      'outbound',
      'bad-address',
    ],
    [outboundTcp(['10.0.0.21', 80], { startTime: undefined }), 'outbound', 'missing-time'],
    [{ commonProperties: { downstreamLocalAddress: { socketAddress: null } } }, 'inbound', 'missing-address'],
    [
      {
        commonProperties: {
          get downstreamLocalAddress(): never {
            throw new Error('boom');
          },
        },
      },
      'inbound',
      'internal',
    ],
  ];
  for (const [entry, logName, kind] of cases) {
    const r = toObservation(entry as TCPAccessLogEntry, 'tcp', ctx(logName));
    assert.equal(r.ok, false, `${kind}: ${JSON.stringify(r)}`);
    if (!r.ok) {
      assert.equal(r.kind, kind, r.detail);
      assert.ok(r.detail.length > 0);
    }
  }
  // a missing start time is fine when the caller supplies a receive time
  const withNow = toObservation(outboundTcp(['10.0.0.21', 80], { startTime: undefined }), 'tcp', {
    ...ctx('outbound'),
    now: 42,
  });
  assert.ok(withNow.ok);
  assert.equal(withNow.obs.time, 42);
});

test('fuzz: random structures never throw', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const addr = () =>
    pick([undefined, null, {}, { socketAddress: {} }, sa('10.0.0.11', 1), sa('1.2.3.4', -1), sa('x', 3.5)]);
  for (let i = 0; i < 2000; i++) {
    const e = {
      commonProperties: pick([
        undefined,
        null,
        {
          downstreamRemoteAddress: addr(),
          downstreamLocalAddress: addr(),
          upstreamLocalAddress: addr(),
          upstreamRemoteAddress: addr(),
          startTime: pick([undefined, { seconds: T0, nanos: 0 }, { seconds: 'x' }]),
        },
      ]),
      connectionProperties: pick([undefined, null, { receivedBytes: 1, sentBytes: 2 }]),
      request: pick([undefined, null, { requestId: 'a' }]),
    };
    const r = toObservation(e as never, pick(['tcp', 'http'] as const), ctx(pick(['inbound', 'outbound'])));
    assert.equal(typeof r.ok, 'boolean');
  }
});
