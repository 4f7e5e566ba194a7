// Spans → observations: attributed to the exporting node, never to service.name; a span naming another node or
// another workload's address is refused; the request id joins a span with the access-log entries of its request
// (Envoy's trace-decision character ignored); a 403 is not learned from a span.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdentityIndex } from '../../../xds-server/src/inventory/identity.js';
import { fromSpan, parseHostPort, requestKey, toObservation } from '../../../xds-server/src/learn/index.js';
import type { DecodedSpan, HttpLogEntry, SpanAttribute } from '../../../xds-server/src/model/index.js';

const index = IdentityIndex.build({
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.0.0.2'], ports: [] },
    { name: 'api-1', service: 'shop/api', addresses: ['10.0.0.3'], ports: [9090] },
    { name: 'api-2', service: 'shop/api', addresses: ['10.0.0.4'], ports: [9090] },
  ],
  externals: [],
  vips: [{ service: 'shop/api', address: '10.0.255.1' }],
});

const RID = '6f1e7c3a-2b4d-9c8e-8f00-123456789abc'; // '9' at 14: sampled

function span(kind: DecodedSpan['kind'], attributes: Partial<Record<SpanAttribute, string>>): DecodedSpan {
  return {
    traceId: 'ab'.repeat(16),
    spanId: 'cd'.repeat(8),
    parentSpanId: '',
    name: 'x',
    kind,
    startMs: 1_700_000_000_000,
    endMs: 1_700_000_000_012,
    status: 'unset',
    attributes,
  };
}

test('a client span through a VIP: the node is the source, the cluster names the service and port', () => {
  const r = fromSpan(
    span('client', {
      node_id: 'web-1.shop',
      'peer.address': '10.0.0.2:41234',
      upstream_cluster: 'outbound|9090||shop/api',
      upstream_address: '10.0.0.4:9090',
      'http.url': 'http://api.shop:9090/items/42?x=1',
      'http.method': 'GET',
      'http.status_code': '200',
      'guid:x-request-id': RID,
    }),
    'web-1.shop',
    index,
  );
  assert.ok(r.ok);
  assert.deepEqual(r.obs, {
    time: 1_700_000_000_012,
    side: 'outbound',
    reporter: 'web-1.shop',
    source: { service: 'shop/web' },
    destination: { service: 'shop/api' },
    port: 9090,
    protocol: 'http',
    bytesSent: 0,
    bytesReceived: 0,
    sourceWorkload: 'web-1',
    dedupKey: `http|${requestKey(RID)}`,
    method: 'GET',
    path: '/items/{id}',
    durationMs: 12,
  });
  assert.equal(r.facts.peer, 'shop/api');
  assert.equal(r.facts.service, 'shop/web');
  assert.equal(r.facts.error, false);
});

test('a server span: the client address names the source, the local port the edge; service.name plays no part', () => {
  const r = fromSpan(
    span('server', {
      'peer.address': '10.0.0.2:50000',
      upstream_address: '10.0.0.3:9090',
      'http.url': 'http://api.shop:9090/shop.Cart/AddItem',
      'http.protocol': 'HTTP/2',
      'http.status_code': '503',
      'guid:x-request-id': RID.slice(0, 14) + 'a' + RID.slice(15), // forced by the server's own decision
    }),
    'api-1.shop',
    index,
  );
  assert.ok(r.ok);
  assert.equal(r.obs?.side, 'inbound');
  assert.deepEqual(r.obs?.source, { service: 'shop/web' });
  assert.deepEqual(r.obs?.destination, { service: 'shop/api' });
  assert.equal(r.obs?.port, 9090);
  assert.equal(r.obs?.protocol, 'grpc');
  assert.equal(r.obs?.method, 'POST');
  assert.equal(r.obs?.path, '/shop.Cart/AddItem');
  assert.equal(r.obs?.dedupKey, `http|${requestKey(RID)}`, 'same key as the client side of the request');
  assert.equal(r.facts.error, true, '5xx is an error');
  assert.equal(r.obs?.error, true, 'and the observation carries it to the edge');
  assert.equal(r.obs?.durationMs, 12);
  assert.equal(r.facts.peer, 'shop/web');
});

test('a span fails on a gRPC status other than OK or an upstream failure flag, not on a 4xx or a client gone away', () => {
  const server = (a: Partial<Record<SpanAttribute, string>>) =>
    fromSpan(
      span('server', { 'peer.address': '10.0.0.2:50000', upstream_address: '10.0.0.3:9090', ...a }),
      'api-1.shop',
      index,
    );
  const failed = (a: Partial<Record<SpanAttribute, string>>) => {
    const r = server(a);
    assert.ok(r.ok && r.obs, JSON.stringify(a));
    return [r.facts.error, r.obs.error === true];
  };
  assert.deepEqual(failed({ 'http.status_code': '200', 'grpc.status_code': '14' }), [true, true]);
  assert.deepEqual(failed({ 'http.status_code': '200', 'grpc.status_code': '0' }), [false, false]);
  assert.deepEqual(failed({ 'http.status_code': '503', response_flags: 'UF,URX' }), [true, true]);
  assert.deepEqual(failed({ response_flags: 'UF' }), [true, true]);
  assert.deepEqual(failed({ 'http.status_code': '404', response_flags: '-' }), [false, false]);
  assert.deepEqual(failed({ response_flags: 'DC' }), [false, false]);
});

