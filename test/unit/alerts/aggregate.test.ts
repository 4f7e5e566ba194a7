import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertAggregator, alertKey } from '../../../xds-server/src/alerts/index.js';
import type { Alert } from '../../../xds-server/src/model/index.js';
import { FakeScheduler } from '../../support/fake-scheduler.js';

function alert(over: Partial<Alert> = {}, t = 0): Alert {
  return {
    time: new Date(1_700_000_000_000 + t).toISOString(),
    verdict: 'denied',
    mode: 'enforce',
    source: { service: 'shop/web', workload: 'web-1', ip: '10.0.0.11' },
    destination: { service: 'shop/db', ip: '10.0.0.21', port: 5432 },
    protocol: 'tcp',
    count: 1,
    reason: 'shop/db ingress has no rule for shop/web tcp/5432',
    ...over,
  };
}

function setup(opts: { windowMs?: number; maxKeys?: number } = {}) {
  const sched = new FakeScheduler();
  const out: Alert[] = [];
  const agg = new AlertAggregator((a) => out.push(a), { scheduler: sched, ...opts });
  return { sched, out, agg };
}

test('the key: source service or ip, destination service or ip, port, verdict', () => {
  assert.equal(alertKey(alert()), 'shop/web>shop/db:5432|denied');
  assert.equal(
    alertKey(
      alert({
        source: { ip: '203.0.113.9' },
        destination: { ip: '198.51.100.1', port: 443, sni: 'x' },
        verdict: 'would-deny',
      }),
    ),
    '203.0.113.9>198.51.100.1:443|would-deny',
  );
  // workload and source ip do not split a service key
  assert.equal(
    alertKey(alert({ source: { service: 'shop/web', workload: 'web-2', ip: '10.0.0.12' } })),
    alertKey(alert()),
  );
});

test('the first occurrence is emitted at once, repeats within the window as one aggregate at its end', () => {
  const { sched, out, agg } = setup();
  agg.push(alert({}, 0));
  assert.equal(out.length, 1);
  assert.equal(out[0]?.count, 1);
  sched.advance(1000);
  agg.push(alert({ reason: 'first repeat' }, 1000));
  sched.advance(1000);
  agg.push(alert({}, 2000));
  agg.push(alert({}, 2000));
  assert.equal(out.length, 1, 'repeats wait for the window end');
  sched.advance(7999);
  assert.equal(out.length, 1);
  sched.advance(1); // t = 10 000: window end
  assert.equal(out.length, 2);
  assert.equal(out[1]?.count, 3);
  assert.equal(out[1]?.time, alert({}, 1000).time, 'time of the first repeat');
  assert.equal(out[1]?.reason, 'first repeat');
  assert.deepEqual(agg.stats(), { received: 4, emitted: 2, aggregated: 3, evicted: 0, keys: 1 });
});

test('a steady storm gives one alert per window; a quiet window forgets the key', () => {
  const { sched, out, agg } = setup({ windowMs: 10_000 });
  agg.push(alert());
  for (let t = 1; t <= 25; t++) {
    sched.advance(1000);
    agg.push(alert({}, t * 1000));
  }
  // t=25s: emitted at 0 (1), at 10s (repeats 1..9 = 9), at 20s (repeats 10..19 = 10); 20..25 pending
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 9, 10],
  );
  sched.advance(5000); // t = 30: window [20, 30) ends with 6 repeats (20..25)
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 9, 10, 6],
  );
  sched.advance(10_000); // t = 40: quiet window → forgotten
  assert.equal(agg.stats().keys, 0);
  assert.equal(sched.pending, 0, 'no timer left when nothing is tracked');
  agg.push(alert({}, 41_000));
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 9, 10, 6, 1],
    'fresh: emitted at once',
  );
});

test('window boundaries: a repeat exactly at the window end starts the next window', () => {
  const { sched, out, agg } = setup({ windowMs: 100 });
  agg.push(alert());
  sched.advance(99);
  agg.push(alert());
  sched.advance(1); // t=100: window end, the repeat goes out
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 1],
  );
  agg.push(alert()); // t=100: inside the next window [100, 200)
  assert.equal(out.length, 2);
  sched.advance(100);
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 1, 1],
  );
  sched.advance(100); // [200, 300) quiet → forgotten
  sched.advance(50);
  agg.push(alert());
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 1, 1, 1],
  );
});

