// The trace store: spans grouped into traces with summaries and filters; bounded by its byte budget (oldest traces
// go first) and per trace; verdicts join spans by request key whether they arrive before or after the span.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TraceStore, MAX_SPANS_PER_TRACE } from '../../../xds-server/src/traces/store.js';
import { Columns } from '../../../xds-server/src/traces/columns.js';
import type { SpanFacts } from '../../../xds-server/src/learn/index.js';
import type { DecodedSpan } from '../../../xds-server/src/model/index.js';

let seq = 0;
function sp(trace: number, parent: string, startMs: number, durMs: number): DecodedSpan {
  seq++;
  return {
    traceId: trace.toString(16).padStart(32, '0'),
    spanId: seq.toString(16).padStart(16, '0'),
    parentSpanId: parent,
    name: 'ingress',
    kind: 'server',
    startMs,
    endMs: startMs + durMs,
    status: 'unset',
    attributes: {},
  };
}
const facts = (service: string, extra: Partial<SpanFacts> = {}): SpanFacts => ({
  service,
  workload: service.split('/')[1] + '-1',
  node: 'n',
  peer: 'p',
  error: false,
  ...extra,
});

test('traces: summaries newest first, the root service, filters by service, errors and duration', () => {
  const s = new TraceStore(1 << 20);
  const root = sp(1, '', 1000, 30);
  s.add(root, facts('shop/web', { httpStatus: 200 }));
  s.add(sp(1, root.spanId, 1005, 20), facts('shop/api', { httpStatus: 200 }));
  s.add(sp(2, '', 2000, 5), facts('shop/web', { error: true, httpStatus: 503 }));
  s.add(sp(3, 'ffffffffffffffff', 3000, 1), facts('shop/db')); // parent not here: a root of what we have
  assert.deepEqual(
    s.list().map((t) => [t.traceId.slice(-1), t.rootService, t.durationMs, t.error]),
    [
      ['3', 'shop/db', 1, false],
      ['2', 'shop/web', 5, true],
      ['1', 'shop/web', 30, false],
    ],
  );
  assert.equal(s.list()[2]!.startTime, new Date(1000).toISOString());
  assert.deepEqual(
    s.list({ service: 'shop/api' }).map((t) => t.traceId.slice(-1)),
    ['1'],
  );
  assert.deepEqual(
    s.list({ errors: true }).map((t) => t.traceId.slice(-1)),
    ['2'],
  );
  assert.deepEqual(
    s.list({ slowerThanMs: 4 }).map((t) => t.traceId.slice(-1)),
    ['2', '1'],
  );
  const one = s.get(root.traceId)!;
  assert.deepEqual(
    one.spans.map((x) => [x.service, x.status, x.parentSpanId === root.spanId]),
    [
      ['shop/web', '200', false],
      ['shop/api', '200', true],
    ],
  );
  assert.equal(s.get('00'.repeat(16)), undefined, 'an unknown trace id is nothing, not an error');
});

test('the byte budget evicts the oldest traces first; a full trace drops more spans; duplicates are ignored', () => {
  const s = new TraceStore(20_000);
  for (let t = 1; t <= 200; t++) s.add(sp(t, '', t, 1), facts('shop/web'));
  assert.ok(s.stats.bytes <= 20_000, `${s.stats.bytes} bytes`);
  assert.ok(s.stats.traces > 10 && s.stats.traces < 200, `${s.stats.traces} traces kept`);
  assert.equal(s.stats.evictedTraces, 200 - s.stats.traces);
  const kept = s.list({ limit: 1000 }).map((t) => parseInt(t.traceId, 16));
  assert.equal(kept[0], 200, 'the newest is kept');
  assert.equal(Math.min(...kept), 200 - kept.length + 1, 'and the ones before it, without gaps');

  const big = new TraceStore(1 << 30);
  for (let i = 0; i < MAX_SPANS_PER_TRACE + 10; i++) big.add(sp(9, '', i, 1), facts('shop/web'));
  assert.equal(big.get((9).toString(16).padStart(32, '0'))!.spans.length, MAX_SPANS_PER_TRACE);
  assert.equal(big.stats.droppedSpans, 10);
  const dup = sp(10, '', 1, 1);
  assert.ok(big.add(dup, facts('shop/web')));
  assert.ok(!big.add(dup, facts('shop/web')));
  assert.equal(big.stats.duplicateSpans, 1);
});

