// The workloads of the cluster e2e's second story (kubernetes-workloads.test.ts): every kind of owner nanoseg maps to a
// service, calling each other through ClusterIPs. The test cluster has no DNS and no kube-proxy: the kubelet's
// <NAME>_SERVICE_HOST variables name the addresses (the Services are created first, so every pod gets them), and only
// the sidecars route them, as VIPs. busybox httpd serves, `timeout` bounds each wget (Debian's busybox-static 1.35
// wget crashes on its own -T).
//   web (Deployment)       → api:9090
//   api (Deployment, 2→3)  → db:8000
//   ledger (StatefulSet)   → db:8000
//   report (CronJob)       → api:9090, once per run, then the Job completes (the sidecar is a native sidecar)
//   db (Deployment)          serves 8000, and 8001 that nobody calls
import type { TestCluster } from '../support/cluster.js';

const serve = (ports: number[]) =>
  `echo ok > /tmp/index.html; ${ports
    .slice(1)
    .map((p) => `httpd -p ${p} -h /tmp; `)
    .join('')}exec httpd -f -p ${ports[0]} -h /tmp`;
const callLoop = (target: string) => `while true; do timeout 2 wget -q -O /dev/null http://${target}/; sleep 0.5; done`;

const service = (name: string, port: number) => `
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { app: ${name} }
  ports: [{ port: ${port}, targetPort: ${port} }]
`;

// A short grace period keeps rollouts quick (the sidecar then gets no drain: the injector keeps its preStop sleep
// shorter than the grace period, as the apiserver wants). A Job's pod keeps the default, so its sidecar drains whole
// (its last access logs flushed) when the Job's container has finished.
const podSpec = (app: string, script: string, port?: number, grace = 1) => `${
  grace === 30 ? '' : `\n      terminationGracePeriodSeconds: ${grace}`
}
      containers:
        - name: ${app}
          image: local/busybox:1
          imagePullPolicy: Never
          command: [sh, -c, '${script}']${port ? `\n          ports: [{ containerPort: ${port} }]` : ''}`;

const deployment = (name: string, replicas: number, script: string, port?: number) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: shop }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:${podSpec(name, script, port)}
`;

export const SERVICES = [service('api', 9090), service('db', 8000), service('ledger', 7000)].join('---');

export const WORKLOADS = [
  deployment('db', 1, serve([8000, 8001]), 8000),
  deployment(
    'api',
    2,
    `${serve([9090]).replace('exec httpd -f', 'httpd')}; ${callLoop('$DB_SERVICE_HOST:8000')}`,
    9090,
  ),
  deployment('web', 1, callLoop('$API_SERVICE_HOST:9090')),
  `
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: ledger, namespace: shop }
spec:
  serviceName: ledger
  replicas: 1
  selector: { matchLabels: { app: ledger } }
  template:
    metadata: { labels: { app: ledger } }
    spec:${podSpec('ledger', `${serve([7000]).replace('exec httpd -f', 'httpd')}; ${callLoop('$DB_SERVICE_HOST:8000')}`, 7000)}
`,
  `
apiVersion: batch/v1
kind: CronJob
metadata: { name: report, namespace: shop }
spec:
  schedule: "* * * * *"
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never${podSpec(
            'report',
            // not -q: a failed call says why in the pod's log
            'timeout 5 wget -O - http://$API_SERVICE_HOST:9090/',
            undefined,
            30,
          )
            .split('\n')
            .map((l) => (l ? `    ${l}` : l))
            .join('\n')}
`,
].join('---');

/** A bare pod for `kubectl apply`: what the webhook must inject, or (control plane down) refuse. */
export const probePod = (name: string, ns: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'probe', image: 'local/busybox:1', imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
    },
  });

export interface PodStatus {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { initContainers?: { name: string }[] };
  status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

/** The Ready, not terminating pods of an app (its `app` label). */
export function readyPods(cluster: TestCluster, app: string): PodStatus[] {
  return cluster
    .getJson<{ items: PodStatus[] }>(['-n', 'shop', 'pods', '-l', `app=${app}`])
    .items.filter(
      (p) =>
        !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
}

/**
 * One HTTP call from a pod's app container, bounded by `timeout`; exit 0 when it got an answer. `target` may name a
 * kubelet service variable (`$DB_SERVICE_HOST:8000`), expanded in the pod.
 */
export function callFrom(cluster: TestCluster, pod: string, container: string, target: string): number {
  return cluster.kubectl([
    '-n',
    'shop',
    'exec',
    pod,
    '-c',
    container,
    '--',
    'sh',
    '-c',
    `timeout 3 wget -q -O /dev/null http://${target}/`,
  ]).code;
}
