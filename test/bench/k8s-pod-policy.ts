// A new pod in an enforced namespace on the real test cluster (real kubelet, real injected Envoy sidecars):
// Deployments `srv` (busybox httpd on 9090 and 9091, behind a ClusterIP Service) and `cli`, both annotated
// nanoseg.io/mode=enforce, with an applied policy (cli → srv http/9090 only). Each sample scales `cli` up by one and
// times, from the scale request: the new pod's sidecar connected (kubelet, init container, Envoy start), the sidecar
// holding its config (every type it was sent ACKed, /v1/status), and srv's sidecar ACKing a config made after the new
// pod's address entered the inventory (its RBAC names the new pod). The later of the last two is "policy in force".
// Then, from inside the new pod, the allowed call must work and srv:9091 must be refused: a timing that did not
// enforce fails the run. And no packet gets out early: every cli pod's app calls srv:9091 (never allowed) and
// srv:9090 (allowed once the policy is in force) from its first moment, every 200 ms until a few allowed calls got
// through, and logs each call that got through with the host's uptime. An off-policy call that got through, or an
// allowed one before the new pod's sidecar had even connected, fails the run (TCP: the capture rules come from the
// init container, before the app starts; other protocols are the node agent's, not built yet).
import { request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Benchmark, Metric } from './types.js';
import type { StatusView } from '../../xds-server/src/api/views.js';
import type { Inventory } from '../../xds-server/src/model/index.js';
import { KubeApi } from './k8s-api.js';
import { KubeControlPlane, createNamespace, sharedCluster } from './k8s-cluster.js';
import { allAcked } from './lab.js';
import { percentile } from './stats.js';
import { nanoseg, waitFor } from '../support/cli.js';

const NS = 'polbench';

const deployment = (name: string, replicas: number, command: string, port?: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS, annotations: { 'nanoseg.io/mode': 'enforce' } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name,
            image: 'local/busybox:1',
            imagePullPolicy: 'Never',
            command: ['sh', '-c', command],
            ...(port && { ports: [{ containerPort: port }] }),
          },
        ],
      },
    },
  },
});

const POLICIES = `apiVersion: nanoseg.io/v1alpha1
kind: Policy
service: ${NS}/srv
ingress:
  - peer: {service: ${NS}/cli}
    protocol: http
    port: 9090
egress: []
---
apiVersion: nanoseg.io/v1alpha1
kind: Policy
service: ${NS}/cli
ingress: []
egress:
  - peer: {service: ${NS}/srv}
    protocol: http
    port: 9090
`;

function getJson<T>(socketPath: string, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as T) : reject(new Error(body))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** /proc/uptime's resolution (10 ms) and our polls' lag behind what they see (the sidecar connected earlier) */
const POLL_SLACK_S = 0.25;

/**
 * The cli app: from its first moment, calls srv's pod on 9091 (never allowed) and 9090 (allowed once in force) every
 * 200 ms and logs each call that got through, with the host's uptime (busybox's date has no sub-second format).
 * Five rounds after the first allowed call it stops (its load would slow the next samples' pods) and sleeps.
 */
function prober(srvIp: string): string {
  const call = (port: number, then: string) =>
    `if timeout 1 wget -q -O /dev/null http://${srvIp}:${port}/ 2>/dev/null; then read up _ </proc/uptime; ${then}; fi`;
  const off = call(9091, 'echo "off-policy $up"');
  const allowed = call(9090, 'echo "allowed $up"; n=$((n+1))');
  return `n=0; while [ $n -lt 5 ]; do ${off}; ${allowed}; sleep 0.2; done; exec sleep 3600`;
}

/** The uptimes (s) of the calls a cli pod's app logged as got through. */
function probed(log: string): { offPolicy: number[]; allowed: number[] } {
  const at = (tag: string) =>
    log
      .split('\n')
      .filter((l) => l.startsWith(`${tag} `))
      .map((l) => Number(l.slice(tag.length + 1)));
  return { offPolicy: at('off-policy'), allowed: at('allowed') };
}

interface PodList {
  items: { metadata: { name: string }; status: { podIP?: string } }[];
}