test("verdicts mark the deciding sidecar's span, before or after it arrives; requests find their trace", () => {
  const s = new TraceStore(1 << 20);
  const client = sp(5, '', 10, 5);
  s.add(client, facts('shop/web', { requestKey: 'r1' }));
  s.verdict('r1', 'shop/api', 'denied'); // the server's span is not there yet
  const server = sp(5, client.spanId, 11, 1);
  s.add(server, facts('shop/api', { requestKey: 'r1', httpStatus: 403 }));
  s.add(sp(6, '', 20, 1), facts('shop/api', { requestKey: 'r2' }));
  s.verdict('r2', 'shop/api', 'would-deny'); // after
  const t5 = s.get(client.traceId)!;
  assert.deepEqual(
    t5.spans.map((x) => [x.service, x.verdict]),
    [
      ['shop/web', 'allowed'],
      ['shop/api', 'denied'],
    ],
  );
  assert.equal(t5.summary.error, true, 'a denied hop makes the trace an error');
  assert.equal(s.get(sp(6, '', 0, 0).traceId)!.spans[0]!.verdict, 'would-deny');
  assert.equal(s.traceOfRequest('r1'), client.traceId);
  assert.equal(s.traceOfRequest('nope'), undefined);
});

test('only the spans of sidecars that can decide are joined to verdicts; an evicted trace leaves the join', () => {
  const deciding = new Set(['shop/api']);
  const s = new TraceStore(20_000, (service) => deciding.has(service));
  const learning = sp(7, '', 1, 1);
  s.add(learning, facts('shop/web', { requestKey: 'w1' })); // shop/web learns: its sidecar logs no verdict
  assert.equal(s.traceOfRequest('w1'), undefined);
  s.add(sp(8, '', 2, 1), facts('shop/api', { requestKey: 'a1', httpStatus: 403 }));
  assert.equal(s.traceOfRequest('a1'), sp(8, '', 0, 0).traceId);
  s.verdict('a1', 'shop/api', 'denied');
  assert.equal(s.get(sp(8, '', 0, 0).traceId)!.spans[0]!.verdict, 'denied');
  assert.equal(s.get(sp(8, '', 0, 0).traceId)!.spans[0]!.status, '403');
  // enough newer traces to evict trace 8: its request no longer finds it
  for (let t = 100; t < 400; t++) s.add(sp(t, '', t, 1), facts('shop/api', { requestKey: `k${t}` }));
  assert.equal(s.get(sp(8, '', 0, 0).traceId), undefined, 'evicted');
  assert.equal(s.traceOfRequest('a1'), undefined);
  assert.equal(s.traceOfRequest('k399'), sp(399, '', 0, 0).traceId, 'the newest is still joined');
});

test('eviction stays oldest first over many evictions; a late span keeps its trace; a trace back after eviction is new', () => {
  const s = new TraceStore(20_000);
  for (let t = 1; t <= 5000; t++) s.add(sp(t, '', t, 1), facts('shop/web'));
  const ids = () => s.list({ limit: 10_000 }).map((t) => parseInt(t.traceId, 16));
  let kept = ids();
  assert.equal(kept[0], 5000);
  assert.equal(Math.min(...kept), 5000 - kept.length + 1, 'the newest ones, without gaps');
  // late spans of the oldest trace kept, until one has to make room: that trace stays, the next oldest goes
  const oldest = Math.min(...kept);
  const evicted = s.stats.evictedTraces;
  for (let i = 0; i < 50 && s.stats.evictedTraces === evicted; i++) s.add(sp(oldest, '', 1, 1), facts('shop/web'));
  assert.equal(s.stats.evictedTraces, evicted + 1, 'late spans made room');
  kept = ids();
  assert.ok(kept.includes(oldest), 'the trace just added to is kept');
  assert.ok(!kept.includes(oldest + 1), 'the oldest other trace went');
  // trace 1, evicted long ago, comes back: it is the newest, so later additions evict others first
  s.add(sp(1, '', 1, 1), facts('shop/web'));
  for (let t = 5001; t <= 5003; t++) s.add(sp(t, '', t, 1), facts('shop/web'));
  assert.ok(ids().includes(1), 'a trace back after eviction counts from its new arrival');
  assert.ok(s.stats.bytes <= 20_000);
});

