// The control plane over real gRPC: its access-log service never crashes on a peer's bad message (malformed
// entries and undecodable bytes are counted per kind, each kind logged once), and goes on serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Client, type ClientWritableStream } from '@grpc/grpc-js';
import { join } from 'node:path';
import { ControlPlane, DEFAULT_CONTROL_PLANE_OPTIONS } from '../../xds-server/src/controlplane/controlplane.js';
import { AccessLogServiceClient, StreamAccessLogsMessage } from '../../proto/gen/envoy/service/accesslog/v3/als.js';
import type { Logger } from '../../xds-server/src/util/logger.js';
import { tempDir, waitFor } from '../support/cli.js';

function stream(port: number): { client: AccessLogServiceClient; call: ClientWritableStream<StreamAccessLogsMessage> } {
  const client = new AccessLogServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const call = client.streamAccessLogs(() => undefined);
  call.on('error', () => undefined);
  return { client, call };
}

test('malformed access-log entries are counted by kind, logged once, and never stop the service', async (t) => {
  const warned: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    error() {},
    warn: (o) => void warned.push(String((o as { kind?: string }).kind ?? '')),
  };
  const tmp = tempDir('nanoseg-als-');
  const cp = new ControlPlane({
    ...DEFAULT_CONTROL_PLANE_OPTIONS,
    stateDir: join(tmp.dir, 'state'),
    apiSocket: join(tmp.dir, 'api.sock'),
    xdsSocket: undefined,
    xdsAddress: '127.0.0.1:0',
    metricsAddress: undefined,
    logger,
  });
  t.after(async () => {
    await cp.stop();
    tmp.remove();
  });
  await cp.start();
  const port = cp.xdsPort!;

  // 1. entries on a stream that never said who it is
  const a = stream(port);
  a.call.write(
    StreamAccessLogsMessage.fromPartial({
      tcpLogs: { logEntry: [{ commonProperties: {} }, { commonProperties: {} }] },
    }),
  );
  // 2. identified stream with entries missing addresses, with a bad port, and an unknown log name
  const b = stream(port);
  b.call.write(
    StreamAccessLogsMessage.fromPartial({
      identifier: { node: { id: 'web-1.shop', cluster: 'shop/web' }, logName: 'outbound' },
      tcpLogs: {
        logEntry: [
          { commonProperties: {} },
          {
            commonProperties: {
              downstreamRemoteAddress: { socketAddress: { address: '10.0.0.1', portValue: 1234 } },
              downstreamLocalAddress: { socketAddress: { address: '10.0.0.2', portValue: 0 } },
            },
          },
        ],
      },
    }),
  );
  const c = stream(port);
  c.call.write(
    StreamAccessLogsMessage.fromPartial({
      identifier: { node: { id: 'web-1.shop', cluster: 'shop/web' }, logName: 'sideways' },
      httpLogs: { logEntry: [{ commonProperties: {} }] },
    }),
  );
  // 3. bytes that are not a StreamAccessLogsMessage at all
  const raw = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const bad = raw.makeClientStreamRequest(
    '/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs',
    (b: Buffer) => b,
    (b: Buffer) => b,
    () => undefined,
  );
  bad.on('error', () => undefined);
  bad.write(Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01]));

  const s = await waitFor(
    'rejections counted',
    () => {
      const st = cp.backend!.status();
      return st.accessLogs.rejected >= 6 ? st : undefined;
    },
    5000,
  );
  assert.equal(s.accessLogs.entries, 0);
  assert.equal(s.accessLogs.rejectedByKind['no-identifier'], 2);
  assert.equal(s.accessLogs.rejectedByKind['malformed'], 1, JSON.stringify(s.accessLogs.rejectedByKind));
  assert.ok((s.accessLogs.rejectedByKind['missing-address'] ?? 0) >= 1, JSON.stringify(s.accessLogs.rejectedByKind));
  assert.ok((s.accessLogs.rejectedByKind['unknown-log-name'] ?? 0) >= 1, JSON.stringify(s.accessLogs.rejectedByKind));

  // still serving: a good entry from a known workload afterwards is accepted
  cp.core!.pushed.put('test', {
    workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] }],
    externals: [],
    vips: [],
  });
  b.call.write(
    StreamAccessLogsMessage.fromPartial({
      tcpLogs: {
        logEntry: [
          {
            commonProperties: {
              downstreamRemoteAddress: { socketAddress: { address: '10.213.0.11', portValue: 40000 } },
              downstreamLocalAddress: { socketAddress: { address: '203.0.113.10', portValue: 443 } },
              startTime: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
            },
          },
        ],
      },
    }),
  );
  await waitFor('a good entry accepted', () => cp.backend!.status().accessLogs.entries === 1, 5000).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(cp.backend!.status().accessLogs)}`);
  });
  // each kind of rejection was logged once, however often it happened
  const kinds = warned.filter((k) => k.startsWith('als:'));
  assert.deepEqual(kinds, [...new Set(kinds)], `logged more than once per kind: ${kinds.join(', ')}`);
  for (const k of ['no-identifier', 'malformed', 'missing-address', 'unknown-log-name']) {
    assert.ok(kinds.includes(`als:${k}`), `${k} logged: ${kinds.join(', ')}`);
  }
  for (const x of [a, b, c]) {
    x.call.end();
    x.client.close();
  }
  bad.end();
  raw.close();
});
