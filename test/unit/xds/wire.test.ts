// The hand-built ADS responses decode, with the generated codec, to exactly what the generated encoder would send.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeltaDiscoveryResponse, DiscoveryResponse } from '../../../proto/gen/envoy/service/discovery/v3/discovery.js';
import { CDS, EDS, makeSnapshot, resource } from '../../../xds-server/src/xds/index.js';
import { deltaResponse, sotwBody, withNonce } from '../../../xds-server/src/xds/wire.js';
import { cluster, endpoints } from './fixtures.js';

const PREFIX = 'f00dcafe';
const again = (r: ReturnType<typeof cluster>) => resource(r.typeUrl, r.name, r.body, r.deps, PREFIX);
const snap = makeSnapshot([cluster('a'), cluster('b', { eds: true }), endpoints('b', 3)].map(again), PREFIX);

test('SotW: body + nonce decodes to the response the generated encoder would build', () => {
  const ts = snap.types[CDS];
  const resources = [...ts.resources.values()];
  const body = sotwBody(ts, CDS, '*', () => resources);
  const decoded = DiscoveryResponse.decode(withNonce(body, '42'));
  const expected = DiscoveryResponse.fromPartial({
    versionInfo: ts.version,
    typeUrl: CDS,
    nonce: '42',
    resources: resources.map((r) => ({ typeUrl: CDS, value: r.body })),
  });
  assert.deepEqual(decoded, DiscoveryResponse.decode(DiscoveryResponse.encode(expected).finish()));
  assert.ok(ts.version.startsWith('f00dcafe.'), 'versions carry the prefix');
  assert.equal(
    sotwBody(ts, CDS, '*', () => assert.fail('memoized')),
    body,
    'one body per type snapshot and names',
  );
  assert.equal(DiscoveryResponse.decode(withNonce(body, '')).nonce, '');
});

test('delta: resources with versions and names, removals and the nonce', () => {
  const eds = snap.types[EDS];
  const rs = [...eds.resources.values()];
  const decoded = DeltaDiscoveryResponse.decode(deltaResponse(eds.version, EDS, rs, ['gone', 'also-gone'], '7'));
  assert.equal(decoded.systemVersionInfo, eds.version);
  assert.equal(decoded.typeUrl, EDS);
  assert.equal(decoded.nonce, '7');
  assert.deepEqual(decoded.removedResources, ['gone', 'also-gone']);
  assert.deepEqual(
    decoded.resources.map((r) => [r.name, r.version, r.resource?.typeUrl, Buffer.from(r.resource!.value)]),
    rs.map((r) => [r.name, r.version, EDS, r.body]),
  );
  assert.ok(rs[0]!.version.startsWith('f00dcafe.'));
  const empty = DeltaDiscoveryResponse.decode(deltaResponse('v', EDS, [], [], '1'));
  assert.deepEqual([empty.resources, empty.removedResources], [[], []]);
});

test('varints past one byte: a large resource and a long name', () => {
  const big = makeSnapshot([cluster('x'.repeat(300))]);
  const ts = big.types[CDS];
  const r = [...ts.resources.values()];
  const d = DiscoveryResponse.decode(
    withNonce(
      sotwBody(ts, CDS, '*', () => r),
      'n'.repeat(200),
    ),
  );
  assert.equal(d.resources.length, 1);
  assert.equal(d.nonce.length, 200);
  assert.deepEqual(Buffer.from(d.resources[0]!.value), r[0]!.body);
});
