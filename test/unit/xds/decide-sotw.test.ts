import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiscoveryRequest } from '../../../proto/gen/envoy/service/discovery/v3/discovery.js';
import { CDS, EDS, decideSotw } from '../../../xds-server/src/xds/index.js';
import type { Action, Decision, SotwState, TypeUrl } from '../../../xds-server/src/xds/index.js';
import { NOW, V1, V2 } from './decide-fixtures.js';

function sotwReq(over: Partial<DiscoveryRequest>): DiscoveryRequest {
  return { versionInfo: '', resourceNames: [], resourceLocators: [], typeUrl: CDS, responseNonce: '', ...over };
}
const sent = (version: string, nonce: string, names: string[] = [], extra: Partial<SotwState> = {}): SotwState => ({
  sentVersion: version,
  nonce,
  names: new Set(names),
  ...extra,
});
const nacked = { version: V2.cds, message: 'bad cluster', at: 1 };

interface SotwCase {
  readonly name: string;
  readonly typeUrl?: TypeUrl;
  readonly prev?: SotwState;
  readonly current?: string;
  readonly req: Partial<DiscoveryRequest>;
  readonly action: Action;
  readonly check?: (d: Decision<SotwState>) => void;
}

const sotwCases: SotwCase[] = [
  { name: 'initial request, no snapshot yet', req: {}, action: 'wait' },
  {
    name: 'initial request',
    current: V1.cds,
    req: {},
    action: 'respond',
    check: (d) => assert.equal(d.next.ackedVersion, undefined),
  },
  {
    name: 'reconnect with the version we would send: no resend',
    current: V1.cds,
    req: { versionInfo: V1.cds },
    action: 'ack',
    check: (d) => (assert.equal(d.next.sentVersion, V1.cds), assert.equal(d.acked, V1.cds)),
  },
  {
    name: 'reconnect with an older version',
    current: V2.cds,
    req: { versionInfo: V1.cds },
    action: 'respond',
    check: (d) => assert.equal(d.next.ackedVersion, V1.cds),
  },
  {
    name: 'reconnect carrying a nonce from the previous stream',
    current: V1.cds,
    req: { responseNonce: '17', versionInfo: 'old' },
    action: 'respond',
  },
  { name: 'initial EDS request naming nothing', typeUrl: EDS, current: V1.eds, req: { typeUrl: EDS }, action: 'wait' },
  {
    name: 'initial EDS request by name',
    typeUrl: EDS,
    current: V1.eds,
    req: { typeUrl: EDS, resourceNames: ['a'] },
    action: 'respond',
    check: (d) => assert.deepEqual([...d.next.names], ['a']),
  },
  {
    name: 're-request of a version rejected on this stream',
    prev: sent(V2.cds, '2', [], { nack: nacked }),
    current: V2.cds,
    req: {},
    action: 'wait',
  },
  { name: 'stale nonce', prev: sent(V1.cds, '2'), current: V2.cds, req: { responseNonce: '1' }, action: 'ignore' },
  {
    // Envoy drops its last EDS cluster and says so with the nonce it last processed; the response sent since is one
    // it will drop unanswered (it watches no EDS name any more)
    name: 'stale nonce unsubscribing from every name: kept, nothing sent',
    typeUrl: EDS,
    prev: sent(V2.eds, '2', ['a'], { ackedVersion: V1.eds }),
    current: V2.eds,
    req: { typeUrl: EDS, responseNonce: '1', versionInfo: V1.eds, resourceNames: [] },
    action: 'wait',
    check: (d) => (
      assert.equal(d.next.names.size, 0),
      assert.equal(d.next.sentVersion, V2.eds),
      assert.equal(d.acked, undefined, 'an old nonce ACKs nothing')
    ),
  },
  {
    name: 'stale nonce still naming something: ignored',
    typeUrl: EDS,
    prev: sent(V2.eds, '2', ['a']),
    current: V2.eds,
    req: { typeUrl: EDS, responseNonce: '1', versionInfo: V1.eds, resourceNames: ['a', 'b'] },
    action: 'ignore',
    check: (d) => assert.deepEqual([...d.next.names], ['a']),
  },
  {
    name: 'ACK, nothing new',
    prev: sent(V1.cds, '1'),
    current: V1.cds,
    req: { responseNonce: '1', versionInfo: V1.cds },
    action: 'ack',
    check: (d) => (assert.equal(d.next.ackedVersion, V1.cds), assert.equal(d.acked, V1.cds)),
  },
  {
    name: 'ACK, no snapshot any more',
    prev: sent(V1.cds, '1'),
    req: { responseNonce: '1', versionInfo: V1.cds },
    action: 'ack',
  },
  {
    name: 'ACK, snapshot moved on',
    prev: sent(V1.cds, '1'),
    current: V2.cds,
    req: { responseNonce: '1', versionInfo: V1.cds },
    action: 'respond',
  },
  {
    name: 'ACK with a newly subscribed name',
    typeUrl: EDS,
    prev: sent(V1.eds, '1', ['a']),
    current: V1.eds,
    req: { typeUrl: EDS, responseNonce: '1', versionInfo: V1.eds, resourceNames: ['a', 'b'] },
    action: 'respond',
    check: (d) => assert.deepEqual([...d.next.names].sort(), ['a', 'b']),
  },
  {
    name: 'EDS unsubscribed from every name while the snapshot moved on: nothing to send',
    typeUrl: EDS,
    prev: sent(V1.eds, '1', ['a']),
    current: V2.eds,
    req: { typeUrl: EDS, responseNonce: '1', versionInfo: V1.eds, resourceNames: [] },
    action: 'ack',
    check: (d) => assert.equal(d.next.names.size, 0),
  },
  {
    name: 'ACK that only drops a name',
    typeUrl: EDS,
    prev: sent(V1.eds, '1', ['a', 'b']),
    current: V1.eds,
    req: { typeUrl: EDS, responseNonce: '1', versionInfo: V1.eds, resourceNames: ['a'] },
    action: 'ack',
    check: (d) => assert.deepEqual([...d.next.names], ['a']),
  },
  {
    name: 'ACK with a new name while the current version is the rejected one',
    typeUrl: EDS,
    prev: sent(V2.eds, '2', ['a'], { nack: { ...nacked, version: V2.eds } }),
    current: V2.eds,
    req: { typeUrl: EDS, responseNonce: '2', versionInfo: V1.eds, resourceNames: ['a', 'b'] },
    action: 'ack',
  },
  {
    name: 'NACK: record, keep the last good config, do not resend',
    prev: sent(V2.cds, '2', [], { ackedVersion: V1.cds }),
    current: V2.cds,
    req: { responseNonce: '2', versionInfo: V1.cds, errorDetail: { code: 3, message: 'bad cluster', details: [] } },
    action: 'nack',
    check: (d) => {
      assert.deepEqual(d.nacked, { version: V2.cds, message: 'bad cluster', at: NOW });
      assert.deepEqual(d.next.nack, d.nacked);
      assert.equal(d.next.ackedVersion, V1.cds);
    },
  },
  {
    name: 'NACK while a newer version exists: send it',
    prev: sent(V1.cds, '2'),
    current: V2.cds,
    req: { responseNonce: '2', errorDetail: { code: 3, message: 'x', details: [] } },
    action: 'respond',
    check: (d) => assert.equal(d.nacked?.version, V1.cds),
  },
];

