// The trace tree: children under their parent in order, orphans as roots, a cycle in bad data shown once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { traceTree, type TraceSpanView } from '../../../xds-server/src/traces/index.js';

const hop = (spanId: string, parentSpanId: string, service: string, peer: string): TraceSpanView => ({
  spanId,
  parentSpanId,
  service,
  workload: service.split('/')[1] + '-1',
  peer,
  durationMs: 1.5,
  status: '200',
  verdict: 'allowed',
});

test('a tree of hops', () => {
  const spans = [
    hop('a', '', 'shop/web', 'shop/api'),
    hop('b', 'a', 'shop/api', 'shop/web'),
    hop('c', 'b', 'shop/api', 'data/db'),
    hop('d', 'c', 'data/db', 'shop/api'),
    hop('e', 'b', 'shop/api', '203.0.113.5:443'),
    hop('f', 'zz', 'ops/cron', 'shop/api'),
  ];
  const kinds = new Map([
    ['b', 'server'],
    ['d', 'server'],
  ]);
  assert.equal(
    traceTree(spans, kinds),
    [
      'shop/web (web-1) → shop/api  1.5 ms  200  allowed',
      '└─ shop/api (api-1) ← shop/web  1.5 ms  200  allowed',
      '   ├─ shop/api (api-1) → data/db  1.5 ms  200  allowed',
      '   │  └─ data/db (db-1) ← shop/api  1.5 ms  200  allowed',
      '   └─ shop/api (api-1) → 203.0.113.5:443  1.5 ms  200  allowed',
      'ops/cron (cron-1) → shop/api  1.5 ms  200  allowed',
      '',
    ].join('\n'),
  );
  assert.equal(traceTree([]), '');
  const cycle = traceTree([hop('x', 'y', 'a/a', 'p'), hop('y', 'x', 'b/b', 'q')]);
  assert.equal(cycle, 'a/a (a-1) → p  1.5 ms  200  allowed\n└─ b/b (b-1) → q  1.5 ms  200  allowed\n', 'each hop once');
});
