// `serve --otlp-forward`: every export with accepted spans reaches an external OTLP/gRPC collector as it was received;
// one refused whole (no node) does not; a collector that is down costs counted failures, never the receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata } from '@grpc/grpc-js';
import { ExportTraceServiceRequest } from '../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service.js';
import { Harness } from '../support/harness.js';
import { MinimalOtlpReceiver } from '../support/otlp-receiver.js';
import { waitFor } from '../support/cli.js';

const INVENTORY = {
  workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] }],
  externals: [],
  vips: [],
};

function body(n: number, node?: string): Buffer {
  const now = Date.now() * 1e6;
  return Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromPartial({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: Buffer.alloc(16, n),
                    spanId: Buffer.alloc(8, n),
                    name: `span ${n}`,
                    startTimeUnixNano: now,
                    endTimeUnixNano: now + 1e6,
                    attributes: node ? [{ key: 'node_id', value: { stringValue: node } }] : [],
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
}

function send(h: Harness, b: Buffer): Promise<unknown> {
  const metadata = new Metadata();
  return new Promise((resolve) =>
    (h.core.traces.handlers().export as (c: unknown, cb: (e: unknown, r: unknown) => void) => void)(
      { request: b, metadata, getPeer: () => 'test' },
      (_e, r) => resolve(r),
    ),
  );
}

test('accepted exports are forwarded as received; a down collector is counted, not fatal', async (t) => {
  const collector = new MinimalOtlpReceiver();
  await collector.start();
  const h = await Harness.open({ otlpForward: `127.0.0.1:${collector.port}` });
  t.after(async () => {
    collector.stop();
    await h.close();
  });
  h.api.putInventory('lab', INVENTORY);
  await h.settle();
  const sent = [body(1, 'web-1.shop'), body(2, 'web-1.shop'), body(3, 'web-1.shop')];
  for (const b of sent) await send(h, b);
  await send(h, body(4)); // names no node: refused, not forwarded
  await waitFor('three exports at the collector', () => collector.received.length === 3, 10_000, 50);
  assert.deepEqual(collector.received, sent);
  assert.equal(h.core.forwarder?.stats.sent, 3);

  collector.stop();
  await send(h, body(5, 'web-1.shop'));
  await waitFor('a counted failure', () => h.core.forwarder!.stats.failed >= 1, 15_000, 50);
  assert.equal(h.api.status().traces?.forward?.failed, h.core.forwarder!.stats.failed);
  assert.ok(h.core.traces.store.get('05'.repeat(16)), 'the receiver kept the span all the same');
});
