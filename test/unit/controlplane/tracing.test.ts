// The control plane's own spans in the real wiring (in-memory harness, the recording fake of the tracing seam): an
// access-log batch is an `ingest.batch` span naming its source; the new edge it teaches a learning service causes a
// push, a trace of its own that links the batch and ends with the sidecar's ACK; a convergence transition is a span
// (a child of the batch that caused it, or of nothing on a tick). Without a tracer the core traces nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../support/harness.js';
import { RecordingTracer } from '../../support/recording-tracer.js';
import { NOOP_TRACER } from '../../../xds-server/src/util/tracing.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const INVENTORY = {
  workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] }],
  externals: [],
  vips: [],
};
const ID = { node: { id: 'web-1.shop', cluster: 'shop/web' }, logName: 'outbound' };

function connections(h: Harness, port: number, n: number) {
  const seconds = Math.floor(h.clock.now() / 1000);
  return Array.from({ length: n }, (_, i) => ({
    commonProperties: {
      downstreamRemoteAddress: { socketAddress: { address: '10.213.0.11', portValue: 40000 + i } },
      downstreamLocalAddress: { socketAddress: { address: '203.0.113.10', portValue: port } },
      startTime: { seconds, nanos: 0 },
    },
  }));
}

test('an ingest batch, the push it causes (linked, ACKed) and a convergence transition', async (t) => {
  const tracer = new RecordingTracer();
  const h = await Harness.open({
    tracer,
    convergence: { quietPeriodMs: 300, minObservations: 5, maxMissingMass: 0.5 },
    tickMs: 100,
  });
  t.after(() => h.close());
  h.api.putInventory('lab', INVENTORY);
  const ads = h.sotw({ id: 'web-1.shop', cluster: 'shop/web' });
  ads.request(CDS);
  ads.request(LDS);
  await ads.waitFor(LDS);
  await h.advance(2000); // whatever the inventory caused is pushed and answered
  const before = tracer.spans.length;
  const lds = ads.count(LDS);

  h.accessLogs().send({ identifier: ID, tcpLogs: { logEntry: connections(h, 5432, 6) } });
  await h.settle();
  const [batch] = tracer.named('ingest.batch');
  assert.ok(batch, 'the batch is a span');
  assert.equal(batch.ended, 1);
  assert.deepEqual(
    [batch.attributes['nanoseg.ingest.source'], batch.attributes['nanoseg.ingest.flows']],
    ['envoy-als', 6],
  );
  assert.equal(batch.attributes['nanoseg.ingest.new_edges'], 1);
  assert.equal(batch.parent, undefined);

  await h.advance(200); // the debounced push: the new edge gives web-1 a chain of its own
  await ads.waitFor(LDS, () => ads.count(LDS) > lds);
  await h.settle();
  const push = tracer.spans.slice(before).find((s) => s.name === 'xds.push' && s.links.includes(batch));
  assert.ok(push, `a push linked to the batch: ${tracer.spans.map((s) => s.name).join(', ')}`);
  assert.equal(push.parent, undefined);
  assert.equal(push.ended, 1, 'ended by the ACK');
  assert.ok(Number(push.attributes['nanoseg.xds.responses']) >= 1);
  assert.equal(push.attributes['nanoseg.xds.acks'], push.attributes['nanoseg.xds.responses']);
  assert.equal(push.attributes['nanoseg.xds.unanswered'], 0);
  assert.equal(push.attributes['nanoseg.xds.streams'], 1);
  const children = tracer.spans.filter((s) => s.parent === push).map((s) => s.name);
  assert.deepEqual(children.sort(), ['xds.generate', 'xds.send']);

  await h.advance(600); // quiet past 300 ms: the tick converges shop/web
  const [conv] = tracer.named('convergence.transition').filter((s) => s.attributes['nanoseg.service'] === 'shop/web');
  assert.ok(conv, 'the transition is a span');
  assert.equal(conv.attributes['nanoseg.convergence.to'], 'converged');
  assert.equal(conv.parent, undefined, 'on a tick: a trace of its own');
  assert.ok(
    tracer.spans.every((s) => s.ended <= 1),
    'no span ended twice',
  );
});

test('without a tracer the core runs on the no-op one', async (t) => {
  const h = await Harness.open();
  t.after(() => h.close());
  h.api.putInventory('lab', INVENTORY);
  h.accessLogs().send({ identifier: ID, tcpLogs: { logEntry: connections(h, 5432, 2) } });
  await h.advance(2000);
  assert.equal(h.core.discovery['tracer'], NOOP_TRACER);
  assert.equal(h.core.discovery['tracing'].size, 0);
});
