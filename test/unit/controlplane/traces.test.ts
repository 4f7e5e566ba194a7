// Traces in the real wiring (in-memory harness): an export's spans are attributed to the node its metadata names and
// kept; a would-deny on a traced request marks the deciding sidecar's hop and its alert names the trace, whether the
// trace id comes from the logged traceparent or from a span that arrived first (joined by request key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata } from '@grpc/grpc-js';
import { ExportTraceServiceRequest } from '../../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service.js';
import { Harness } from '../../support/harness.js';

const INVENTORY = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] },
    { name: 'api-1', service: 'shop/api', addresses: ['10.213.0.12'], ports: [9090] },
  ],
  externals: [],
  vips: [],
};
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER = '0af7651916cd43dd8448eb211c80319c';
const rid = (n: number, nibble: string) => `6f1e7c3a-2b4d-${nibble}c8e-8f00-12345678900${n}`;

function exportSpans(h: Harness, from: string, spans: object[]): Promise<unknown> {
  const body = Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromPartial({ resourceSpans: [{ scopeSpans: [{ spans: spans as never }] }] }),
    ).finish(),
  );
  const metadata = new Metadata();
  metadata.set('x-forwarded-for', from);
  return new Promise((resolve) =>
    (h.core.traces.handlers().export as (c: unknown, cb: (e: unknown, r: unknown) => void) => void)(
      { request: body, metadata, getPeer: () => 'test' },
      (_e, r) => resolve(r),
    ),
  );
}

function inboundRequest(h: Harness, requestId: string, traceparent?: string) {
  const seconds = Math.floor(h.clock.now() / 1000);
  return {
    commonProperties: {
      downstreamRemoteAddress: { socketAddress: { address: '10.213.0.11', portValue: 40000 } },
      downstreamLocalAddress: { socketAddress: { address: '10.213.0.12', portValue: 9090 } },
      startTime: { seconds, nanos: 0 },
      metadata: {
        filterMetadata: { 'envoy.filters.http.rbac': { shadow_engine_result: 'denied' } },
        typedFilterMetadata: {},
      },
    },
    protocolVersion: 2,
    request: {
      requestId,
      path: '/items/1',
      requestMethod: 1,
      ...(traceparent && { requestHeaders: { traceparent } }),
    },
    response: { responseCode: 200 },
  };
}

test('a would-deny alert names the trace of its request; the deciding hop shows the verdict', async (t) => {
  const h = await Harness.open();
  t.after(() => h.close());
  h.api.putInventory('lab', INVENTORY);
  await h.settle();
  assert.ok(h.api.setMode('shop/api', 'monitor', 'test').ok);
  const now = h.clock.now() * 1e6;
  const server = (traceId: string, requestId: string) => ({
    traceId: Buffer.from(traceId, 'hex'),
    spanId: Buffer.alloc(8, 2),
    parentSpanId: Buffer.alloc(8, 1),
    kind: 2, // server
    startTimeUnixNano: now,
    endTimeUnixNano: now + 2e6,
    attributes: [
      { key: 'node_id', value: { stringValue: 'api-1.shop' } },
      { key: 'peer.address', value: { stringValue: '10.213.0.11:40000' } },
      { key: 'upstream_address', value: { stringValue: '10.213.0.12:9090' } },
      { key: 'guid:x-request-id', value: { stringValue: requestId } },
      { key: 'http.status_code', value: { stringValue: '200' } },
    ],
  });
  // web-1's sidecar exporting a span that names api-1's node: refused, not attributed to anyone
  const forged = (await exportSpans(h, '10.213.0.11', [server(OTHER, rid(9, '9'))])) as {
    partialSuccess?: { rejectedSpans: number; errorMessage: string };
  };
  assert.equal(forged.partialSuccess?.rejectedSpans, 1);
  assert.equal(forged.partialSuccess?.errorMessage, 'trace export from web-1 (10.213.0.11) names node api-1.shop');
  assert.equal(h.core.traces.store.get(OTHER), undefined);
  const res = await exportSpans(h, '10.213.0.12', [
    {
      traceId: Buffer.from(TRACE, 'hex'),
      spanId: Buffer.alloc(8, 2),
      parentSpanId: Buffer.alloc(8, 1),
      kind: 2, // server
      startTimeUnixNano: now,
      endTimeUnixNano: now + 2e6,
      attributes: [
        { key: 'node_id', value: { stringValue: 'api-1.shop' } },
        { key: 'peer.address', value: { stringValue: '10.213.0.11:40000' } },
        { key: 'upstream_address', value: { stringValue: '10.213.0.12:9090' } },
        { key: 'guid:x-request-id', value: { stringValue: rid(1, '9') } },
        { key: 'http.status_code', value: { stringValue: '200' } },
      ],
    },
  ]);
  assert.deepEqual(res, { partialSuccess: undefined });
  assert.equal(h.core.traces.store.get(TRACE)?.spans[0]?.service, 'shop/api');

  const logs = h.accessLogs();
  logs.send({
    identifier: { node: { id: 'api-1.shop', cluster: 'shop/api' }, logName: 'inbound' },
    httpLogs: {
      logEntry: [
        inboundRequest(h, rid(1, '4')), // the span came first: joined by request key
        inboundRequest(h, rid(2, '4'), `00-${OTHER}-00f067aa0ba902b7-01`), // never seen as a span
      ],
    },
  });
  await h.settle();
  const alerts = h.api.alerts(0).filter((a) => a.verdict === 'would-deny');
  assert.deepEqual(
    alerts.map((a) => a.traceId),
    [TRACE],
    'the first alert of a (source, destination, port) goes out at once; its repeat is aggregated',
  );
  const hop = h.core.traces.store.get(TRACE)!.spans[0]!;
  assert.equal(hop.verdict, 'would-deny');
  assert.equal(h.core.traces.store.get(TRACE)!.summary.error, false, 'a would-deny is not an error');

  // another source, so another alert: its trace id comes from the logged traceparent
  h.api.putInventory('lab', {
    ...INVENTORY,
    workloads: [...INVENTORY.workloads, { name: 'ops-1', service: 'shop/ops', addresses: ['10.213.0.13'], ports: [] }],
  });
  await h.settle();
  const e = inboundRequest(h, rid(3, '4'), `00-${OTHER}-00f067aa0ba902b7-01`);
  e.commonProperties.downstreamRemoteAddress.socketAddress.address = '10.213.0.13';
  logs.send({ httpLogs: { logEntry: [e] } });
  await h.settle();
  const ops = h.api.alerts(0).find((a) => a.source.service === 'shop/ops');
  assert.equal(ops?.traceId, OTHER);
});