test('a late timer: a push after the window end acts as the timer would have', () => {
  const sched = new FakeScheduler();
  const out: Alert[] = [];
  // a scheduler whose timers never fire on their own
  const lazy = { now: () => sched.now(), schedule: () => ({}), cancel: () => {} };
  const agg = new AlertAggregator((a) => out.push(a), { scheduler: lazy, windowMs: 100 });
  agg.push(alert());
  agg.push(alert());
  sched.advance(150);
  agg.push(alert()); // old window had a repeat: it goes out, this one opens the next window's aggregate
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 1],
  );
  sched.advance(300);
  agg.flush();
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 1, 1],
  );
  sched.advance(300);
  agg.push(alert()); // old window had nothing pending: fresh
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 1, 1, 1],
  );
});

test('separate keys are aggregated separately', () => {
  const { sched, out, agg } = setup();
  const a = alert();
  const b = alert({ destination: { service: 'shop/cache', ip: '10.0.0.31', port: 6379 } });
  const c = alert({ verdict: 'would-deny', mode: 'monitor' });
  const d = alert({ destination: { service: 'shop/db', ip: '10.0.0.21', port: 5433 } });
  for (const x of [a, b, c, d]) agg.push(x);
  assert.equal(out.length, 4);
  agg.push(a);
  agg.push(a);
  agg.push(c);
  sched.advance(10_000);
  assert.equal(out.length, 6);
  const byKey = new Map(out.slice(4).map((x) => [alertKey(x), x.count]));
  assert.deepEqual(
    byKey,
    new Map([
      [alertKey(a), 2],
      [alertKey(c), 1],
    ]),
  );
});

test('counts of incoming aggregates add up', () => {
  const { sched, out, agg } = setup();
  agg.push(alert({ count: 5 }));
  agg.push(alert({ count: 3 }));
  agg.push(alert({ count: 0 })); // invalid count counts as one occurrence
  sched.advance(10_000);
  assert.deepEqual(
    out.map((a) => a.count),
    [5, 4],
  );
});

test('bounded keys: the oldest is evicted (its repeats emitted), and counted', () => {
  const { sched, out, agg } = setup({ maxKeys: 3 });
  const k = (p: number) => alert({ destination: { ip: '10.0.0.99', port: p } });
  agg.push(k(1));
  agg.push(k(1)); // pending repeat on the oldest key
  agg.push(k(2));
  agg.push(k(3));
  assert.equal(out.length, 3);
  agg.push(k(4)); // evicts port 1: its pending repeat goes out first
  assert.deepEqual(
    out.map((a) => [a.destination.port, a.count]),
    [
      [1, 1],
      [2, 1],
      [3, 1],
      [1, 1],
      [4, 1],
    ],
  );
  assert.equal(agg.stats().evicted, 1);
  assert.equal(agg.stats().keys, 3);
  agg.push(k(1)); // forgotten → first again (evicts port 2)
  assert.equal(out.at(-1)?.destination.port, 1);
  assert.equal(agg.stats().evicted, 2);
  for (let p = 100; p < 10_100; p++) agg.push(k(p));
  assert.equal(agg.stats().keys, 3);
  sched.advance(10_000);
  assert.equal(agg.stats().keys, 0);
});

test('flush emits pending aggregates now; stop flushes, cancels the timer and ignores later pushes', () => {
  const { sched, out, agg } = setup();
  agg.push(alert());
  agg.push(alert());
  agg.flush();
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 1],
  );
  agg.push(alert()); // same window: still aggregated
  assert.equal(out.length, 2);
  agg.stop();
  assert.deepEqual(
    out.map((a) => a.count),
    [1, 1, 1],
  );
  assert.equal(sched.pending, 0);
  agg.stop();
  agg.push(alert());
  sched.advance(60_000);
  assert.equal(out.length, 3);
});

test('a throwing consumer does not break aggregation', () => {
  const sched = new FakeScheduler();
  let calls = 0;
  const agg = new AlertAggregator(
    () => {
      calls++;
      throw new Error('consumer');
    },
    { scheduler: sched },
  );
  assert.doesNotThrow(() => agg.push(alert()));
  agg.push(alert());
  assert.doesNotThrow(() => sched.advance(10_000));
  assert.equal(calls, 2);
  agg.stop();
});
