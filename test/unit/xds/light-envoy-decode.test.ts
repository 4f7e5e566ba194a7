// The benchmark's light Envoy skips the resources of EDS/RDS responses (test/bench/light-envoy.ts): the skipping
// scanner must find the type and keep every other field as the generated codec reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeltaDiscoveryResponse, DiscoveryResponse } from '../../../proto/gen/envoy/service/discovery/v3/discovery.js';
import { EDS, responseTypeUrl, withoutResources } from '../../bench/light-envoy.js';

test('the type of a response is found without decoding it; dropping resources keeps version, nonce and type', () => {
  const res = DiscoveryResponse.fromPartial({
    versionInfo: 'v7',
    typeUrl: EDS,
    nonce: '42',
    resources: [
      { typeUrl: EDS, value: Buffer.alloc(300, 1) },
      { typeUrl: EDS, value: Buffer.alloc(5, 2) },
    ],
  });
  const b = Buffer.from(DiscoveryResponse.encode(res).finish());
  assert.equal(responseTypeUrl(b), EDS);
  const lean = DiscoveryResponse.decode(withoutResources(b));
  assert.deepEqual(
    { v: lean.versionInfo, t: lean.typeUrl, n: lean.nonce, r: lean.resources.length },
    { v: 'v7', t: EDS, n: '42', r: 0 },
  );

  const delta = DeltaDiscoveryResponse.fromPartial({
    systemVersionInfo: 's1',
    typeUrl: EDS,
    nonce: '9',
    resources: [{ name: 'a', version: '1', resource: { typeUrl: EDS, value: Buffer.alloc(40, 3) } }],
    removedResources: ['gone'],
  });
  const d = Buffer.from(DeltaDiscoveryResponse.encode(delta).finish());
  assert.equal(responseTypeUrl(d), EDS);
  const leanDelta = DeltaDiscoveryResponse.decode(withoutResources(d));
  assert.deepEqual(leanDelta.removedResources, ['gone']);
  assert.equal(leanDelta.nonce, '9');
  assert.equal(leanDelta.resources.length, 0);
  assert.equal(responseTypeUrl(Buffer.alloc(0)), undefined);
  assert.throws(() => responseTypeUrl(Buffer.from([0x80])), /truncated varint/);
});
