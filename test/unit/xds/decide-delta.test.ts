import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeltaDiscoveryRequest } from '../../../proto/gen/envoy/service/discovery/v3/discovery.js';
import {
  CDS,
  EDS,
  afterDeltaSend,
  decideDelta,
  deltaChanges,
  knownVersions,
  makeSnapshot,
} from '../../../xds-server/src/xds/index.js';
import type { Action, DeltaDecision, DeltaState, TypeUrl } from '../../../xds-server/src/xds/index.js';
import { cluster, endpoints } from './fixtures.js';
import { NOW, V1, V2, hashOf, v1, v2 } from './decide-fixtures.js';

function deltaReq(over: Partial<DeltaDiscoveryRequest>): DeltaDiscoveryRequest {
  return {
    typeUrl: CDS,
    resourceNamesSubscribe: [],
    resourceNamesUnsubscribe: [],
    resourceLocatorsSubscribe: [],
    resourceLocatorsUnsubscribe: [],
    initialResourceVersions: {},
    responseNonce: '',
    ...over,
  };
}
const deltaState = (known: Record<string, string>, extra: Partial<DeltaState> = {}): DeltaState => ({
  wildcard: true,
  names: new Set(),
  known: new Map(Object.entries(known)),
  sentVersion: V1.cds,
  nonce: '1',
  ...extra,
});
const hasV1 = { a: hashOf(v1, CDS, 'a'), b: hashOf(v1, CDS, 'b') };
const namesOf = (d: DeltaDecision): string[] => (d.changes?.resources ?? []).map((r) => r.name).sort();

interface DeltaCase {
  readonly name: string;
  readonly typeUrl?: TypeUrl;
  readonly prev?: DeltaState;
  readonly current?: typeof v1;
  readonly req: Partial<DeltaDiscoveryRequest>;
  readonly action: Action;
  readonly check?: (d: DeltaDecision) => void;
}

const deltaCases: DeltaCase[] = [
  {
    name: 'initial wildcard, no snapshot yet',
    req: {},
    action: 'wait',
    check: (d) => assert.equal(d.next.wildcard, true),
  },
  {
    name: 'initial wildcard',
    current: v1,
    req: {},
    action: 'respond',
    check: (d) => assert.deepEqual(namesOf(d), ['a', 'b']),
  },
  {
    name: 'reconnect with every version current: nothing resent',
    current: v1,
    req: { initialResourceVersions: hasV1 },
    action: 'wait',
  },
  {
    name: 'reconnect with one stale and one deleted resource',
    current: v2,
    req: { initialResourceVersions: { ...hasV1, gone: 'x' } },
    action: 'respond',
    check: (d) => (assert.deepEqual(namesOf(d), ['a']), assert.deepEqual(d.changes?.removed, ['gone'])),
  },
  {
    name: 'initial named EDS subscription',
    typeUrl: EDS,
    current: v1,
    req: { typeUrl: EDS, resourceNamesSubscribe: ['a'] },
    action: 'respond',
    check: (d) => (assert.equal(d.next.wildcard, false), assert.deepEqual(namesOf(d), ['a'])),
  },
  {
    name: "initial EDS with '*'",
    typeUrl: EDS,
    current: v1,
    req: { typeUrl: EDS, resourceNamesSubscribe: ['*'] },
    action: 'respond',
    check: (d) => assert.deepEqual(namesOf(d), ['a', 'b']),
  },
  {
    name: 'ACK, nothing new',
    prev: deltaState(hasV1),
    current: v1,
    req: { responseNonce: '1' },
    action: 'ack',
    check: (d) => (assert.equal(d.acked, V1.cds), assert.equal(d.next.ackedVersion, V1.cds)),
  },
  {
    name: 'ACK, snapshot moved on: only the changed resource',
    prev: deltaState(hasV1),
    current: v2,
    req: { responseNonce: '1' },
    action: 'respond',
    check: (d) => assert.deepEqual(namesOf(d), ['a']),
  },
  {
    name: 'NACK: record, rejected versions are not resent',
    current: v2,
    prev: deltaState({ ...hasV1, a: hashOf(v2, CDS, 'a') }, { sentVersion: V2.cds }),
    req: { responseNonce: '1', errorDetail: { code: 3, message: 'bad', details: [] } },
    action: 'nack',
    check: (d) => (
      assert.deepEqual(d.nacked, { version: V2.cds, message: 'bad', at: NOW }),
      assert.deepEqual(d.next.nack, d.nacked)
    ),
  },
  {
    name: 'NACK while other changes are due',
    prev: deltaState(hasV1),
    current: v2,
    req: { responseNonce: '1', errorDetail: { code: 3, message: 'bad', details: [] } },
    action: 'respond',
    check: (d) => assert.ok(d.nacked),
  },
  {
    name: 'stale nonce',
    prev: deltaState(hasV1, { nonce: '3' }),
    current: v2,
    req: { responseNonce: '1' },
    action: 'ignore',
  },
  {
    name: 'stale nonce carrying a subscription',
    typeUrl: EDS,
    prev: deltaState({}, { wildcard: false, nonce: '3' }),
    current: v1,
    req: { typeUrl: EDS, responseNonce: '1', resourceNamesSubscribe: ['b'] },
    action: 'respond',
    check: (d) => assert.deepEqual(namesOf(d), ['b']),
  },
  {
    name: 'subscribe to one more name: only it is sent',
    typeUrl: EDS,
    prev: deltaState({ a: hashOf(v1, EDS, 'a') }, { wildcard: false, names: new Set(['a']) }),
    current: v1,
    req: { typeUrl: EDS, resourceNamesSubscribe: ['b'] },
    action: 'respond',
    check: (d) => assert.deepEqual(namesOf(d), ['b']),
  },
  {
    name: 'subscribe to a name the snapshot lacks',
    typeUrl: EDS,
    prev: deltaState({}, { wildcard: false }),
    current: v1,
    req: { typeUrl: EDS, resourceNamesSubscribe: ['zz'] },
    action: 'wait',
  },
  {
    name: 'unsubscribe',
    typeUrl: EDS,
    current: v1,
    prev: deltaState({ a: hashOf(v1, EDS, 'a') }, { wildcard: false, names: new Set(['a']) }),
    req: { typeUrl: EDS, resourceNamesUnsubscribe: ['a'] },
    action: 'wait',
    check: (d) => (assert.equal(d.next.names.size, 0), assert.equal(knownVersions(d.next).size, 0)),
  },
  {
    name: "unsubscribe from '*'",
    prev: deltaState(hasV1),
    current: v2,
    req: { resourceNamesUnsubscribe: ['*'] },
    action: 'wait',
    check: (d) => assert.equal(d.next.wildcard, false),
  },
];

