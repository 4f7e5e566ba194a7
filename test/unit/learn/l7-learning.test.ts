// L7 learning end to end in the pure core: real (ts-proto encoded) HTTP access-log entries of both sidecars →
// learner templates counted once per request → convergence on templates → frozen rules with paths → the policy
// document and file round trip → the store keeps them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HTTPAccessLogEntry,
  HTTPAccessLogEntry_HTTPVersion,
} from '../../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import { RequestMethod } from '../../../proto/gen/envoy/config/core/v3/base.js';
import { ConvergenceTracker, Learner, toObservation } from '../../../xds-server/src/learn/index.js';
import { IdentityIndex } from '../../../xds-server/src/inventory/identity.js';
import type { Inventory, Observation } from '../../../xds-server/src/model/index.js';
import {
  diffPolicy,
  formatPolicyDocument,
  freezePolicy,
  parsePolicyFile,
  policyDocument,
  renderDiff,
} from '../../../xds-server/src/policy/index.js';
import { Store } from '../../../xds-server/src/store/index.js';

const inv: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.0.0.11'], ports: [] },
    { name: 'api-1', service: 'shop/api', addresses: ['10.0.0.21'], ports: [9090] },
  ],
  externals: [],
  vips: [],
};
const index = IdentityIndex.build(inv);
const T0 = 1_700_000_000;
const sa = (ip: string, port: number) => ({ socketAddress: { address: ip, portValue: port } });

let seq = 0;
/** One request web → api as logged by the client's outbound and the server's inbound sidecar. */
function request(method: RequestMethod, path: string, sec: number, grpc = false): Observation[] {
  const rid = `rid-${++seq}`;
  const cport = 40000 + (seq % 20000);
  const entry = (dr: string, drPort: number, dl: string) =>
    HTTPAccessLogEntry.encode(
      HTTPAccessLogEntry.fromPartial({
        commonProperties: {
          startTime: { seconds: T0 + sec, nanos: 0 },
          downstreamRemoteAddress: sa(dr, drPort),
          downstreamLocalAddress: sa(dl, 9090),
        },
        protocolVersion: grpc ? HTTPAccessLogEntry_HTTPVersion.HTTP2 : HTTPAccessLogEntry_HTTPVersion.HTTP11,
        request: { requestMethod: method, path, requestId: rid, authority: 'api:9090' },
        response: { responseCode: 200 },
      }),
    ).finish();
  const decode = (b: Uint8Array) => HTTPAccessLogEntry.decode(b);
  const out = toObservation(decode(entry('10.0.0.11', cport, '10.0.0.21')), 'http', {
    logName: 'outbound',
    node: { id: 'web-1.shop', cluster: 'shop/web' },
    index,
  });
  const inb = toObservation(decode(entry('10.0.0.11', cport + 1, '10.0.0.21')), 'http', {
    logName: 'inbound',
    node: { id: 'api-1.shop', cluster: 'shop/api' },
    index,
  });
  assert.ok(out.ok && inb.ok);
  return [out.obs, inb.obs];
}

test('an access-log entry carries its method and path template into the observation', () => {
  const [o] = request(RequestMethod.GET, '/items/42?x=1', 0);
  assert.equal(o!.method, 'GET');
  assert.equal(o!.path, '/items/{id}');
  const [g] = request(RequestMethod.POST, '/shop.Cart/AddItem', 0, true);
  assert.equal(g!.protocol, 'grpc');
  assert.equal(g!.method, 'POST');
  assert.equal(g!.path, '/shop.Cart/AddItem');
});

test('templates equal exactly the calls of a REST app with ids; each request counts once over both logs', () => {
  const l = new Learner();
  const calls: [RequestMethod, string][] = [];
  for (let i = 0; i < 30; i++) {
    calls.push([RequestMethod.GET, `/items/${1000 + i}`]);
    calls.push([RequestMethod.PUT, `/items/${crypto.randomUUID()}`]);
    calls.push([RequestMethod.GET, `/users/${(0xabc00000 + i).toString(16)}/orders?page=${i}`]);
  }
  calls.push([RequestMethod.POST, '/items']);
  let n = 0;
  for (const [m, p] of calls) for (const o of request(m, p, n++)) l.observe(o);
  const [e] = l.edges();
  assert.equal(e!.evidence.count, calls.length);
  assert.deepEqual(e!.evidence.paths!.map((p) => [p.method, p.path, p.count]).sort(), [
    ['GET', '/items/{id}', 30],
    ['GET', '/users/{id}/orders', 30],
    ['POST', '/items', 1],
    ['PUT', '/items/{id}', 30],
  ]);
  assert.equal(e!.evidence.pathsCollapsed, undefined);
});

