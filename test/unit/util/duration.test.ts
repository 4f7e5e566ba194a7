import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from '../../../xds-server/src/util/duration.js';

test('durations parse and print', () => {
  assert.deepEqual(parseDuration('20s'), { ok: true, ms: 20_000 });
  assert.deepEqual(parseDuration('1h30m'), { ok: true, ms: 5_400_000 });
  assert.deepEqual(parseDuration('500ms'), { ok: true, ms: 500 });
  for (const bad of ['', '10', 's', '-5s', '1d', '5 s']) assert.equal(parseDuration(bad).ok, false, bad);
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(0), '0s');
});
