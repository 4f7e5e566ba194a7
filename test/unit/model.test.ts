import { test } from 'node:test';
import assert from 'node:assert/strict';
import { edgeId, hostCidr } from '../../xds-server/src/model/index.js';

test('edgeId is canonical and never contains source ports', () => {
  const id = edgeId({
    source: { service: 'shop/web' },
    destination: { cidr: '203.0.113.10/32', sni: 'pay.example' },
    protocol: 'tcp',
    port: 443,
  });
  assert.equal(id, 'svc:shop/web>ext:203.0.113.10/32#pay.example|tcp/443');
  assert.equal(hostCidr('10.0.0.1'), '10.0.0.1/32');
  assert.equal(hostCidr('fd00::1'), 'fd00::1/128');
});
