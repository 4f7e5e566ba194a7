import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OncePerKind, type Logger } from '../../../xds-server/src/util/logger.js';

test('OncePerKind logs a kind once per period and counts what it left out', () => {
  const lines: object[] = [];
  const log: Logger = { debug() {}, info() {}, error() {}, warn: (o) => void lines.push(o) };
  const once = new OncePerKind(log, 1000);
  once.warn('a', { n: 1 }, 'm', 0);
  once.warn('a', { n: 2 }, 'm', 10);
  once.warn('a', { n: 3 }, 'm', 20);
  once.warn('b', { n: 4 }, 'm', 30);
  assert.equal(once.suppressed('a'), 2);
  once.warn('a', { n: 5 }, 'm', 1500);
  assert.deepEqual(lines, [
    { kind: 'a', n: 1 },
    { kind: 'b', n: 4 },
    { kind: 'a', n: 5, suppressed: 2 },
  ]);
  assert.equal(once.suppressed('a'), 0);
});
