import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PushDebouncer, mergePush } from '../../../xds-server/src/xds/index.js';
import type { PushRequest } from '../../../xds-server/src/xds/index.js';
import { FakeScheduler } from '../../support/fake-scheduler.js';

const ev = (reason: string, nodes?: string[], full = false): PushRequest =>
  nodes ? { full, nodes: new Set(nodes), reasons: [reason] } : { full, reasons: [reason] };

function setup(push: (r: PushRequest) => void | Promise<void> = () => {}) {
  const sched = new FakeScheduler();
  const pushes: PushRequest[] = [];
  const d = new PushDebouncer((r) => (pushes.push(r), push(r)), {
    debounceMs: 100,
    maxDelayMs: 1000,
    scheduler: sched,
  });
  return { sched, pushes, d };
}

test('mergePush widens: full wins, missing nodes means every node, reasons deduplicated', () => {
  assert.deepEqual(mergePush(undefined, ev('a')), ev('a'));
  const m = mergePush(ev('a', ['n1']), ev('b', ['n2'], true));
  assert.deepEqual(m, { full: true, nodes: new Set(['n1', 'n2']), reasons: ['a', 'b'] });
  assert.deepEqual(mergePush(ev('a', ['n1']), ev('a')), { full: false, reasons: ['a'] });
});

test('a burst becomes one push after the quiet period', async () => {
  const { sched, pushes, d } = setup();
  d.enqueue(ev('a', ['n1']));
  await sched.advanceAsync(50);
  d.enqueue(ev('b', ['n2']));
  await sched.advanceAsync(99);
  assert.equal(pushes.length, 0);
  await sched.advanceAsync(1);
  assert.deepEqual(pushes, [{ full: false, nodes: new Set(['n1', 'n2']), reasons: ['a', 'b'] }]);
  assert.deepEqual(d.stats, { events: 2, pushes: 1 });
});

test('a continuous stream of events still pushes after maxDelay', async () => {
  const { sched, pushes, d } = setup();
  for (let i = 0; i < 25; i++) {
    d.enqueue(ev(`e${i}`));
    await sched.advanceAsync(50);
  }
  assert.equal(pushes.length, 1);
  assert.equal(pushes[0]!.reasons.length, 20); // events at t=0..950; pushed at t=1000
});

test('one push in flight; events during it merge into the next', async () => {
  let release!: () => void;
  const { sched, pushes, d } = setup((r) =>
    r.reasons[0] === 'a' ? new Promise<void>((res) => (release = res)) : undefined,
  );
  d.enqueue(ev('a'));
  await sched.advanceAsync(100);
  assert.equal(pushes.length, 1);
  d.enqueue(ev('b'));
  d.enqueue(ev('c'));
  await sched.advanceAsync(500);
  assert.equal(pushes.length, 1, 'waits for the push in flight');
  release();
  await sched.advanceAsync(0);
  assert.deepEqual(pushes[1]?.reasons, ['b', 'c']);
});

test('a failing push is logged and does not stop later pushes', async () => {
  const { sched, pushes, d } = setup((r) => {
    if (r.reasons[0] === 'boom') throw new Error('boom');
  });
  d.enqueue(ev('boom'));
  await sched.advanceAsync(100);
  d.enqueue(ev('ok'));
  await sched.advanceAsync(100);
  assert.deepEqual(
    pushes.map((p) => p.reasons[0]),
    ['boom', 'ok'],
  );
});

test('stop drops pending events and is idempotent', async () => {
  const { sched, pushes, d } = setup();
  d.enqueue(ev('a'));
  d.stop();
  d.stop();
  d.enqueue(ev('b'));
  await sched.advanceAsync(2000);
  assert.equal(pushes.length, 0);
});
