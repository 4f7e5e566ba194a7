// describeKubeError: every shape client-node reports a failure in becomes one line a person can act on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeKubeError } from '../../../xds-server/src/inventory/kubernetes/errors.js';

test('an ApiException names the status, the apiserver message and what to check', () => {
  const body = JSON.stringify({ kind: 'Status', message: 'pods is forbidden: User "x" cannot list resource "pods"' });
  assert.equal(
    describeKubeError({ code: 403, body, message: 'HTTP-Code: 403' }),
    'HTTP 403: pods is forbidden: User "x" cannot list resource "pods" ' +
      "(RBAC: the control plane's account may not list/watch this resource (manifests/base/rbac.yaml))",
  );
  assert.equal(describeKubeError({ code: 401, body: '' }), 'HTTP 401 (the credentials in the kubeconfig were refused)');
});

test("a watch's HTTP error, a system error with its cause, and odd values", () => {
  assert.equal(describeKubeError(Object.assign(new Error('Gone'), { statusCode: 500 })), 'HTTP 500');
  const cause = new Error('connect ECONNREFUSED 127.0.0.1:1');
  assert.equal(
    describeKubeError(Object.assign(new Error('request to https://127.0.0.1:1/api failed'), { cause })),
    'request to https://127.0.0.1:1/api failed: connect ECONNREFUSED 127.0.0.1:1',
  );
  assert.equal(
    describeKubeError(new Error('request failed, reason: connect ECONNREFUSED')),
    'request failed, reason: connect ECONNREFUSED',
  );
  assert.equal(describeKubeError(undefined), 'unknown error');
  assert.equal(describeKubeError('plain'), 'plain');
});
