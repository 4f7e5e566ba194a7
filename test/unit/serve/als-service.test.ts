// The ALS service's queue: every message reaches the sink in order, decoded in budgeted slices; streams are paused
// above the high-water mark and resumed below the low one; bad bytes are counted, not fatal. Our own logic, so the
// gRPC call is a fake (an EventEmitter with pause/resume); the real service is covered in test/unit/controlplane.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { StreamAccessLogsMessage } from '../../../proto/gen/envoy/service/accesslog/v3/als.js';
import { AccessLogService, type AlsSink } from '../../../xds-server/src/serve/als.js';
import type { AccessLogStream, TcpLogEntry } from '../../../xds-server/src/model/index.js';
import { SILENT } from '../../../xds-server/src/util/logger.js';

class FakeCall extends EventEmitter {
  pauses = 0;
  resumes = 0;
  pause(): void {
    this.pauses++;
  }
  resume(): void {
    this.resumes++;
  }
}

function message(first: boolean, ports: number[]): Buffer {
  return Buffer.from(
    StreamAccessLogsMessage.encode(
      StreamAccessLogsMessage.fromPartial({
        ...(first && { identifier: { node: { id: 'web-1.shop', cluster: 'shop/web' }, logName: 'outbound' } }),
        tcpLogs: {
          logEntry: ports.map((p) => ({
            commonProperties: { downstreamLocalAddress: { socketAddress: { address: '10.0.0.2', portValue: p } } },
          })),
        },
      }),
    ).finish(),
  );
}

const tick = () => new Promise((r) => setImmediate(r));

test('messages reach the sink in order; streams pause above the high-water mark and resume once drained', async () => {
  const seen: number[] = [];
  const rejected: string[] = [];
  let ids: AccessLogStream | undefined;
  const sink: AlsSink = {
    tcp: (id, entries: readonly TcpLogEntry[]) => {
      ids = id;
      for (const e of entries) seen.push(e.commonProperties?.downstreamLocalAddress?.socketAddress?.portValue ?? -1);
    },
    http: () => assert.fail('no http entries were sent'),
    rejected: (kind, n) => rejected.push(`${kind}:${n}`),
  };
  const one = message(false, [1]).length;
  const svc = new AccessLogService(sink, SILENT, { highWaterBytes: one * 5, lowWaterBytes: one * 2 });
  const call = new FakeCall();
  let ended = false;
  svc.handlers().streamAccessLogs!(
    call as never,
    (() => {
      ended = true;
    }) as never,
  );

  // 20 messages in one go (as one socket read delivers them): the queue passes the high-water mark once
  call.emit('data', message(true, [0]));
  for (let i = 1; i < 20; i++) call.emit('data', message(false, [i]));
  call.emit('data', Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01]));
  call.emit('data', message(false, [20]));
  assert.equal(call.pauses, 1, 'paused once, above the high-water mark');
  assert.equal(seen.length, 0, 'nothing is processed inside the read callback');
  for (let i = 0; i < 50 && seen.length < 21; i++) await tick();
  assert.deepEqual(
    seen,
    Array.from({ length: 21 }, (_, i) => i),
  );
  assert.deepEqual(ids, { nodeId: 'web-1.shop', cluster: 'shop/web', logName: 'outbound' });
  assert.deepEqual(rejected, ['malformed:1']);
  assert.equal(call.resumes, 1, 'resumed once drained');
  assert.equal(svc.backlogBytes, 0);
  call.emit('end');
  assert.ok(ended);
});

test('entries on a stream that never said who it is are rejected, not attributed', async () => {
  const rejected: string[] = [];
  const sink: AlsSink = {
    tcp: () => assert.fail('attributed'),
    http: () => assert.fail('attributed'),
    rejected: (k, n) => rejected.push(`${k}:${n}`),
  };
  const svc = new AccessLogService(sink, SILENT);
  const call = new FakeCall();
  svc.handlers().streamAccessLogs!(call as never, (() => undefined) as never);
  call.emit('data', message(false, [1, 2, 3]));
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(rejected, ['no-identifier:3']);
});