test('spans claiming another node or workload are refused; an unknown node is refused', () => {
  const other = fromSpan(span('client', { node_id: 'api-2.shop' }), 'web-1.shop', index);
  assert.deepEqual(other.ok ? undefined : other.kind, 'foreign-span');
  const addr = fromSpan(span('client', { 'peer.address': '10.0.0.4:1234' }), 'web-1.shop', index);
  assert.deepEqual(addr.ok ? undefined : [addr.kind, addr.detail], [
    'foreign-span',
    'span of api-2 (10.0.0.4) exported by node web-1.shop',
  ]);
  const inbound = fromSpan(span('server', { upstream_address: '10.0.0.4:9090' }), 'api-1.shop', index);
  assert.equal(inbound.ok ? undefined : inbound.kind, 'foreign-span', "the replica's own address must be its own");
  const unknown = fromSpan(span('client', {}), 'ghost.shop', index);
  assert.equal(unknown.ok ? undefined : unknown.kind, 'unknown-reporter');
});

test('a 403 or a span without its edge is kept for the trace view but not learned', () => {
  const denied = fromSpan(
    span('server', { 'peer.address': '10.0.0.2:1', upstream_address: '10.0.0.3:9090', 'http.status_code': '403' }),
    'api-1.shop',
    index,
  );
  assert.ok(denied.ok && denied.obs === undefined && denied.facts.httpStatus === 403);
  const noPort = fromSpan(span('server', { 'peer.address': '10.0.0.2:1' }), 'api-1.shop', index);
  assert.ok(noPort.ok && noPort.obs === undefined);
});

test('an access-log entry and a span of one request share the dedup key, whatever Envoy packed into the id', () => {
  const entry: HttpLogEntry = {
    commonProperties: {
      downstreamRemoteAddress: { socketAddress: { address: '10.0.0.2', portValue: 5 } },
      downstreamLocalAddress: { socketAddress: { address: '10.0.0.3', portValue: 9090 } },
      startTime: { seconds: 1_700_000_000, nanos: 0 },
      connectionTerminationDetails: '',
      downstreamWireBytesSent: 0,
      downstreamWireBytesReceived: 0,
    },
    protocolVersion: 2,
    request: { requestId: RID.slice(0, 14) + '4' + RID.slice(15), path: '/items/1', requestMethod: 1 },
  } as HttpLogEntry;
  const log = toObservation(entry, 'http', {
    logName: 'inbound',
    node: { id: 'api-1.shop', cluster: 'shop/api' },
    index,
  });
  assert.ok(log.ok);
  assert.equal(log.obs.dedupKey, `http|${requestKey(RID)}`);
  assert.equal(requestKey('not-a-uuid'), 'not-a-uuid');
});

test('host:port parsing', () => {
  assert.deepEqual(parseHostPort('10.0.0.1:80'), { ip: '10.0.0.1', port: 80 });
  assert.deepEqual(parseHostPort('[::ffff:10.0.0.1]:80'), { ip: '10.0.0.1', port: 80 });
  assert.deepEqual(parseHostPort('10.0.0.1'), { ip: '10.0.0.1', port: undefined });
  assert.equal(parseHostPort('envoy://internal'), undefined);
  assert.equal(parseHostPort(''), undefined);
});

test("a server span as Envoy sends it (no addresses but the client's ip): the inbound chain's port tag names the edge", () => {
  const attrs = { 'peer.address': '10.0.0.2', 'http.url': 'http://10.96.0.3:9090/items/1', 'http.method': 'GET' };
  const tagged = fromSpan(span('server', { ...attrs, 'nanoseg.port': '9090' }), 'api-1.shop', index);
  assert.ok(tagged.ok);
  assert.deepEqual(
    [tagged.obs?.side, tagged.obs?.source, tagged.obs?.destination, tagged.obs?.port, tagged.obs?.durationMs],
    ['inbound', { service: 'shop/web' }, { service: 'shop/api' }, 9090, 12],
  );
  const untagged = fromSpan(span('server', attrs), 'api-1.shop', index);
  assert.ok(untagged.ok && untagged.obs === undefined, 'a catch-all chain names no port: the access logs teach it');
  const bad = fromSpan(span('server', { ...attrs, 'nanoseg.port': '70000' }), 'api-1.shop', index);
  assert.ok(bad.ok && bad.obs === undefined);
});
