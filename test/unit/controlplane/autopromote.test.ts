// Auto-promotion (off by default), in the in-memory harness: converged → monitor → (a soak with zero would-deny) →
// enforce, each step audited; a would-deny restarts the soak, also across a crash of the control plane.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../support/harness.js';
import { tempDir } from '../../support/cli.js';

const OPTS = {
  convergence: { quietPeriodMs: 300, minObservations: 5, maxMissingMass: 0.5 },
  autoPromote: true,
  soakPeriodMs: 5000,
  tickMs: 100,
};
const INVENTORY = {
  workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] }],
  externals: [],
  vips: [],
};
const ID = { node: { id: 'web-1.shop', cluster: 'shop/web' }, logName: 'outbound' };

/** `n` connections web-1 → 203.0.113.10:PORT; `wouldDeny` adds the RBAC shadow result a monitoring sidecar logs. */
function connections(h: Harness, port: number, n: number, wouldDeny = false) {
  const seconds = Math.floor(h.clock.now() / 1000);
  return Array.from({ length: n }, (_, i) => ({
    commonProperties: {
      downstreamRemoteAddress: { socketAddress: { address: '10.213.0.11', portValue: 40000 + i + port } },
      downstreamLocalAddress: { socketAddress: { address: '203.0.113.10', portValue: port } },
      startTime: { seconds, nanos: 0 },
      ...(wouldDeny && {
        metadata: {
          filterMetadata: {
            'envoy.filters.network.rbac': {
              shadow_engine_result: 'denied',
              shadow_effective_policy_id: 'egress|no-rule',
            },
          },
          typedFilterMetadata: {},
        },
      }),
    },
  }));
}

const mode = (h: Harness) => h.api.services().find((s) => s.name === 'shop/web')?.mode;

test('a converged service is promoted to monitor, then to enforce after a quiet soak; each step is audited', async (t) => {
  const h = await Harness.open(OPTS);
  t.after(() => h.close());
  h.api.putInventory('lab', INVENTORY);
  const logs = h.accessLogs();
  logs.send({ identifier: ID, tcpLogs: { logEntry: connections(h, 443, 10) } });
  await h.settle();
  await h.advance(500);
  assert.equal(mode(h), 'monitor');
  await h.advance(4000);
  assert.equal(mode(h), 'monitor', 'still soaking');
  await h.advance(1100);
  assert.equal(mode(h), 'enforce');
  const audit = h.api.audit(0).filter((e) => e.target === 'shop/web' && e.action === 'mode');
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
  const doc = h.api.policy('shop/web');
  assert.ok(doc.ok);
  assert.deepEqual(
    doc.value.egress.map((r) => [r.peer, r.protocol, r.port]),
    [[{ cidr: '203.0.113.10/32' }, 'tcp', 443]],
  );
});

test('a would-deny just before a crash still restarts the soak after the restart', async (t) => {
  const tmp = tempDir('nanoseg-soak-');
  t.after(() => tmp.remove());
  const a = await Harness.open({ ...OPTS, dir: tmp.dir });
  a.api.putInventory('lab', INVENTORY);
  const logs = a.accessLogs();
  logs.send({ identifier: ID, tcpLogs: { logEntry: connections(a, 443, 10) } });
  await a.settle();
  await a.advance(500);
  assert.equal(mode(a), 'monitor');
  await a.advance(4000); // 4 s of a 5 s soak have passed
  logs.send({ identifier: ID, tcpLogs: { logEntry: connections(a, 444, 1, true) } });
  await a.settle();
  assert.ok(a.api.alerts(0).some((x) => x.verdict === 'would-deny' && x.destination.port === 444));
  a.crash(); // kill -9 right after the would-deny

  const b = await Harness.open({ ...OPTS, dir: tmp.dir, clock: a.clock });
  t.after(() => b.close());
  await b.advance(2000); // the old soak would have ended 1 s ago
  assert.equal(mode(b), 'monitor', 'the would-deny before the crash restarted the soak');
  await b.advance(3500);
  assert.equal(mode(b), 'enforce', 'promoted once a whole soak passed after the would-deny');
});