test('an L7 service converges on its templates: a new template restarts the quiet period and regresses it', () => {
  const quietPeriodMs = 60_000;
  const l = new Learner();
  const tr = new ConvergenceTracker({ quietPeriodMs, minObservations: 20, maxMissingMass: 0.05 });
  tr.setL7('shop/api', true);
  const feed = (m: RequestMethod, p: string, sec: number) => {
    for (const o of request(m, p, sec)) tr.record(l.observe(o), o.time);
  };
  for (let i = 0; i < 60; i++) feed(RequestMethod.GET, `/items/${i}`, i);
  // a new template at second 100: the edge is old, but the L7 service has not been quiet since
  feed(RequestMethod.DELETE, '/items/7', 100);
  for (let i = 0; i < 30; i++) feed(RequestMethod.DELETE, `/items/${i}`, 101 + i);
  const at = (s: number) => (T0 + s) * 1000;
  const r1 = tr.report('shop/api', at(140));
  assert.equal(r1.state, 'learning');
  assert.match(r1.reason, /no new path template for 40s of 1m/);
  // the caller's side (shop/web) is not L7: its edge is what counts for it
  assert.equal(tr.report('shop/web', at(140)).state, 'converged');
  assert.equal(tr.evaluate(at(161)).get('shop/api')!.state, 'converged');
  tr.drainTransitions();
  feed(RequestMethod.PATCH, '/items/1', 200);
  const [t] = tr.drainTransitions();
  assert.equal(t!.to, 'learning');
  assert.match(t!.reason, /new path PATCH \/items\/\{id\} on shop\/web → shop\/api:9090/);
  // without L7, templates do not hold a service back
  tr.setL7('shop/api', false);
  assert.equal(tr.report('shop/api', at(261)).state, 'converged');
});

test('freezing gives ingress HTTP rules their paths; show → file → apply round-trips; the diff names path changes', () => {
  const l = new Learner();
  let s = 0;
  for (const [m, p] of [
    [RequestMethod.GET, '/items/1'],
    [RequestMethod.GET, '/items/2'],
    [RequestMethod.POST, '/items'],
  ] as const)
    for (const o of request(m, p, s++)) l.observe(o);
  const edges = l.edgesOf('shop/api');
  const policy = freezePolicy('shop/api', edges, 0);
  assert.deepEqual(policy.ingress, [
    {
      peer: { service: 'shop/web' },
      protocol: 'http',
      port: 9090,
      paths: [
        { method: 'POST', path: '/items' },
        { method: 'GET', path: '/items/{id}' },
      ],
    },
  ]);
  const ev = edges.ingress[0]!.evidence;
  const doc = policyDocument(policy, 'monitor', (side) => (side === 'ingress' ? ev : undefined), true);
  const yaml = formatPolicyDocument(doc);
  assert.match(yaml, /^l7: true$/m);
  assert.match(yaml, /- \{method: GET, path: "\/items\/\{id\}", count: 2\}/);
  const parsed = parsePolicyFile(yaml, 'p.yaml');
  assert.ok(parsed.valid, JSON.stringify(parsed));
  assert.equal(parsed.result.l7, true);
  assert.deepEqual(parsed.result.ingress, policy.ingress);
  assert.deepEqual(parsePolicyFile(formatPolicyDocument(doc, 'json'), 'p.json'), parsed);

  const edited = yaml.replace('{method: POST, path: /items, count: 1}', '{method: DELETE, path: "/items/{id}"}');
  const p2 = parsePolicyFile(edited, 'p.yaml');
  assert.ok(p2.valid);
  assert.equal(
    renderDiff(diffPolicy(policy, p2.result)),
    '~ ingress  shop/web  http/9090  - POST /items\n~ ingress  shop/web  http/9090  + DELETE /items/{id}\n',
  );
  const opened = { ingress: [{ peer: { service: 'shop/web' }, protocol: 'http' as const, port: 9090 }], egress: [] };
  assert.match(renderDiff(diffPolicy(policy, opened)), /http\/9090 {2}any path\n/);
});

test('bad paths in a policy file are errors with their place', () => {
  const file = (paths: string, protocol = 'http') =>
    [
      'apiVersion: nanoseg.io/v1alpha1',
      'kind: Policy',
      'service: shop/api',
      'l7: yes please',
      'ingress:',
      `  - {peer: {service: shop/web}, protocol: ${protocol}, port: 9090, paths: ${paths}}`,
    ].join('\n');
  const r = parsePolicyFile(
    file('[{method: FETCH, path: /a}, {method: GET, path: a}, {method: GET, path: /a/*/b}]'),
    'p.yaml',
  );
  assert.ok(!r.valid);
  assert.deepEqual(
    r.errors.map((e) => e.message),
    [
      'p.yaml:4:5: l7: expected true or false, got "yes please"',
      'p.yaml:6:69: ingress[0].paths[0]: "FETCH" is not a method (GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH|*)',
      'p.yaml:6:96: ingress[0].paths[1]: "a" must start with /',
      'p.yaml:6:120: ingress[0].paths[2]: "/a/*/b": segment "*" is neither a literal nor {id} (* only as a final /*)',
    ],
  );
  const t = parsePolicyFile(file('[{method: GET, path: /a}]', 'tcp').replace('l7: yes please', 'l7: false'), 'p.yaml');
  assert.ok(!t.valid);
  assert.match(t.errors[0]!.message, /paths are only allowed on http and grpc rules \(this one is tcp\)/);
});

test('the store keeps learned templates and the collapse flag across a restart', () => {
  const l = new Learner();
  for (let i = 0; i < 52; i++) for (const o of request(RequestMethod.GET, `/p${i % 3}/name${i}`, i)) l.observe(o);
  const [e] = l.edges();
  assert.equal(e!.evidence.pathsCollapsed, true);
  const dir = mkdtempSync(join(tmpdir(), 'nanoseg-l7-'));
  try {
    const st = Store.open(dir);
    st.upsertEdges(l.edges());
    st.close();
    const again = Store.open(dir);
    const loaded = again.loadEdges();
    again.close();
    assert.deepEqual(loaded, l.edges());
    const l2 = new Learner();
    l2.load(loaded);
    assert.deepEqual(l2.edges(), l.edges());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
