import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertLog } from '../../../xds-server/src/alerts/index.js';
import type { Alert } from '../../../xds-server/src/model/index.js';
import { T0, alertAt } from './fixtures.js';

test('list(since) returns alerts whose time is at or after since, in append order', () => {
  const log = new AlertLog();
  log.append(alertAt(T0));
  log.append(alertAt(T0 + 60_000));
  log.append(alertAt(T0 + 30_000, { count: 7 })); // an aggregate carries its first occurrence's time
  assert.equal(log.list().length, 3);
  assert.deepEqual(
    log.list(T0 + 30_000).map((a) => a.count),
    [1, 7],
  );
  assert.deepEqual(
    log.list(T0 + 30_001).map((a) => a.time),
    [new Date(T0 + 60_000).toISOString()],
  );
  assert.deepEqual(log.list(T0 + 120_000), []);
});

test('an unparsable time falls back to the append clock', () => {
  let now = T0;
  const log = new AlertLog({ now: () => now });
  log.append(alertAt(0, { time: 'garbage' }));
  now = T0 + 10;
  assert.equal(log.list(T0).length, 1);
  assert.equal(log.list(T0 + 1).length, 0);
});

test('the ring is bounded: the oldest are overwritten and counted', () => {
  const log = new AlertLog({ capacity: 5 });
  for (let i = 0; i < 12; i++) log.append(alertAt(T0 + i * 1000, { count: i }));
  assert.deepEqual(
    log.list().map((a) => a.count),
    [7, 8, 9, 10, 11],
  );
  assert.deepEqual(
    log.list(T0 + 9000).map((a) => a.count),
    [9, 10, 11],
  );
  assert.deepEqual(log.stats(), { stored: 5, appended: 12, overwritten: 7, subscribers: 0 });
});

test('subscribe follows new alerts until unsubscribed; a throwing subscriber harms nobody', () => {
  const log = new AlertLog();
  log.append(alertAt(T0, { count: 1 }));
  const a: Alert[] = [];
  const b: Alert[] = [];
  const offA = log.subscribe((x) => a.push(x));
  const offBad = log.subscribe(() => {
    throw new Error('slow client');
  });
  const offB = log.subscribe((x) => b.push(x));
  log.append(alertAt(T0, { count: 2 }));
  offA();
  offA();
  log.append(alertAt(T0, { count: 3 }));
  assert.deepEqual(
    a.map((x) => x.count),
    [2],
  );
  assert.deepEqual(
    b.map((x) => x.count),
    [2, 3],
  );
  assert.equal(log.stats().subscribers, 2);
  // the same function subscribed twice is two subscriptions
  const c: Alert[] = [];
  const f = (x: Alert) => c.push(x);
  const off1 = log.subscribe(f);
  log.subscribe(f);
  off1();
  log.append(alertAt(T0, { count: 4 }));
  assert.equal(c.length, 1);
  offB();
  offBad();
  assert.equal(log.list().length, 4);
});
