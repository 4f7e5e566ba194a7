// Auto-promotion (off by default): converged → monitor → (a soak with zero would-deny) → enforce, audited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { ControlPlane, DEFAULT_CONTROL_PLANE_OPTIONS } from '../../../xds-server/src/controlplane/controlplane.js';
import { AccessLogServiceClient, StreamAccessLogsMessage } from '../../../proto/gen/envoy/service/accesslog/v3/als.js';
import { SILENT } from '../../../xds-server/src/util/logger.js';
import { tempDir, waitFor } from '../../support/cli.js';

test('a converged service is promoted to monitor, then to enforce after a quiet soak; each step is audited', async (t) => {
  const tmp = tempDir('nanoseg-promote-');
  const cp = new ControlPlane({
    ...DEFAULT_CONTROL_PLANE_OPTIONS,
    stateDir: join(tmp.dir, 'state'),
    apiSocket: join(tmp.dir, 'api.sock'),
    xdsSocket: undefined,
    xdsAddress: '127.0.0.1:0',
    metricsAddress: undefined,
    logger: SILENT,
    convergence: { quietPeriodMs: 300, minObservations: 5, maxMissingMass: 0.5 },
    tickMs: 50,
    autoPromote: true,
    soakPeriodMs: 500,
  });
  t.after(async () => {
    await cp.stop();
    tmp.remove();
  });
  await cp.start();
  cp.setInventory('lab', {
    workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] }],
    externals: [],
    vips: [],
  });
  const client = new AccessLogServiceClient(`127.0.0.1:${cp.xdsPort}`, credentials.createInsecure());
  const call = client.streamAccessLogs(() => undefined);
  call.on('error', () => undefined);
  t.after(() => {
    call.end();
    client.close();
  });
  const now = Math.floor(Date.now() / 1000);
  call.write(
    StreamAccessLogsMessage.fromPartial({
      identifier: { node: { id: 'web-1.shop', cluster: 'shop/web' }, logName: 'outbound' },
      tcpLogs: {
        logEntry: Array.from({ length: 10 }, (_, i) => ({
          commonProperties: {
            downstreamRemoteAddress: { socketAddress: { address: '10.213.0.11', portValue: 40000 + i } },
            downstreamLocalAddress: { socketAddress: { address: '203.0.113.10', portValue: 443 } },
            startTime: { seconds: now, nanos: 0 },
          },
        })),
      },
    }),
  );
  const mode = () => cp.services().find((s) => s.name === 'shop/web')?.mode;
  await waitFor('promotion to monitor', () => mode() === 'monitor', 10_000, 50);
  await waitFor('promotion to enforce', () => mode() === 'enforce', 10_000, 50);
  const audit = cp.auditEvents().filter((e) => e.target === 'shop/web' && e.action === 'mode');
  assert.deepEqual(
    audit.map((e) => [e.before, e.after]),
    [
      ['learn', 'monitor'],
      ['monitor', 'enforce'],
    ],
  );
  assert.ok(
    audit.every((e) => e.actor.startsWith('nanoseg (auto-promote')),
    JSON.stringify(audit),
  );
  // the policy in force is the learned segment
  const doc = cp.policy('shop/web');
  assert.deepEqual(
    doc.egress.map((r) => [r.peer, r.protocol, r.port]),
    [[{ cidr: '203.0.113.10/32' }, 'tcp', 443]],
  );
});