test('a kept span reads back as it came: ids, parent, kind, name, times, status; unknown services match nothing', () => {
  const s = new TraceStore(1 << 20);
  const root: DecodedSpan = { ...sp(20, '', 1000.25, 2.5), spanId: 'ffffffff00000001', kind: 'client', name: 'egress' };
  const child: DecodedSpan = { ...sp(20, root.spanId, 1000.5, 1), spanId: '0123456789abcdef', status: 'error' };
  s.add(root, facts('shop/web', { peer: 'shop/api:8080', httpStatus: 200 }));
  s.add(child, facts('shop/api', { peer: 'shop/web', error: true }));
  const t = s.get(root.traceId.toUpperCase())!;
  assert.deepEqual(
    t.spans.map((x) => [
      x.traceId,
      x.spanId,
      x.parentSpanId,
      x.kind,
      x.name,
      x.peer,
      x.startMs,
      x.durationMs,
      x.status,
    ]),
    [
      [root.traceId, 'ffffffff00000001', '', 'client', 'egress', 'shop/api:8080', 1000.25, 2.5, '200'],
      [root.traceId, '0123456789abcdef', 'ffffffff00000001', 'server', 'ingress', 'shop/web', 1000.5, 1, 'error'],
    ],
  );
  assert.deepEqual([t.summary.rootService, t.summary.durationMs, t.summary.error], ['shop/web', 2.5, true]);
  assert.deepEqual(s.list({ service: 'shop/nobody' }), []);
});

test('strings go with the last span naming them: a stream of distinct peers leaves no more than the kept spans name', () => {
  const s = new TraceStore(20_000);
  for (let t = 1; t <= 2000; t++) s.add(sp(t, '', t, 1), facts('shop/web', { peer: `10.0.${t >> 8}.${t & 255}:8080` }));
  const kept = s.stats.spans;
  // service, workload, node, span name and status are shared; one peer per kept span
  assert.equal(s.stats.strings, kept + 5, `${s.stats.strings} strings for ${kept} spans`);
  assert.ok(s.stats.bytes <= 20_000);
});

test('a trace with many spans finds its root among them', () => {
  const s = new TraceStore(1 << 30);
  const root = sp(30, '', 0, 100);
  s.add(root, facts('shop/web'));
  let parent = root.spanId;
  for (let i = 1; i < 100; i++) {
    const x = sp(30, parent, i, 1);
    s.add(x, facts('shop/api'));
    parent = x.spanId;
  }
  const t = s.get(root.traceId)!;
  assert.equal(t.spans.length, 100);
  assert.equal(t.summary.rootService, 'shop/web', 'the root is found by id among 100 spans');
  assert.equal(s.list()[0]!.rootService, 'shop/web');
});

test('the columns grow with use up to their capacity: a large budget reserves nothing up front, past it is an error', () => {
  const c = new Columns(10_000_000);
  assert.ok(c.size <= 1024, `${c.size} slots at the start`);
  c.ensure(5000);
  assert.ok(c.size > 5000 && c.size <= 10_240, `${c.size} slots after slot 5000`);
  const small = new Columns(10);
  small.ensure(9);
  assert.equal(small.size, 10);
  assert.throws(() => small.ensure(10), /past its capacity of 10/);
});
