// withDeadline: the value when the promise wins, `done: false` when the time does, a rejection passed on, and a late
// rejection after the deadline handled (no unhandled rejection).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDeadline } from '../../../xds-server/src/util/deadline.js';

test('withDeadline: value in time, done false when late, rejections passed on, a late rejection handled', async () => {
  assert.deepEqual(await withDeadline(Promise.resolve(7), 1000), { done: true, value: 7 });
  const never = new Promise<number>(() => undefined);
  const t0 = performance.now();
  assert.deepEqual(await withDeadline(never, 20), { done: false });
  assert.ok(performance.now() - t0 >= 15, 'it waited for the deadline');
  await assert.rejects(withDeadline(Promise.reject(new Error('boom')), 1000), /boom/);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const late = new Promise<number>((_, rej) => setTimeout(() => rej(new Error('late')), 30));
    assert.deepEqual(await withDeadline(late, 5, { unref: true }), { done: false });
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(unhandled, [], 'a rejection after the deadline is not left unhandled');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