for (const c of deltaCases) {
  test(`decideDelta: ${c.name} → ${c.action}`, () => {
    const d = decideDelta(deltaReq(c.req), c.typeUrl ?? CDS, c.prev, c.current?.types[c.typeUrl ?? CDS], NOW);
    assert.equal(d.action, c.action, d.why);
    if (c.action === 'ignore') assert.equal(d.next, c.prev);
    c.check?.(d);
  });
}

test("delta: once a snapshot was sent, what a stream lacks of the next is the snapshots' difference, shared by streams", () => {
  const v3 = makeSnapshot([cluster('a', { eds: true, tag: 1 }), cluster('c', { eds: true }), endpoints('a', 2)]);
  const names = (c: { resources: readonly { name: string }[]; removed: readonly string[] }) => ({
    resources: c.resources.map((r) => r.name).sort(),
    removed: [...c.removed].sort(),
  });
  for (const [t, wildcard, subscribed] of [
    [CDS, true, []],
    [EDS, false, ['a', 'b', 'c']],
  ] as const) {
    // two streams of one group, each sent v1 in full
    const sentV1 = () => {
      const start: DeltaState = { wildcard, names: new Set(subscribed), known: new Map() };
      return afterDeltaSend(start, v1.types[t], '1');
    };
    const [s1, s2] = [sentV1(), sentV1()];
    assert.equal(s1.synced, v1.types[t]);
    assert.equal(s1.sentVersion, v1.types[t].version);
    assert.equal(deltaChanges(s1, v1.types[t]).resources.length, 0, `${t}: nothing new in what it was sent`);
    for (const next of [v2, v3]) {
      const fromKnown = deltaChanges({ ...s1, synced: undefined, known: knownVersions(s1) }, next.types[t]);
      const fromSnapshot = deltaChanges(s1, next.types[t]);
      assert.deepEqual(names(fromSnapshot), names(fromKnown), `${t}: the same changes as comparing known`);
      assert.equal(deltaChanges(s2, next.types[t]), fromSnapshot, `${t}: computed once for both streams`);
    }
    const expected = t === CDS ? { resources: ['a', 'c'], removed: ['b'] } : { resources: ['a'], removed: ['b'] };
    assert.deepEqual(names(deltaChanges(s1, v3.types[t])), expected);
    // and after v3 is sent, known holds it: nothing more to send
    const s3 = afterDeltaSend(s1, v3.types[t], '2');
    assert.deepEqual(
      [...knownVersions(s3).keys()].sort(),
      [...v3.types[t].resources.keys()].filter((n) => wildcard || subscribed.includes(n as never)).sort(),
    );
    assert.equal(deltaChanges(s3, v3.types[t]).resources.length, 0);
  }
});

test('delta: a subscription change drops the synced snapshot, so the newly subscribed name is sent', () => {
  const start: DeltaState = { wildcard: false, names: new Set(['a']), known: new Map() };
  const sent = afterDeltaSend(start, v1.types[EDS], '1');
  const d = decideDelta(
    deltaReq({ typeUrl: EDS, resourceNamesSubscribe: ['b'], responseNonce: '1' }),
    EDS,
    sent,
    v1.types[EDS],
    NOW,
  );
  assert.equal(d.next.synced, undefined);
  assert.equal(d.action, 'respond', d.why);
  assert.deepEqual(namesOf(d), ['b']);
});
