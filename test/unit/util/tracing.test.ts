// The tracing seam's no-op side: what every control plane without --otlp-endpoint runs. It records nothing, runs what
// it is given, and never makes a span active; link merging stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_LINKS,
  NOOP_SPAN,
  NOOP_TRACER,
  clip,
  mergeLinks,
  type Span,
} from '../../../xds-server/src/util/tracing.js';

test('the no-op tracer hands out one frozen no-op span and never makes it active', async () => {
  assert.equal(NOOP_TRACER.enabled, false);
  const s = NOOP_TRACER.start('x', { attributes: { a: 1 }, kind: 'server', root: true });
  assert.equal(s, NOOP_SPAN);
  assert.equal(s.recording, false);
  s.setAttributes({ b: 2 });
  s.addEvent('e');
  s.fail('no');
  s.end();
  assert.ok(Object.isFrozen(NOOP_SPAN) && Object.isFrozen(NOOP_TRACER));
  assert.equal(
    NOOP_TRACER.with(s, () => NOOP_TRACER.active()),
    undefined,
  );
  assert.equal(
    NOOP_TRACER.with(s, () => 42),
    42,
  );
  assert.equal(await NOOP_TRACER.with(s, async () => 'later'), 'later');
  assert.throws(() => NOOP_TRACER.with(s, () => assert.fail('thrown through')), /thrown through/);
});

test('links merge without repeats and stop at MAX_LINKS', () => {
  const spans: Span[] = Array.from({ length: 40 }, () => ({ ...NOOP_SPAN }));
  assert.equal(mergeLinks(undefined, undefined), undefined);
  assert.deepEqual(mergeLinks(undefined, [spans[0]!]), [spans[0]]);
  assert.deepEqual(mergeLinks([spans[0]!], [spans[0]!, spans[1]!]), [spans[0], spans[1]]);
  let acc: readonly Span[] | undefined;
  for (const s of spans) acc = mergeLinks(acc, [s]);
  assert.equal(acc?.length, MAX_LINKS);
  assert.deepEqual(acc, spans.slice(0, MAX_LINKS), 'the first ones are kept');
  assert.equal(mergeLinks(undefined, spans)?.length, MAX_LINKS);
});

test('clip cuts long attribute strings', () => {
  assert.equal(clip('short'), 'short');
  assert.equal(clip('x'.repeat(300)).length, 256);
  assert.ok(clip('abcdef', 4).endsWith('…'));
});
