// Pods as the apiserver hands them to the webhook (before defaults the webhook does not read), and a tiny
// RFC 6902 `add` applier to check what a patch does to them.
import type { Namespace, Pod } from '../../../xds-server/src/inventory/kubernetes/types.js';
import type { InjectorConfig, JsonPatchOp } from '../../../injector/index.js';

/** a stand-in for the control plane's CA bundle (the patch carries it as text; nothing parses it here) */
export const TEST_CA = '-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n';

export const CONFIG: InjectorConfig = {
  proxyImage: 'envoyproxy/envoy:v1.40.0',
  initImage: 'nanoseg/init:0.1.0',
  xdsAddress: { host: 'nanoseg-control-plane.nanoseg-system.svc', port: 15012 },
  xdsAuth: { caBundle: TEST_CA, audience: 'nanoseg' },
};

/** What `nanoseg serve` passes without the authenticated listener: the plaintext channel, no token. */
export const PLAINTEXT_CONFIG: InjectorConfig = {
  proxyImage: CONFIG.proxyImage,
  initImage: CONFIG.initImage,
  xdsAddress: { host: 'nanoseg-control-plane.nanoseg-system.svc', port: 15010 },
};

export const SHOP: Namespace = { metadata: { name: 'shop', labels: { 'nanoseg.io/inject': 'enabled' } } };
export const PLAIN: Namespace = { metadata: { name: 'plain' } };

export function deploymentPod(
  extra: { annotations?: Record<string, string>; labels?: Record<string, string> } = {},
): Pod {
  return {
    metadata: {
      generateName: 'web-5d8f9c7b6-',
      namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '5d8f9c7b6', ...extra.labels },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8f9c7b6', controller: true }],
    },
    spec: { containers: [{ name: 'web', image: 'shop/web:1', ports: [{ containerPort: 8080 }] }] },
  };
}

export const STATEFUL_POD: Pod = {
  metadata: {
    name: 'db-0',
    namespace: 'shop',
    labels: { app: 'db' },
    annotations: {
      'nanoseg.io/exclude-inbound-ports': '9187',
      'nanoseg.io/exclude-outbound-ip-ranges': '10.96.0.1, fd00::/8',
    },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', controller: true }],
  },
  spec: {
    initContainers: [{ name: 'migrate', image: 'shop/db-migrate:1' }],
    containers: [{ name: 'postgres', image: 'postgres:16' }],
  },
};

export const CRONJOB_POD: Pod = {
  metadata: {
    generateName: 'report-29001234-',
    namespace: 'shop',
    labels: { 'batch.kubernetes.io/job-name': 'report-29001234' },
    annotations: { 'nanoseg.io/exclude-outbound-ports': '25,587' },
    ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'report-29001234', controller: true }],
  },
  spec: { containers: [{ name: 'report', image: 'shop/report:1' }] },
};

export const BARE_POD: Pod = {
  metadata: { name: 'debug', namespace: 'shop' },
  spec: { containers: [{ name: 'shell', image: 'busybox' }] },
};

/** Applies `add` operations (all the injector emits) to a copy of `doc`. */
export function applyPatch<T>(doc: T, patch: readonly JsonPatchOp[]): T {
  const out = structuredClone(doc) as unknown;
  for (const op of patch) {
    const tokens = op.path
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop()!;
    let node = out as Record<string, unknown>;
    for (const t of tokens) {
      if (node[t] === undefined) throw new Error(`patch path ${op.path}: ${t} does not exist`);
      node = node[t] as Record<string, unknown>;
    }
    if (Array.isArray(node)) {
      if (last === '-') node.push(op.value);
      else node.splice(Number(last), 0, op.value);
    } else {
      if (last in node) throw new Error(`patch path ${op.path} would replace an existing value`);
      node[last] = op.value;
    }
  }
  return out as T;
}
