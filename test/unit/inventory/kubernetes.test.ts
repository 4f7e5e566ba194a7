import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workloadOf } from '../../../xds-server/src/inventory/kubernetes/owner.js';
import { inventoryFromCluster, type ClusterObjects } from '../../../xds-server/src/inventory/kubernetes/mapping.js';
import type { Pod } from '../../../xds-server/src/inventory/kubernetes/types.js';

const owned = (kind: string, name: string) => ({ ownerReferences: [{ kind, name, controller: true }] });
const pod = (
  name: string,
  ip: string | undefined,
  owner?: [string, string],
  extra: Partial<Pod['metadata']> = {},
  phase = 'Running',
): Pod => ({
  metadata: { name, namespace: 'shop', ...(owner ? owned(...owner) : {}), ...extra },
  spec: { containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
  status: { phase, ...(ip ? { podIP: ip } : {}) },
});
const rs = (name: string, deploy: string) => ({
  metadata: { name, namespace: 'shop', ...owned('Deployment', deploy) },
});
const job = (name: string, cron?: string) => ({
  metadata: { name, namespace: 'shop', ...(cron ? owned('CronJob', cron) : {}) },
});

test('owner chain: Deployment via ReplicaSet, StatefulSet, DaemonSet, CronJob via Job, Job, bare pod', () => {
  const lookup = (kind: string, _ns: string, name: string) =>
    kind === 'ReplicaSet' && name === 'web-7f9'
      ? rs('web-7f9', 'web')
      : kind === 'Job'
        ? name === 'report-123'
          ? job(name, 'report')
          : job(name)
        : undefined;
  const of = (p: Pod) => workloadOf(p, 'shop', lookup);
  assert.deepEqual(of(pod('web-7f9-abc', '1', ['ReplicaSet', 'web-7f9'])), {
    kind: 'Deployment',
    namespace: 'shop',
    name: 'web',
    service: 'shop/web',
    inferred: false,
  });
  assert.equal(of(pod('db-0', '1', ['StatefulSet', 'db'])).service, 'shop/db');
  assert.equal(of(pod('agent-x', '1', ['DaemonSet', 'agent'])).service, 'shop/agent');
  assert.equal(
    of(pod('report-123-x', '1', ['Job', 'report-123'])).service,
    'shop/report',
    'the Job says CronJob, whatever its name',
  );
  assert.equal(
    of(pod('migrate-29001234-x', '1', ['Job', 'migrate-29001234'])).service,
    'shop/migrate-29001234',
    'a seen Job not made by a CronJob is itself',
  );
  assert.equal(of(pod('debug', '1')).service, 'shop/debug');
  // a ReplicaSet not made by a Deployment is itself; unknown ones are inferred from pod-template-hash
  const bareRs = workloadOf(pod('x-1', '1', ['ReplicaSet', 'legacy']), 'shop', () => ({ metadata: {} }));
  assert.equal(bareRs.service, 'shop/legacy');
  const inferred = workloadOf(
    pod('api-5d8-q', '1', ['ReplicaSet', 'api-5d8'], { labels: { 'pod-template-hash': '5d8' } }),
    'shop',
  );
  assert.deepEqual([inferred.service, inferred.inferred], ['shop/api', true]);
  // only the controller reference is followed
  const two = {
    metadata: {
      name: 'p',
      ownerReferences: [
        { kind: 'Foo', name: 'a' },
        { kind: 'StatefulSet', name: 'b', controller: true },
      ],
    },
  };
  assert.equal(workloadOf(two, 'shop').service, 'shop/b');
});

const base = (pods: Pod[], extra: Partial<ClusterObjects> = {}): ClusterObjects => ({
  pods,
  services: [],
  endpointSlices: [],
  replicaSets: [rs('web-7f9', 'web'), rs('web-8aa', 'web')],
  jobs: [],
  ...extra,
});

test('inventory: replicas collapse into their Deployment; pods without an address or finished are not workloads', () => {
  const inv = inventoryFromCluster(
    base([
      pod('web-7f9-a', '10.1.0.1', ['ReplicaSet', 'web-7f9']),
      pod('web-8aa-b', '10.1.0.2', ['ReplicaSet', 'web-8aa']),
      pod('web-7f9-c', undefined, ['ReplicaSet', 'web-7f9']),
      pod('old', '10.1.0.9', undefined, {}, 'Succeeded'),
    ]),
  );
  assert.deepEqual(inv.workloads, [
    { name: 'web-7f9-a.shop', service: 'shop/web', addresses: ['10.1.0.1'], ports: [8080] },
    { name: 'web-8aa-b.shop', service: 'shop/web', addresses: ['10.1.0.2'], ports: [8080] },
  ]);
});

test('inventory: a reused address belongs to the live pod only, never to the terminating one', () => {
  const dying = pod('db-0', '10.1.0.5', ['StatefulSet', 'db'], { deletionTimestamp: '2026-12-01T00:00:00Z' });
  const fresh = pod('web-7f9-z', '10.1.0.5', ['ReplicaSet', 'web-7f9']);
  for (const order of [
    [dying, fresh],
    [fresh, dying],
  ]) {
    const inv = inventoryFromCluster(base(order));
    assert.deepEqual(
      inv.workloads.map((w) => [w.service, w.addresses]),
      [['shop/web', ['10.1.0.5']]],
    );
  }
});

test('inventory: a pod not Ready, or terminating, is still a workload but serves no new connections', () => {
  const ready = (p: Pod, status?: string): Pod =>
    status === undefined ? p : { ...p, status: { ...p.status, conditions: [{ type: 'Ready', status }] } };
  const inv = inventoryFromCluster(
    base([
      ready(pod('web-7f9-a', '10.1.0.1', ['ReplicaSet', 'web-7f9']), 'True'),
      ready(pod('web-7f9-b', '10.1.0.2', ['ReplicaSet', 'web-7f9']), 'False'),
      pod('web-7f9-c', '10.1.0.3', ['ReplicaSet', 'web-7f9']), // no Ready condition posted yet
      ready(
        pod('web-7f9-d', '10.1.0.4', ['ReplicaSet', 'web-7f9'], { deletionTimestamp: '2026-12-01T00:00:00Z' }),
        'True',
      ),
    ]),
  );
  assert.deepEqual(
    inv.workloads.map((w) => [w.name, w.addresses, w.serving]),
    [
      ['web-7f9-a.shop', ['10.1.0.1'], undefined],
      ['web-7f9-b.shop', ['10.1.0.2'], false],
      ['web-7f9-c.shop', ['10.1.0.3'], undefined],
      ['web-7f9-d.shop', ['10.1.0.4'], false],
    ],
  );
  assert.ok(!inv.workloads.some((w) => 'serving' in w && w.serving !== false), 'absent when serving');
});

test('inventory: a ClusterIP is a VIP of the service behind its EndpointSlices; ambiguous or empty Services get none', () => {
  const pods = [
    pod('web-7f9-a', '10.1.0.1', ['ReplicaSet', 'web-7f9']),
    pod('db-0', '10.1.0.5', ['StatefulSet', 'db']),
  ];
  const svc = (name: string, ip: string) => ({ metadata: { name, namespace: 'shop' }, spec: { clusterIP: ip } });
  const slice = (svcName: string, podNames: string[]) => ({
    metadata: { name: `${svcName}-x`, namespace: 'shop', labels: { 'kubernetes.io/service-name': svcName } },
    endpoints: podNames.map((n) => ({ addresses: ['x'], targetRef: { kind: 'Pod', name: n } })),
  });
  const inv = inventoryFromCluster(
    base(pods, {
      services: [
        svc('frontend', '10.96.0.10'),
        svc('both', '10.96.0.11'),
        svc('empty', '10.96.0.12'),
        svc('headless', 'None'),
      ],
      endpointSlices: [
        slice('frontend', ['web-7f9-a']),
        slice('both', ['web-7f9-a', 'db-0']),
        slice('empty', []),
        slice('headless', ['db-0']),
      ],
    }),
  );
  assert.deepEqual(inv.vips, [{ service: 'shop/web', address: '10.96.0.10' }]);
});
