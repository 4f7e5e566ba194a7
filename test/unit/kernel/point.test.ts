// The kernel point as a reconciler, against a fake of its own apply seam: the first apply is the full ruleset, later
// ones update only what differs, bursts merge into one transaction, a failed update keeps the last good rules and
// says so, the next attempt is a full resync (also once fullResyncMs has passed), stop leaves rules alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelEnforcementPoint } from '../../../xds-server/src/kernel/point.js';
import type { KernelRules } from '../../../xds-server/src/generate/kernel.js';
import { SILENT } from '../../../xds-server/src/util/logger.js';

/** Rules of version `v`: a set with one address and a chain whose rule names the version. */
const rules = (v: string): KernelRules => ({
  tables: [
    {
      family: 'inet',
      name: 't',
      objects: [
        { kind: 'set', name: 's', head: ['type ipv4_addr;'], items: [`10.0.0.${v.slice(1)}`] },
        { kind: 'chain', name: 'c', head: [], items: [`counter comment "${v}"`] },
      ],
    },
  ],
});

/** What an applied text was: `full vN` or `update vN`. */
const what = (text: string): string =>
  `${text.includes('delete table inet t') ? 'full' : 'update'} ${/comment "(v\d+)"/.exec(text)?.[1] ?? '?'}`;

function fake(fullResyncMs?: number) {
  let desired = 'v1';
  const applied: string[] = [];
  const texts: string[] = [];
  let failNext = 0;
  const point = new KernelEnforcementPoint({
    desired: () => rules(desired),
    logger: SILENT,
    retryMs: 20,
    ...(fullResyncMs !== undefined && { fullResyncMs }),
    apply: async (text) => {
      await new Promise((r) => setTimeout(r, 5));
      if (failNext > 0) {
        failNext--;
        return { code: 1, stderr: 'Error: Could not process rule: No such file or directory' };
      }
      applied.push(what(text));
      texts.push(text);
      return { code: 0, stderr: '' };
    },
  });
  return {
    point,
    applied,
    texts,
    set: (d: string) => (desired = d),
    fail: (n: number) => (failNext = n),
  };
}

test('start applies the whole desired state; a burst of changes becomes one update of what differs', async () => {
  const f = fake();
  f.point.start();
  await f.point.settled();
  assert.deepEqual(f.applied, ['full v1']);
  assert.equal(f.point.status().lastApply, 'full');
  for (let i = 2; i <= 20; i++) {
    f.set(`v${i}`);
    f.point.changed('burst');
  }
  await f.point.settled();
  assert.deepEqual(f.applied, ['full v1', 'update v20']);
  assert.equal(
    f.texts[1],
    [
      '# nanoseg (kernel enforcement point): an update of the rules in force, one transaction',
      'delete element inet t s { 10.0.0.1 }',
      'add element inet t s { 10.0.0.20 }',
      'flush chain inet t c',
      'add rule inet t c counter comment "v20"',
      '',
    ].join('\n'),
  );
  assert.equal(f.point.status().lastApply, 'update');
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
  assert.deepEqual(f.applied, ['full v1'], 'the last good rules stay');
  await new Promise((r) => setTimeout(r, 60));
  await f.point.settled();
  assert.deepEqual(f.applied, ['full v1', 'full v2'], 'after a failure, the whole ruleset');
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
  assert.deepEqual(f.applied, ['full v1']);
});

test('once fullResyncMs has passed since the last full apply, the next change applies the whole ruleset', async () => {
  const f = fake(40);
  f.point.start();
  await f.point.settled();
  f.set('v2');
  f.point.changed('soon');
  await f.point.settled();
  await new Promise((r) => setTimeout(r, 60));
  f.set('v3');
  f.point.changed('later');
  await f.point.settled();
  assert.deepEqual(f.applied, ['full v1', 'update v2', 'full v3']);
  f.point.stop();
});
