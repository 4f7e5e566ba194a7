import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
} from '../../../proto/gen/envoy/service/discovery/v3/discovery.js';
import {
  CDS,
  EDS,
  afterDeltaSend,
  decideDelta,
  decideSotw,
  deltaChanges,
  knownVersions,
  makeSnapshot,
} from '../../../xds-server/src/xds/index.js';
import type {
  Action,
  DeltaDecision,
  DeltaState,
  Decision,
  SotwState,
  TypeUrl,
} from '../../../xds-server/src/xds/index.js';
import { cluster, endpoints } from './fixtures.js';

const NOW = 1_000;
const v1 = makeSnapshot([cluster('a', { eds: true }), cluster('b', { eds: true }), endpoints('a'), endpoints('b')]);
const v2 = makeSnapshot([
  cluster('a', { eds: true, tag: 1 }),
  cluster('b', { eds: true }),
  endpoints('a'),
  endpoints('b', 1),
]);
const V1 = { cds: v1.types[CDS].version, eds: v1.types[EDS].version };
const V2 = { cds: v2.types[CDS].version, eds: v2.types[EDS].version };
const hashOf = (s: typeof v1, t: TypeUrl, n: string): string => s.types[t].resources.get(n)!.hash;

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
