// An L7 denial in the in-memory harness: a sidecar's inbound HTTP RBAC refused a request whose source matched an
// ingress rule but none of its paths (`<rule>|no-path`). The alert names the method, the path (without its query
// string) and the closest learned template; denials of other templates on the same edge are separate alerts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../support/harness.js';
import { parsePolicyFile } from '../../../xds-server/src/policy/index.js';

const INVENTORY = {
  workloads: [
    { name: 'api-1', service: 'shop/api', addresses: ['10.213.0.21'], ports: [9090] },
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] },
  ],
  externals: [],
  vips: [],
};

const POLICY = `apiVersion: nanoseg.io/v1alpha1
kind: Policy
service: shop/api
mode: enforce
l7: true
ingress:
  - peer: {service: shop/web}
    protocol: http
    port: 9090
    paths:
      - {method: POST, path: /items}
      - {method: GET, path: "/items/{id}"}
egress: []
`;

const RULE = 'ingress|shop/web|http/9090';
const ID = { node: { id: 'api-1.shop', cluster: 'shop/api' }, logName: 'inbound' };

/** What api-1's inbound sidecar logs for a request from web-1 that its HTTP RBAC answered with `status`. */
function request(h: Harness, method: number, path: string, status: number, policy: string) {
  return {
    commonProperties: {
      downstreamRemoteAddress: { socketAddress: { address: '10.213.0.11', portValue: 41000 } },
      downstreamLocalAddress: { socketAddress: { address: '10.213.0.21', portValue: 9090 } },
      startTime: { seconds: Math.floor(h.clock.now() / 1000), nanos: 0 },
    },
    protocolVersion: 2,
    request: { requestMethod: method, path, requestId: `rid-${path}-${method}` },
    response: { responseCode: status, responseCodeDetails: `rbac_access_denied_matched_policy[${policy}]` },
  };
}

const GET = 1;
const DELETE = 5;

test('an L7 denial names the method, the path without its query and the closest learned template', async (t) => {
  const h = await Harness.open();
  t.after(() => h.close());
  h.api.putInventory('lab', INVENTORY);
  const file = parsePolicyFile(POLICY, 'api.yaml');
  assert.ok(file.valid);
  assert.ok(h.api.applyPolicy(file.result, 'test').ok);

  const logs = h.accessLogs();
  logs.send({
    identifier: ID,
    httpLogs: {
      logEntry: [
        request(h, GET, '/items/7/tags?token=s3cret', 403, `${RULE}|no-path`),
        request(h, DELETE, '/items/7', 403, `${RULE}|no-path`),
      ],
    },
  });
  await h.settle();

  const alerts = h.api.alerts(0).filter((a) => a.verdict === 'denied');
  assert.equal(alerts.length, 2, 'two templates on one edge are two alerts');
  const tags = alerts.find((a) => a.request?.method === 'GET');
  assert.ok(tags, 'the GET denial is alerted');
  assert.deepEqual(tags.request, { method: 'GET', path: '/items/7/tags' });
  assert.deepEqual(tags.closestTemplate, { method: 'GET', path: '/items/{id}' });
  assert.equal(tags.point, 'sidecar');
  assert.equal(
    tags.reason,
    'shop/api ingress allows shop/web on http/9090 only on its learned paths, not GET /items/7/tags, ' +
      'template /items/{id}/tags (closest: GET /items/{id})',
  );
  assert.doesNotMatch(JSON.stringify(alerts), /s3cret/, 'the query string never reaches an alert');
  const del = alerts.find((a) => a.request?.method === 'DELETE');
  assert.deepEqual(del?.closestTemplate, { method: 'GET', path: '/items/{id}' });
  assert.match(del?.reason ?? '', /not DELETE \/items\/7, template \/items\/\{id\} \(closest: GET \/items\/\{id\}\)$/);
});

test('an L4 denial keeps its L4 explanation and carries no request', async (t) => {
  const h = await Harness.open();
  t.after(() => h.close());
  h.api.putInventory('lab', INVENTORY);
  const file = parsePolicyFile(POLICY, 'api.yaml');
  assert.ok(file.valid);
  assert.ok(h.api.applyPolicy(file.result, 'test').ok);
  const logs = h.accessLogs();
  const entry = request(h, GET, '/items/7', 403, 'none');
  entry.commonProperties.downstreamRemoteAddress.socketAddress.address = '10.213.0.99';
  logs.send({ identifier: ID, httpLogs: { logEntry: [entry] } });
  await h.settle();
  const [a] = h.api.alerts(0).filter((x) => x.verdict === 'denied');
  assert.ok(a);
  assert.equal(a.request, undefined);
  assert.equal(a.closestTemplate, undefined);
  assert.match(a.reason, /^shop\/api ingress allows shop\/web on 9090 but not 10\.213\.0\.99/);
});
