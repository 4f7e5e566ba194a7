// Manifests and helpers of the cluster e2e (test/e2e/kubernetes.test.ts).
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/cli.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';
import type { Inventory } from '../../xds-server/src/model/index.js';
import type { NanoSegmentStatus } from '../../xds-server/src/inventory/kubernetes/segment-status.js';
import { XDS_CA_FILE, XDS_TOKEN_FILE, envoyBootstrap } from '../../xds-server/src/sidecar/index.js';
import { projectRoot } from '../../xds-server/src/util/envoy.js';

export const WEBHOOK_PORT = 19443;
/** the authenticated xDS listener (TLS, service-account tokens) */
export const XDS_TLS_PORT = 25012;
export const METRICS_PORT = 25014;

/**
 * `nanoseg serve` flags for the test cluster (the e2e and the cluster benchmarks): the injector's webhook on
 * loopback, sidecars over the authenticated TLS listener on the node's address, the locally built images.
 */
export function clusterServeArgs(cluster: Pick<TestCluster, 'kubeconfig' | 'nodeIp'>): string[] {
  const tls = `${cluster.nodeIp}:${XDS_TLS_PORT}`;
  return [
    '--kubernetes',
    '--kubeconfig',
    cluster.kubeconfig,
    '--webhook-host',
    '127.0.0.1',
    '--webhook-port',
    String(WEBHOOK_PORT),
    '--webhook-dns-names',
    'localhost',
    // sidecars reach the control plane only over TLS with their service-account token (no plaintext TCP)
    '--xds-tls-address',
    tls,
    '--xds-tls-names',
    cluster.nodeIp,
    '--sidecar-xds-address',
    tls,
    '--proxy-image',
    'nanoseg/proxy:dev',
    '--init-image',
    'nanoseg/init:dev',
  ];
}

/**
 * Waits until the control plane has filled the MutatingWebhookConfiguration's caBundle in (it owns the CA); returns
 * that caBundle, as PEM.
 */
export async function caBundlePublished(k: (args: string[]) => string, everyMs?: number): Promise<string> {
  const bundle = await waitFor(
    'the caBundle on the MutatingWebhookConfiguration',
    () => {
      const b64 = k([
        'get',
        'mutatingwebhookconfiguration',
        'nanoseg-injector',
        '-o',
        'jsonpath={.webhooks[0].clientConfig.caBundle}',
      ]);
      return b64.length > 100 ? b64 : undefined;
    },
    20_000,
    everyMs,
  );
  return Buffer.from(bundle, 'base64').toString('utf8');
}

export interface PodJson {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { containers: { name: string }[]; initContainers?: { name: string; restartPolicy?: string }[] };
  status: { phase?: string; podIP: string; conditions?: { type: string; status: string }[] };
}

/** The examples' manifests (xds-server/examples/kubernetes/), shared with scripts/demo-kubernetes.sh. */
function example(name: string): string {
  return readFileSync(join(projectRoot(), 'xds-server', 'examples', 'kubernetes', name), 'utf8');
}

/** The MutatingWebhookConfiguration of the injector and the ValidatingWebhookConfiguration of NanoSegments. */
export const webhookConfigurations = example('webhooks.yaml');
if (!webhookConfigurations.includes(`https://localhost:${WEBHOOK_PORT}/inject`)) {
  throw new Error(`xds-server/examples/kubernetes/webhooks.yaml does not point at localhost:${WEBHOOK_PORT}`);
}

// api serves HTTP behind a ClusterIP Service; web calls that ClusterIP (the files say how without DNS or kube-proxy)
export const api = example('shop-api.yaml');
export const web = example('shop-web.yaml');

/** The merged inventory the control plane uses (GET /v1/inventory on its API socket). */
/**
 * The two namespaces of both stories: `shop`, labelled for injection, and `plain`, not; resolves once both have
 * their default ServiceAccount (a pod created before it is refused).
 */
export async function shopAndPlain(k: (args: string[]) => string): Promise<void> {
  k(['create', 'namespace', 'shop']);
  k(['label', 'namespace', 'shop', 'nanoseg.io/inject=enabled']);
  k(['create', 'namespace', 'plain']);
  await waitFor(
    'the default ServiceAccounts',
    () => k(['-n', 'shop', 'get', 'sa', 'default']) && k(['-n', 'plain', 'get', 'sa', 'default']),
    30_000,
  );
}

export function inventory(socketPath: string): Promise<Inventory> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/v1/inventory' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as Inventory) : reject(new Error(body))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The NanoSegments of a namespace: name → status. */
export function segments(cluster: TestCluster, ns: string): Map<string, Partial<NanoSegmentStatus>> {
  const list = cluster.getJson<{ items: { metadata: { name: string }; status?: NanoSegmentStatus }[] }>([
    '-n',
    ns,
    'nanosegments',
  ]).items;
  return new Map(list.map((o) => [o.metadata.name, o.status ?? {}]));
}

