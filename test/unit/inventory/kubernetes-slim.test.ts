import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inventoryFromCluster, type ClusterObjects } from '../../../xds-server/src/inventory/kubernetes/mapping.js';
import { modeAnnotations } from '../../../xds-server/src/inventory/kubernetes/modes.js';
import {
  slimEndpointSlice,
  slimMetaOnly,
  slimPod,
  slimService,
} from '../../../xds-server/src/inventory/kubernetes/slim.js';
import type { EndpointSlice, KubeService, Pod } from '../../../xds-server/src/inventory/kubernetes/types.js';

// objects as the apiserver sends them: managed fields, last-applied annotations, whole specs and statuses
const managedFields = [{ manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:metadata': {} } }];
const lastApplied = { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ big: 'x'.repeat(2000) }) };

function fullPod(name: string, ip: string, rsName: string, extra: Record<string, unknown> = {}): Pod {
  return {
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      resourceVersion: '101',
      labels: { app: 'web', 'pod-template-hash': rsName.split('-').pop()! },
      annotations: { ...lastApplied, 'nanoseg.io/exclude-outbound-ports': '9090' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rsName, uid: 'rs-uid', controller: true }],
      managedFields,
      creationTimestamp: new Date('2026-12-01T00:00:00Z'),
      ...extra,
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'shop/web:1',
          env: [{ name: 'A', value: 'b'.repeat(500) }],
          ports: [
            { containerPort: 8080, protocol: 'TCP', name: 'http' },
            { containerPort: 53, protocol: 'UDP' },
          ],
          resources: { limits: { cpu: '1' } },
        },
      ],
      volumes: [{ name: 'token', projected: { sources: [] } }],
      serviceAccountName: 'web',
      nodeName: 'node-1',
      tolerations: [{ key: 'x', operator: 'Exists' }],
    },
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: new Date(0) },
        { type: 'Ready', status: 'True', lastTransitionTime: new Date(0) },
      ],
      containerStatuses: [{ name: 'app', ready: true, image: 'shop/web:1' }],
      hostIP: '10.0.0.1',
    },
  } as unknown as Pod;
}

test('slim: a pod keeps what the mapping reads and loses spec details, statuses, managed fields and foreign annotations', () => {
  const p = fullPod('web-7f9-a', '10.1.0.5', 'web-7f9');
  const s = slimPod(p);
  assert.deepEqual(s, {
    metadata: {
      name: 'web-7f9-a',
      namespace: 'shop',
      uid: 'uid-web-7f9-a',
      resourceVersion: '101',
      labels: { app: 'web', 'pod-template-hash': '7f9' },
      annotations: { 'nanoseg.io/exclude-outbound-ports': '9090' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7f9', uid: 'rs-uid', controller: true },
      ],
    },
    spec: {
      containers: [
        {
          name: 'app',
          ports: [
            { containerPort: 8080, protocol: 'TCP', name: 'http' },
            { containerPort: 53, protocol: 'UDP' },
          ],
        },
      ],
    },
    status: {
      phase: 'Running',
      podIP: '10.1.0.5',
      podIPs: [{ ip: '10.1.0.5' }],
      conditions: [{ type: 'Ready', status: 'True' }], // the one condition read (serving), without its times
    },
  });
  assert.ok(JSON.stringify(s).length * 5 < JSON.stringify(p).length, 'a slim pod is a fraction of the full one');
  assert.ok(p.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], 'the input is untouched');
  // a terminating pod's deletion time survives (the typed list hands it over as a Date)
  const dying = slimPod(fullPod('web-7f9-b', '10.1.0.6', 'web-7f9', { deletionTimestamp: new Date(0) }));
  assert.equal(dying.metadata?.deletionTimestamp, '1970-01-01T00:00:00.000Z');
  const host = slimPod({ ...p, spec: { ...p.spec, hostNetwork: true } });
  assert.equal(host.spec?.hostNetwork, true);
});

test('slim: the inventory and the pinned modes from slimmed caches equal those from the whole objects', () => {
  const pods = [
    fullPod('web-7f9-a', '10.1.0.5', 'web-7f9'),
    fullPod('web-7f9-b', '10.1.0.6', 'web-7f9'),
    // a terminating pod whose address was handed to a new one: the live pod keeps it
    fullPod('web-7f9-old', '10.1.0.6', 'web-7f9', { deletionTimestamp: new Date(0) }),
    // its ReplicaSet is not in the cache: inferred from pod-template-hash
    fullPod('api-5d8-q', '10.1.0.7', 'api-5d8'),
  ];
  const replicaSets = [
    {
      metadata: {
        name: 'web-7f9',
        namespace: 'shop',
        resourceVersion: '7',
        ownerReferences: [{ kind: 'Deployment', name: 'web', controller: true }],
        managedFields,
      },
      spec: { template: { spec: { containers: [{ name: 'app', env: [{ name: 'A', value: 'x'.repeat(900) }] }] } } },
    },
  ];
  const services: KubeService[] = [
    {
      metadata: { name: 'web', namespace: 'shop', annotations: lastApplied },
      spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], type: 'ClusterIP', selector: { app: 'web' } },
      status: { loadBalancer: {} },
    } as KubeService,
  ];
  const endpointSlices: EndpointSlice[] = [
    {
      metadata: { name: 'web-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: ['10.1.0.5'],
          conditions: { ready: true },
          nodeName: 'node-1',
          targetRef: { kind: 'Pod', name: 'web-7f9-a', namespace: 'shop', uid: 'x' },
        },
      ],
      ports: [{ port: 8080, protocol: 'TCP', name: 'http', appProtocol: 'http' }],
    } as unknown as EndpointSlice,
  ];
  const whole: ClusterObjects = { pods, replicaSets, jobs: [], services, endpointSlices };
  const slim: ClusterObjects = {
    pods: pods.map(slimPod),
    replicaSets: replicaSets.map(slimMetaOnly),
    jobs: [],
    services: services.map(slimService),
    endpointSlices: endpointSlices.map(slimEndpointSlice),
  };
  const expected = inventoryFromCluster(whole);
  assert.equal(expected.workloads.length, 3);
  assert.equal(expected.vips.length, 1);
  assert.deepEqual(inventoryFromCluster(slim), expected);

  const deployments = [
    {
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'shop',
        annotations: { ...lastApplied, 'nanoseg.io/mode': 'enforce' },
        managedFields,
      },
      spec: { template: {} },
    },
  ];
  const pinned = modeAnnotations(deployments);
  assert.equal(pinned.pins.get('shop/web')?.mode, 'enforce');
  assert.deepEqual(modeAnnotations(deployments.map((d) => ({ kind: d.kind, ...slimMetaOnly(d) }))), pinned);
});
