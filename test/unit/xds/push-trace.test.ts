// One push as three spans whatever the number of streams (xds/push-trace.ts), on a fake clock with the recording fake
// of the tracing seam: it ends when every written response is answered, or at the answer timeout; NACKs are events
// (bounded), lost responses (stream gone, replaced) do not hold it open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANSWER_TIMEOUT_MS,
  MAX_EVENTS,
  PushTrace,
  trackAnswer,
  trackClose,
  trackSend,
} from '../../../xds-server/src/xds/push-trace.js';
import type { NodeInfo } from '../../../xds-server/src/xds/ads-types.js';
import type { TypeUrl } from '../../../xds-server/src/xds/types.js';
import { FakeScheduler } from '../../support/fake-scheduler.js';
import { RecordingTracer } from '../../support/recording-tracer.js';

const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment' as TypeUrl;
const node = (id: string): NodeInfo => ({
  id,
  cluster: 'shop/web',
  metadata: {},
  streamId: 1,
  hasConfig: false,
  reportedVersions: [],
});

function setup(streams: number) {
  const tracer = new RecordingTracer();
  const clock = new FakeScheduler(1_000_000);
  const finished: PushTrace[] = [];
  const cause = tracer.start('PUT /v1/inventory/:source');
  const trace = new PushTrace(
    tracer,
    { full: false, reasons: ['inventory lab', 'new edge'], links: [cause] },
    streams,
    clock,
    (t) => finished.push(t),
  );
  const conns = Array.from(
    { length: streams },
    (_, i) =>
      ({ id: i + 1, nonce: 0, lastBytes: 0 }) as {
        id: number;
        nonce: number;
        lastBytes: number;
        traced?: Map<TypeUrl, { nonce: string; push: PushTrace }>;
      },
  );
  /** a response queued and written to every stream */
  const sendAll = () => {
    for (let i = 0; i < conns.length; i++) trace.queued();
    for (const c of conns) {
      const before = c.nonce;
      c.nonce++;
      c.lastBytes = 100;
      trackSend(c, EDS, trace, before);
    }
  };
  return { tracer, clock, trace, conns, sendAll, finished, cause };
}

test('a push to 2,000 streams is three spans; it ends with the last ACK and counts everything', () => {
  const { tracer, clock, trace, conns, sendAll, finished, cause } = setup(2000);
  trace.generated('shop/web', 3.21);
  trace.generated('shop/api', 7.5);
  sendAll();
  trace.generationDone();
  const [push] = tracer.named('xds.push');
  assert.ok(push);
  assert.deepEqual(push.links, [cause]);
  assert.equal(push.parent, undefined, 'a push is a trace of its own, linked to its causes');
  assert.equal(tracer.named('xds.generate')[0]?.ended, 1);
  assert.equal(tracer.named('xds.send')[0]?.ended, 1, 'every response written');
  assert.equal(push.ended, 0, 'waits for the answers');
  clock.advance(40);
  for (const c of conns) trackAnswer(c, node(`n${c.id}`), EDS, String(c.nonce), { acked: 'v2' });
  assert.equal(push.ended, 1);
  assert.equal(finished.length, 1);
  assert.equal(tracer.spans.length, 4, 'the cause, the push, generate, send: nothing per stream');
  assert.deepEqual(
    {
      streams: push.attributes['nanoseg.xds.streams'],
      responses: push.attributes['nanoseg.xds.responses'],
      bytes: push.attributes['nanoseg.xds.bytes'],
      acks: push.attributes['nanoseg.xds.acks'],
      unanswered: push.attributes['nanoseg.xds.unanswered'],
      last: push.attributes['nanoseg.xds.last_answer_ms'],
    },
    { streams: 2000, responses: 2000, bytes: 200_000, acks: 2000, unanswered: 0, last: 40 },
  );
  const gen = tracer.named('xds.generate')[0]!;
  assert.equal(gen.parent, push);
  assert.equal(gen.attributes['nanoseg.xds.groups'], 2);
  assert.equal(gen.attributes['nanoseg.xds.slowest_group'], 'shop/api');
  assert.equal(push.attributes['nanoseg.xds.reasons'], 'inventory lab; new edge');
  assert.equal(push.error, undefined);
});

test('NACKs are events on the push (at most MAX_EVENTS), and mark it failed', () => {
  const { tracer, trace, conns, sendAll } = setup(40);
  sendAll();
  trace.generationDone();
  for (const c of conns)
    trackAnswer(c, node(`n${c.id}`), EDS, String(c.nonce), {
      nacked: { version: 'v2', message: 'bad cluster', at: 0 },
    });
  const push = tracer.named('xds.push')[0]!;
  assert.equal(push.ended, 1);
  assert.equal(push.attributes['nanoseg.xds.nacks'], 40);
  assert.equal(push.events.length, MAX_EVENTS);
  assert.equal(push.attributes['nanoseg.xds.events_dropped'], 40 - MAX_EVENTS);
  assert.deepEqual(push.events[0], {
    name: 'xds.nack',
    attributes: {
      'nanoseg.xds.node': 'n1',
      'nanoseg.xds.type': 'EDS',
      'nanoseg.xds.version': 'v2',
      message: 'bad cluster',
    },
  });
  assert.match(push.error ?? '', /40 response\(s\) rejected/);
});

test('a stale nonce is no answer; a closed stream or a replaced response does not hold the push open', () => {
  const { tracer, trace, conns, sendAll } = setup(3);
  sendAll();
  trace.generationDone();
  const [a, b, c] = conns as [(typeof conns)[0], (typeof conns)[0], (typeof conns)[0]];
  trackAnswer(a, node('a'), EDS, 'stale', { acked: 'v1' });
  const push = tracer.named('xds.push')[0]!;
  assert.equal(push.attributes['nanoseg.xds.acks'], undefined);
  trackAnswer(a, node('a'), EDS, String(a.nonce), { acked: 'v2' });
  trackClose(b);
  assert.equal(push.ended, 0);
  // c gets a newer response of another push before answering: this push's one is lost
  const other = setup(1).trace;
  other.queued();
  const before = c.nonce;
  c.nonce++;
  trackSend(c, EDS, other, before);
  assert.equal(push.ended, 1);
  assert.equal(push.attributes['nanoseg.xds.acks'], 1);
  assert.equal(push.attributes['nanoseg.xds.unanswered'], 2);
});

test('unanswered responses end the push at the timeout; a push that wrote nothing ends at once', () => {
  const { tracer, clock, trace, sendAll } = setup(2);
  sendAll();
  trace.generationDone();
  const push = tracer.named('xds.push')[0]!;
  clock.advance(ANSWER_TIMEOUT_MS - 1);
  assert.equal(push.ended, 0);
  clock.advance(1);
  assert.equal(push.ended, 1);
  assert.equal(push.attributes['nanoseg.xds.unanswered'], 2);
  trace.finish();
  assert.equal(push.ended, 1, 'idempotent');

  const quiet = setup(5);
  quiet.trace.generated('shop/web', 1, 'inconsistent: RDS name not referenced');
  quiet.trace.generationDone();
  const p = quiet.tracer.named('xds.push')[0]!;
  assert.equal(p.ended, 1);
  assert.equal(quiet.tracer.named('xds.send').length, 0);
  const gen = quiet.tracer.named('xds.generate')[0]!;
  assert.equal(gen.attributes['nanoseg.xds.refused'], 1);
  assert.equal(gen.events[0]?.name, 'xds.generate.refused');
});