/** How many status writes of NanoSegments the apiserver served (its apiserver_request_total). */
export function statusWrites(cluster: TestCluster): number {
  return cluster
    .k(['get', '--raw', '/metrics'])
    .split('\n')
    .filter((l) => l.startsWith('apiserver_request_total{') && l.includes('resource="nanosegments"'))
    .filter((l) => l.includes('subresource="status"') && /verb="(PUT|PATCH)"/.test(l))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** The one Ready pod of a Deployment, once it is. */
export function readyPod(cluster: TestCluster, app: string): PodJson | undefined {
  const pods = cluster.getJson<{ items: PodJson[] }>(['-n', 'shop', 'pods', '-l', `app=${app}`]).items;
  const p = pods[0];
  const ready = p?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  return pods.length === 1 && ready ? p : undefined;
}

export const rules = (p: PolicyDocument, side: 'ingress' | 'egress') =>
  p[side].map((r) => `${'service' in r.peer ? r.peer.service : r.peer.cidr} ${r.protocol}/${r.port}`).sort();

export const GHOST_NODE = `
apiVersion: v1
kind: Node
metadata: { name: ghost }
`;

export const ghostPod = (name: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: churn, finalizers: [nanoseg.io/test] }
spec:
  nodeName: ghost
  containers: [{ name: app, image: local/busybox:1, imagePullPolicy: Never }]
`;

/**
 * A pod posing as another workload: not injected (it opts out), it runs Envoy with its own projected token (audience
 * nanoseg) and the control plane's CA, but a bootstrap whose node id is `nodeId` (another pod's). Its ADS stream speaks
 * as that node, and a static listener on 15080 sends each request's access log under that node's name over the same
 * authenticated channel. Both must be refused and counted.
 */
export function poserPod(nodeId: string, service: string, xds: { host: string; port: number }): string {
  const b = envoyBootstrap({
    pod: 'poser',
    service,
    address: '0.0.0.0',
    nodeId,
    xdsAddress: xds,
    xdsTls: { caFile: XDS_CA_FILE, tokenFile: XDS_TOKEN_FILE },
  }) as { dynamic_resources: { ads_config: { grpc_services: unknown[] }; lds_config: object; cds_config: object } };
  // served nothing (refused): go live after 1 s instead of 15 s, so the static listener serves
  b.dynamic_resources.lds_config = { ...b.dynamic_resources.lds_config, initial_fetch_timeout: '1s' };
  b.dynamic_resources.cds_config = { ...b.dynamic_resources.cds_config, initial_fetch_timeout: '1s' };
  const grpc = b.dynamic_resources.ads_config.grpc_services[0];
  const listener = {
    name: 'poser',
    address: { socket_address: { address: '0.0.0.0', port_value: 15080 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'poser',
              access_log: [
                {
                  name: 'envoy.access_loggers.http_grpc',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig',
                    common_config: {
                      log_name: 'inbound',
                      transport_api_version: 'V3',
                      grpc_service: grpc,
                      buffer_flush_interval: '0.2s',
                    },
                  },
                },
              ],
              route_config: {
                virtual_hosts: [
                  {
                    name: 'all',
                    domains: ['*'],
                    routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }],
                  },
                ],
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
            },
          },
        ],
      },
    ],
  };
  (b as unknown as { static_resources: { listeners: unknown[] } }).static_resources.listeners = [listener];
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'poser', namespace: 'shop', labels: { 'nanoseg.io/inject': 'false' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'envoy',
          image: 'nanoseg/proxy:dev',
          imagePullPolicy: 'Never',
          command: ['envoy'],
          args: ['--config-yaml', JSON.stringify(b), '--disable-hot-restart', '--concurrency', '1', '-l', 'warning'],
          securityContext: { runAsUser: 1337, runAsGroup: 1337 },
          volumeMounts: [{ name: 'auth', mountPath: '/var/run/secrets/nanoseg', readOnly: true }],
        },
      ],
      volumes: [
        {
          name: 'auth',
          projected: {
            sources: [
              { serviceAccountToken: { audience: 'nanoseg', expirationSeconds: 3600, path: 'token' } },
              { configMap: { name: 'poser-ca', items: [{ key: 'ca.pem', path: 'ca.pem' }] } },
            ],
          },
        },
      ],
    },
  });
}

/** A counter's value in a Prometheus text exposition (0 when absent): the sum of the lines matching every label. */
export function counter(text: string, name: string, labels: Record<string, string>): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
