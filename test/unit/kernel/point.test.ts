// The kernel point as a reconciler, against a fake of its own apply seam: bursts merge into one transaction, a
// failed update keeps the last good rules and says so, the next attempt is a full resync, stop leaves rules alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelEnforcementPoint } from '../../../xds-server/src/kernel/point.js';
import { SILENT } from '../../../xds-server/src/util/logger.js';

function fake() {
  let desired = 'v1';
  const applied: string[] = [];
  let failNext = 0;
  const point = new KernelEnforcementPoint({
    desired: () => desired,
    logger: SILENT,
    retryMs: 20,
    apply: async (text) => {
      await new Promise((r) => setTimeout(r, 5));
      if (failNext > 0) {
        failNext--;
        return { code: 1, stderr: 'Error: Could not process rule: No such file or directory' };
      }
      applied.push(text);
      return { code: 0, stderr: '' };
    },
  });
  return {
    point,
    applied,
    set: (d: string) => (desired = d),
    fail: (n: number) => (failNext = n),
  };
}

test('start applies the whole desired state; a burst of changes becomes one more transaction', async () => {
  const f = fake();
  f.point.start();
  await f.point.settled();
  assert.deepEqual(f.applied, ['v1']);
  for (let i = 2; i <= 20; i++) {
    f.set(`v${i}`);
    f.point.changed('burst');
  }
  await f.point.settled();
  assert.deepEqual(f.applied, ['v1', 'v20']);
  f.point.changed('nothing new');
  await f.point.settled();
  assert.equal(f.applied.length, 2, 'an unchanged desired state is not re-applied');
  assert.equal(f.point.status().state, 'ok');
  f.point.stop();
});

test('a failed update keeps the last good rules, says so, and is retried as a full resync', async () => {
  const f = fake();
  f.point.start();
  await f.point.settled();
  f.fail(1);
  f.set('v2');
  f.point.changed('policy');
  await f.point.settled();
  const s = f.point.status();
  assert.equal(s.state, 'failed');
  assert.equal(s.failures, 1);
  assert.match(s.error ?? '', /No such file/);
  assert.deepEqual(f.applied, ['v1'], 'the last good rules stay');
  await new Promise((r) => setTimeout(r, 60));
  await f.point.settled();
  assert.deepEqual(f.applied, ['v1', 'v2']);
  assert.equal(f.point.status().state, 'ok');
  assert.equal(f.point.status().error, undefined);
  f.point.stop();
});

test('stopped, it applies nothing more and removes nothing (the rules stay in force)', async () => {
  const f = fake();
  f.point.start();
  await f.point.settled();
  f.point.stop();
  f.set('v2');
  f.point.changed('after stop');
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(f.applied, ['v1']);
});