for (const c of sotwCases) {
  test(`decideSotw: ${c.name} → ${c.action}`, () => {
    const d = decideSotw(sotwReq(c.req), c.typeUrl ?? CDS, c.prev, c.current, NOW);
    assert.equal(d.action, c.action, d.why);
    assert.ok(d.why.length > 0);
    if (c.action === 'ignore') assert.equal(d.next, c.prev);
    c.check?.(d);
  });
}

test('SotW ACKs that repeat the subscribed names reuse the names set; a reordered list is the same subscription', () => {
  const first = decideSotw(sotwReq({ typeUrl: EDS, resourceNames: ['a', 'b'] }), EDS, undefined, V1.eds, NOW);
  assert.equal(first.action, 'respond');
  const sentState = { ...first.next, sentVersion: V1.eds, nonce: '1' };
  const ack = (names: string[]) =>
    decideSotw(
      sotwReq({ typeUrl: EDS, resourceNames: names, versionInfo: V1.eds, responseNonce: '1' }),
      EDS,
      sentState,
      V1.eds,
      NOW,
    );
  const same = ack(['a', 'b']);
  assert.equal(same.action, 'ack');
  assert.equal(same.next.names, sentState.names, 'the same set object: nothing rebuilt');
  const reordered = ack(['b', 'a']);
  assert.equal(reordered.action, 'ack');
  assert.equal(reordered.next.names, sentState.names);
  assert.deepEqual(reordered.next.requested, ['b', 'a']);
  const wider = ack(['a', 'b', 'c']);
  assert.deepEqual([...wider.next.names].sort(), ['a', 'b', 'c']);
  assert.equal(wider.action, 'respond', 'a newly subscribed name gets a response');
});
