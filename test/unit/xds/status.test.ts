// A stream's status as `nanoseg status` and /v1/status show it: a SotW type subscribed to no name (EDS once the
// config has no EDS cluster) has nothing outstanding, whatever was sent before; other types show sent and ACKed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envoyView } from '../../../xds-server/src/api/views.js';
import { connectionStatus } from '../../../xds-server/src/xds/ads-types.js';
import { CDS, EDS } from '../../../xds-server/src/xds/index.js';

const node = { id: 'web-1.shop', cluster: 'shop/web' } as Parameters<typeof connectionStatus>[0];
const stream = (kind: 'sotw' | 'delta') => ({ id: 1, kind, connectedAt: 0, totals: { pushes: 2, acks: 1, nacks: 0 } });

test('a SotW type subscribed to nothing has nothing outstanding; a subscribed one shows sent and ACKed', () => {
  const states = new Map([
    [CDS, { sentVersion: 'c2', ackedVersion: 'c2', names: new Set<string>() }],
    [EDS, { sentVersion: 'e2', ackedVersion: 'e1', names: new Set<string>() }],
  ]);
  const c = connectionStatus(node, stream('sotw'), states);
  assert.equal(c.types[EDS]?.unsubscribed, true);
  assert.equal(c.types[CDS]?.unsubscribed, undefined, 'CDS is a wildcard type: always subscribed');
  const v = envoyView(c, 'shop/web', undefined);
  assert.deepEqual(v.sent, { cds: 'c2' });
  assert.deepEqual(v.acked, { cds: 'c2', eds: 'e1' });

  const subscribed = new Map([[EDS, { sentVersion: 'e2', ackedVersion: 'e1', names: new Set(['a']) }]]);
  assert.deepEqual(envoyView(connectionStatus(node, stream('sotw'), subscribed), 'shop/web', undefined).sent, {
    eds: 'e2',
  });
  // delta streams say what they unsubscribe from explicitly: their status is what was sent
  const delta = connectionStatus(node, stream('delta'), new Map([[EDS, { sentVersion: 'e2', names: new Set() }]]));
  assert.equal(delta.types[EDS]?.unsubscribed, undefined);
});