export const k8sPodPolicy: Benchmark = {
  name: 'k8s-pod-policy',
  description:
    '(root, test cluster) a pod created in an enforced namespace: its sidecar configured and the policy in force',
  cluster: true,
  async run({ quick, progress }) {
    const cluster = sharedCluster(progress);
    const api = new KubeApi(cluster.kubeconfig, 8);
    const cp = new KubeControlPlane(cluster);
    const samples = quick ? 1 : 8;
    try {
      await cp.start();
      const sock = cp.server.apiSocket;
      await createNamespace(api, NS, { 'nanoseg.io/inject': 'enabled' });
      await api.ok('POST', `/api/v1/namespaces/${NS}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'srv', namespace: NS },
        spec: { selector: { app: 'srv' }, ports: [{ port: 9090, targetPort: 9090 }] },
      });
      const httpd = 'echo ok > /tmp/index.html; httpd -p 9091 -h /tmp; exec httpd -f -p 9090 -h /tmp';
      await api.ok('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment('srv', 1, httpd, 9090));
      const pods = (app: string) => api.ok<PodList>('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=app%3D${app}`);
      const status = () => getJson<StatusView>(sock, '/v1/status');
      const configuredPod = (app: string) =>
        waitFor(
          `the ${app} pod with its sidecar configured`,
          async () => {
            const p = (await pods(app)).items[0];
            const e = (await status()).envoys.find((x) => x.node === `${p?.metadata.name}.${NS}`);
            return p?.status.podIP && e && e.acked.lds && allAcked(e) ? p : undefined;
          },
          120_000,
          300,
        );
      const srvPod = await configuredPod('srv');
      await api.ok(
        'POST',
        `/apis/apps/v1/namespaces/${NS}/deployments`,
        deployment('cli', 1, prober(srvPod.status.podIP!)),
      );
      const firstCli = await configuredPod('cli');
      // the services exist now (their first pods): the policy, cli → srv http/9090 only
      const file = join(cp.server.dir, 'policy.yaml');
      for (const doc of POLICIES.split('---\n')) {
        writeFileSync(file, doc);
        const r = nanoseg(['policy', 'apply', '-f', file], cp.server.env);
        if (r.code !== 0) throw new Error(`policy apply: ${r.stderr}`);
      }
      await waitFor(
        'every sidecar ACKing the policy',
        async () => (await status()).envoys.every(allAcked),
        30_000,
        200,
      );
      await new Promise((r) => setTimeout(r, 500));
      const srvNode = `${srvPod.metadata.name}.${NS}`;
      const clusterIp = cluster.k(['-n', NS, 'get', 'service', 'srv', '-o', 'jsonpath={.spec.clusterIP}']);
      progress(`srv up (${srvNode}); ${samples} sample(s)`);

      const connected: number[] = [];
      /** the new pod's first allowed call − policy in force, ms (negative: before our polls saw it in force) */
      const earlyBy: number[] = [];
      // performance.now() → the host's uptime, which the pods' /proc/uptime shows too (no time namespaces)
      const up0 = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      const p0 = performance.now();
      const upAt = (t: number) => up0 + (t - p0) / 1000;
      const configured: number[] = [];
      const inForce: number[] = [];
      const known = new Set<string>([firstCli.metadata.name]);
      for (let i = 0; i < samples; i++) {
        const srvBefore = JSON.stringify((await status()).envoys.find((e) => e.node === srvNode)?.acked);
        const t0 = performance.now();
        await api.ok(
          'PATCH',
          `/apis/apps/v1/namespaces/${NS}/deployments/cli/scale`,
          { spec: { replicas: i + 2 } },
          'application/merge-patch+json',
        );
        let pod: string | undefined;
        let ip: string | undefined;
        let tConn: number | undefined, tCfg: number | undefined, tSrv: number | undefined;
        let ipKnownAt: number | undefined;
        await waitFor(
          `cli pod ${i + 2}: sidecar configured and srv's sidecar updated`,
          async () => {
            if (!pod) pod = (await pods('cli')).items.find((p) => !known.has(p.metadata.name))?.metadata.name;
            if (!pod) return false;
            if (!ip) ip = (await pods('cli')).items.find((p) => p.metadata.name === pod)?.status.podIP;
            const st = await status();
            const now = performance.now();
            const mine = st.envoys.find((e) => e.node === `${pod}.${NS}`);
            if (mine && tConn === undefined) tConn = now;
            if (mine && tCfg === undefined && mine.acked.lds && mine.acked.cds && allAcked(mine)) tCfg = now;
            if (ip && ipKnownAt === undefined) {
              const inv = await getJson<Inventory>(sock, '/v1/inventory');
              if (inv.workloads.some((w) => w.addresses.includes(ip!))) ipKnownAt = now;
            }
            const srv = st.envoys.find((e) => e.node === srvNode);
            if (ipKnownAt !== undefined && tSrv === undefined && srv && allAcked(srv)) {
              if (JSON.stringify(srv.acked) !== srvBefore) tSrv = now;
            }
            return tCfg !== undefined && tSrv !== undefined;
          },
          120_000,
          50,
        );
        known.add(pod!);
        connected.push(tConn! - t0);
        configured.push(tCfg! - t0);
        inForce.push(Math.max(tCfg!, tSrv!) - t0);
        // behaviour, not timing: the allowed call works, the off-policy port is refused. The app container starts
        // once the sidecar's startup probe has seen its config (a native sidecar), which may be after tCfg.
        await waitFor(
          `cli pod ${pod}: its app container running`,
          () =>
            cluster.kubectl([
              '-n',
              NS,
              'get',
              'pod',
              pod!,
              '-o',
              'jsonpath={.status.containerStatuses[?(@.name=="cli")].state.running.startedAt}',
            ]).stdout !== '',
          30_000,
          200,
        );
        const wget = (url: string) =>
          cluster.kubectl(['-n', NS, 'exec', pod!, '-c', 'cli', '--', 'timeout', '3', 'wget', '-q', '-O', '-', url]);
        const ok = wget(`http://${clusterIp}:9090/`);
        if (ok.stdout.trim() !== 'ok') throw new Error(`cli pod ${pod} → srv:9090 failed: ${ok.stderr}`);
        if (wget(`http://${srvPod.status.podIP}:9091/`).code === 0)
          throw new Error(`cli pod ${pod} reached srv:9091, which the policy does not allow`);
        // its app's own calls since its first moment: nothing off-policy, nothing before its sidecar connected
        const through = await waitFor(
          `cli pod ${pod}: its app's first allowed call`,
          () => {
            const t = probed(cluster.kubectl(['-n', NS, 'logs', pod!, '-c', 'cli']).stdout);
            return t.allowed.length > 0 || t.offPolicy.length > 0 ? t : undefined;
          },
          15_000,
          300,
        );
        if (through.offPolicy.length > 0)
          throw new Error(`cli pod ${pod}: ${through.offPolicy.length} call(s) to srv:9091 got through`);
        const firstAllowed = through.allowed[0]!;
        const connectedAt = upAt(tConn!);
        if (firstAllowed < connectedAt - POLL_SLACK_S)
          throw new Error(
            `cli pod ${pod}: an allowed call got through at uptime ${firstAllowed}, before its sidecar connected (${connectedAt.toFixed(2)})`,
          );
        earlyBy.push((firstAllowed - upAt(t0 + inForce[i]!)) * 1000);
        progress(
          `pod ${i + 1}/${samples}: connected ${connected[i]!.toFixed(0)} ms, configured ${configured[i]!.toFixed(0)} ms, in force ${inForce[i]!.toFixed(0)} ms`,
        );
      }
      const metrics: Metric[] = [
        {
          name: 'pod created → sidecar configured and policy in force p99',
          value: percentile(inForce, 99),
          unit: 'ms',
          target: { op: '<=', value: 2000 },
          note: `${samples} pods, from the scale request; 50 ms polls of /v1/status`,
        },
        {
          name: 'pod created → sidecar connected p99 (kubelet, init, Envoy start)',
          value: percentile(connected, 99),
          unit: 'ms',
        },
        { name: 'pod created → sidecar configured p99', value: percentile(configured, 99), unit: 'ms' },
        {
          name: "new pod's first allowed call − policy in force, min",
          value: Math.min(...earlyBy),
          unit: 'ms',
          note: 'its app calls every 200 ms from its first moment; below 0: the call beat our 50 ms polls, never the sidecar',
        },
        {
          name: 'sidecar connected → policy in force p99 (control plane)',
          value: percentile(
            inForce.map((x, i) => x - connected[i]!),
            99,
          ),
          unit: 'ms',
        },
      ];
      return metrics;
    } finally {
      await cp.stop();
      await api
        .call(
          'PATCH',
          `/apis/apps/v1/namespaces/${NS}/deployments/cli/scale`,
          { spec: { replicas: 0 } },
          'application/merge-patch+json',
        )
        .catch(() => undefined);
      api.close();
    }
  },
};
