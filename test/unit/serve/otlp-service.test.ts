// The trace receiver's own logic with a fake unary call: exports reach the sink decoded, with the exporter's own
// address from the call's x-forwarded-for; a malformed, an oversized or an over-backlog export is answered with partial_success counting
// its spans, and the receiver goes on serving. The real gRPC path is tested in test/integration/otlp-envoy.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata } from '@grpc/grpc-js';
import {
  ExportTraceServiceRequest,
  type ExportTraceServiceResponse,
} from '../../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service.js';
import { TraceService, type TraceCaller, type TraceSink } from '../../../xds-server/src/serve/otlp.js';
import type { DecodedTraceExport } from '../../../xds-server/src/model/index.js';
import { SILENT } from '../../../xds-server/src/util/logger.js';

function exportOf(n: number, padding = 0): Buffer {
  return Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromPartial({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: Array.from({ length: n }, (_, i) => ({
                  traceId: Buffer.alloc(16, 7),
                  spanId: Buffer.alloc(8, i + 1),
                  name: 'x'.repeat(padding),
                  startTimeUnixNano: 1_700_000_000_000_000_000,
                  endTimeUnixNano: 1_700_000_000_002_000_000,
                })),
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
}

function call(request: Buffer, xff?: string) {
  const metadata = new Metadata();
  if (xff !== undefined) metadata.set('x-forwarded-for', xff);
  return { request, metadata, getPeer: () => 'unix:/test' };
}

function send(svc: TraceService, request: Buffer, xff?: string): Promise<ExportTraceServiceResponse> {
  return new Promise((resolve, reject) =>
    svc.handlers().export!(
      call(request, xff) as never,
      ((err: Error | null, res: ExportTraceServiceResponse) => (err ? reject(err) : resolve(res))) as never,
    ),
  );
}

function recorder() {
  const seen: { caller: TraceCaller; batch: DecodedTraceExport }[] = [];
  const refused: string[] = [];
  const sink: TraceSink = {
    export: (caller, batch) => {
      seen.push({ caller, batch });
      return { rejected: 0 };
    },
    refused: (kind, n) => void refused.push(`${kind}:${n}`),
  };
  return { sink, seen, refused };
}

test('an export reaches the sink with where it came from; all accepted means no partial_success', async () => {
  const r = recorder();
  const svc = new TraceService(r.sink, SILENT);
  const res = await send(svc, exportOf(5), '10.0.0.2, 10.9.9.9');
  assert.equal(res.partialSuccess, undefined);
  assert.equal(r.seen.length, 1);
  assert.equal(r.seen[0]!.caller.localAddress, '10.0.0.2', 'the first hop: the exporter itself');
  assert.equal(r.seen[0]!.batch.resources[0]!.spans.length, 5);
  assert.equal(r.seen[0]!.batch.resources[0]!.spans[0]!.traceId, '07'.repeat(16));
  const anonymous = await send(svc, exportOf(1));
  assert.equal(r.seen[1]!.caller.localAddress, undefined);
  assert.equal(anonymous.partialSuccess, undefined, 'the sink decides who the spans belong to');
});

test('malformed and oversized exports get partial_success with their span count, and the receiver goes on', async () => {
  const r = recorder();
  const svc = new TraceService(r.sink, SILENT, { maxExportBytes: 64 * 1024 });
  const garbage = Buffer.from([0x0a, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const bad = await send(svc, garbage, '10.0.0.2');
  assert.equal(bad.partialSuccess?.rejectedSpans, 1);
  assert.match(bad.partialSuccess?.errorMessage ?? '', /does not decode/);

  const big = exportOf(40, 2000);
  assert.ok(big.length > 64 * 1024);
  const over = await send(svc, big, '10.0.0.2');
  assert.equal(over.partialSuccess?.rejectedSpans, 40, 'counted without decoding');
  assert.match(over.partialSuccess?.errorMessage ?? '', /over the 65536-byte bound/);
  assert.deepEqual(r.refused, ['malformed:1', 'oversized:40']);

  const ok = await send(svc, exportOf(3), '10.0.0.2');
  assert.equal(ok.partialSuccess, undefined, 'still serving');
  assert.equal(r.seen.at(-1)!.batch.resources[0]!.spans.length, 3);
});

test('spans the sink refuses are counted in partial_success; a backlog over its bound refuses new exports', async () => {
  const sink: TraceSink = {
    export: (_c, b) => ({ rejected: b.resources[0]!.spans.length - 1, reason: 'foreign' }),
    refused: () => {},
  };
  const one = exportOf(4);
  const svc = new TraceService(sink, SILENT, { maxQueuedBytes: one.length * 2 });
  const first = send(svc, one);
  const second = send(svc, one);
  const third = await send(svc, one); // answered at once: the other two are still queued
  assert.equal(third.partialSuccess?.rejectedSpans, 4);
  assert.match(third.partialSuccess?.errorMessage ?? '', /backlog/);
  assert.equal((await first).partialSuccess?.rejectedSpans, 3);
  assert.equal((await second).partialSuccess?.errorMessage, 'foreign');
  assert.equal(svc.backlogBytes, 0);
});
