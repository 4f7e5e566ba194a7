// Webhook latency on the real test cluster: `nanoseg serve --kubernetes` serves the sidecar injector; rounds of 50
// pod creations fired at once into a namespace labelled nanoseg.io/inject=enabled. The figure is the apiserver's own
// `apiserver_admission_webhook_admission_duration_seconds` for our webhook (what an operator's dashboard shows), the
// difference of two scrapes of /metrics around the measured rounds. Its buckets are 5, 25, 100 ms, …: the p99 is
// interpolated inside its bucket as histogram_quantile does, with the bucket's bound beside it, and the exact mean
// (sum / count). Every created pod must come back injected. The pods are bound to `ghost` (no kubelet): they never run.
//
// Two reference webhooks in the same run, rounds interleaved with ours (ours, same patch, floor, ours, …) so that
// drift cancels: both are the least an HTTPS webhook can do (read the review, answer a fixed patch) served by this
// process. "Same patch" answers the patch our webhook gave a pod of the same shape, so the apiserver does the same
// work as for ours; "floor" answers a one-op patch. What ours costs beyond "same patch" is ours; what "same patch"
// costs beyond "floor" is the apiserver applying an injection (an init container and a sidecar) on this machine.
import type { Benchmark, Metric } from './types.js';
import { KubeApi, eachLimited } from './k8s-api.js';
import { KubeControlPlane, createNamespace, ghostPodSpec, sharedCluster } from './k8s-cluster.js';
import { histogramDelta, histogramQuantile, readHistogram, type Histogram } from './prom-histogram.js';
import { percentile } from './stats.js';
import { waitFor } from '../support/cli.js';
import { WEBHOOK_PORT, caBundlePublished } from '../e2e/kubernetes-support.js';
import { Agent, createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCa, issueServing } from '../../injector/certs.js';

const NS = 'hookbench';
const CONCURRENT = 50;
const METRIC = 'apiserver_admission_webhook_admission_duration_seconds';
const WEBHOOK = 'inject.nanoseg.io';
/** the reference webhooks: name → the namespace its selector picks */
const REF_SAME = { name: 'same-patch.bench.nanoseg.io', ns: 'hookref' };
const REF_FLOOR = { name: 'floor.bench.nanoseg.io', ns: 'hookfloor' };
const REF_CONFIG = 'nanoseg-bench-reference';
const REF_LABEL = 'bench.nanoseg.io/reference';
/** the floor's patch: one annotation */
const FLOOR_PATCH = Buffer.from(
  JSON.stringify([{ op: 'add', path: '/metadata/annotations', value: { 'bench.nanoseg.io/floor': 'yes' } }]),
).toString('base64');

interface PodAnswer {
  spec?: { initContainers?: { name: string }[] };
  metadata?: { annotations?: Record<string, string> };
}

const podBody = (name: string, namespace = NS) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace },
  spec: ghostPodSpec(),
});

/**
 * podBody as the apiserver sends it to a webhook: the ServiceAccount admission plugin has added the token volume, so
 * the patch our webhook answers appends to the volumes (as it does for the pods of the measured rounds).
 */
function reviewedPod(name: string): Record<string, unknown> {
  const pod = podBody(name);
  const token = 'kube-api-access-bench';
  const spec = pod.spec as { containers: Record<string, unknown>[]; volumes?: unknown[] };
  spec.volumes = [{ name: token, projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }];
  for (const c of spec.containers)
    c.volumeMounts = [{ name: token, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }];
  return pod;
}

const injected = (p: PodAnswer) =>
  p.metadata?.annotations?.['nanoseg.io/status'] === 'injected' &&
  (p.spec?.initContainers ?? []).some((c) => c.name === 'nanoseg-proxy');

/** The admission histograms of our webhook and of the two references, from one scrape. */
async function scrape(api: KubeApi): Promise<Histogram[]> {
  const a = await api.call('GET', '/metrics');
  if (a.status !== 200) throw new Error(`GET /metrics: HTTP ${a.status}`);
  return [WEBHOOK, REF_SAME.name, REF_FLOOR.name].map((name) =>
    readHistogram(a.body, METRIC, { name, type: 'admit', operation: 'CREATE' }),
  );
}

/**
 * One round: CONCURRENT creations at once in `ns`; client-side latencies (ms); throws unless every pod came back
 * with what its webhook patches in (`check`).
 */
async function round(api: KubeApi, r: number, ns = NS, check: (p: PodAnswer) => boolean = injected): Promise<number[]> {
  const names = Array.from({ length: CONCURRENT }, (_, i) => `hook-${r}-${i}`);
  const ms: number[] = [];
  await eachLimited(names, CONCURRENT, async (name) => {
    const t0 = performance.now();
    const pod = await api.ok<PodAnswer>('POST', `/api/v1/namespaces/${ns}/pods`, podBody(name, ns));
    ms.push(performance.now() - t0);
    if (!check(pod)) throw new Error(`pod ${ns}/${name} was created without what its webhook patches in`);
  });
  return ms;
}

const floorPatched = (p: PodAnswer) => p.metadata?.annotations?.['bench.nanoseg.io/floor'] === 'yes';

/** The reference webhooks' server: answers each review of `path` with its fixed patch, and nothing else. */
async function referenceServer(
  tls: { certPem: string; keyPem: string },
  patches: Map<string, string>,
): Promise<Server> {
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const patch = patches.get((req.url ?? '').split('?')[0]!); // the apiserver adds ?timeout=
      const uid = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: string } }).request?.uid;
      if (patch === undefined || !uid) {
        res.writeHead(404).end();
        return;
      }
      const text = JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid, allowed: true, patchType: 'JSONPatch', patch },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** The MutatingWebhookConfiguration of the references: each picks its namespace by REF_LABEL. */
function referenceConfig(port: number, caPem: string): string {
  const hook = (r: { name: string; ns: string }) => `- name: ${r.name}
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 10
  namespaceSelector: { matchLabels: { ${REF_LABEL}: ${r.ns} } }
  rules: [{ operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods] }]
  clientConfig: { url: "https://localhost:${port}/${r.ns}", caBundle: ${Buffer.from(caPem).toString('base64')} }
`;
  return `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: { name: ${REF_CONFIG} }
webhooks:
${hook(REF_SAME)}${hook(REF_FLOOR)}`;
}

/**
 * One AdmissionReview of `object` straight to our webhook, as the apiserver sends it, over `agent`: the client-side
 * latency (ms) and the patch it answered (base64, as in the review); throws unless it answered a patch.
 */
function review(agent: Agent, uid: string, object: unknown): Promise<{ ms: number; patch: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        operation: 'CREATE',
        namespace: NS,
        object,
        userInfo: { username: 'admin' },
        dryRun: false,
      },
    });
    const t0 = performance.now();
    const req = request(
      { host: '127.0.0.1', port: WEBHOOK_PORT, path: '/inject', method: 'POST', agent, servername: 'localhost' },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          const ms = performance.now() - t0;
          const patch = (JSON.parse(text) as { response?: { patch?: string } }).response?.patch;
          if (res.statusCode !== 200 || !patch) reject(new Error(`review ${uid}: HTTP ${res.statusCode}: ${text}`));
          else resolve({ ms, patch });
        });
      },
    );
    req.on('error', reject);
    req.setHeader('content-type', 'application/json');
    req.end(body);
  });
}

/**
 * The webhook alone: CONCURRENT AdmissionReviews at once straight to it (the apiserver left out), as the apiserver
 * sends them, over keep-alive connections; client-side latencies (ms). Says how much of the apiserver's figure is
 * the control plane's.
 */
async function direct(agent: Agent, r: number): Promise<number[]> {
  const one = async (i: number) => (await review(agent, `direct-${r}-${i}`, podBody(`direct-${r}-${i}`))).ms;
  return Promise.all(Array.from({ length: CONCURRENT }, (_, i) => one(i)));
}

/** The patch our webhook answers for a pod as the apiserver sends it (reviewedPod). */
async function ourPatch(agent: Agent): Promise<string> {
  return (await review(agent, 'reference-patch', reviewedPod('reference'))).patch;
}

export const k8sWebhook: Benchmark = {
  name: 'k8s-webhook',
  description: `(root, test cluster) ${CONCURRENT} concurrent pod creations in a labelled namespace: the apiserver's webhook admission duration`,
  cluster: true,
  async run({ quick, progress }) {
    const cluster = sharedCluster(progress);
    const api = new KubeApi(cluster.kubeconfig, CONCURRENT);
    const cp = new KubeControlPlane(cluster);
    // straight at our webhook (its CA is the control plane's own: not verified, loopback only)
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENT, rejectUnauthorized: false });
    let reference: Server | undefined;
    try {
      await cp.start();
      await caBundlePublished((a) => cluster.k(a), 200);
      await createNamespace(api, NS, { 'nanoseg.io/inject': 'enabled' });
      // the apiserver picks a configuration (and its caBundle) up asynchronously: wait for a dry run to be patched
      const dryRunPatched = async (ns: string, check: (p: PodAnswer) => boolean, what: string) => {
        let last = '';
        await waitFor(
          what,
          async () => {
            const a = await api.call('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, podBody('probe', ns));
            last = `HTTP ${a.status}: ${a.body.slice(0, 300)}`;
            return a.status === 201 && check(JSON.parse(a.body) as PodAnswer);
          },
          30_000,
          200,
        ).catch((e: Error) => {
          throw new Error(`${e.message}; the last answer: ${last}`);
        });
      };
      await dryRunPatched(NS, injected, 'the webhook to inject a dry-run pod');
      // the references, with a CA of their own: our patch for a pod of this shape, and the one-op floor
      const now = Date.now();
      const ca = await createCa('nanoseg benchmark reference webhook', now);
      const patches = new Map([
        [`/${REF_SAME.ns}`, await ourPatch(agent)],
        [`/${REF_FLOOR.ns}`, FLOOR_PATCH],
      ]);
      reference = await referenceServer(await issueServing(ca, ['localhost'], now), patches);
      cluster.k(['apply', '-f', '-'], referenceConfig((reference.address() as AddressInfo).port, ca.certPem));
      const refs = [
        { ...REF_SAME, check: injected },
        { ...REF_FLOOR, check: floorPatched },
      ];
      for (const r of refs) {
        await createNamespace(api, r.ns, { [REF_LABEL]: r.ns });
        await dryRunPatched(r.ns, r.check, `the reference webhook ${r.name} to patch a dry-run pod`);
      }
      const rounds = quick ? 2 : 10;
      const pause = () => new Promise((res) => setTimeout(res, 200));
      // warm-up: connections to the apiserver and from it to each webhook, JIT
      await round(api, -1);
      for (const r of refs) await round(api, -1, r.ns, r.check);
      const before = await scrape(api);
      const client: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const ms = await round(api, r);
        client.push(...ms);
        progress(`round ${r + 1}/${rounds}: ${CONCURRENT} pods, slowest creation ${Math.max(...ms).toFixed(0)} ms`);
        await pause();
        for (const x of refs) {
          await round(api, r, x.ns, x.check);
          await pause();
        }
      }
      const after = await scrape(api);
      const [h, same, floor] = before.map((b, i) => histogramDelta(b, after[i]!)) as [Histogram, Histogram, Histogram];
      for (const [name, x] of [
        [WEBHOOK, h],
        [REF_SAME.name, same],
        [REF_FLOOR.name, floor],
      ] as const) {
        if (x.count < rounds * CONCURRENT)
          throw new Error(`the apiserver counted ${x.count} calls of ${name}, expected ${rounds * CONCURRENT}`);
      }
      const alone: number[] = [];
      await direct(agent, -1);
      for (let r = 0; r < rounds; r++) alone.push(...(await direct(agent, r)));
      const p99 = histogramQuantile(h, 0.99);
      const p50 = histogramQuantile(h, 0.5);
      const within = (le: number) => ((h.buckets.find((b) => b.le === le)?.count ?? NaN) / h.count) * 100;
      const mean = (x: Histogram) => (x.sum / x.count) * 1000;
      const metrics: Metric[] = [
        {
          name: 'webhook admission p99 (apiserver histogram)',
          value: p99.estimate * 1000,
          unit: 'ms',
          target: { op: '<=', value: 20 },
          note: `${h.count} calls, ${CONCURRENT} at once; interpolated in its bucket (≤ ${p99.bound * 1000} ms)`,
        },
        { name: 'webhook admission p99: bucket bound', value: p99.bound * 1000, unit: 'ms' },
        { name: 'webhook admission p50 (interpolated)', value: p50.estimate * 1000, unit: 'ms' },
        { name: 'webhook admission mean (sum / count)', value: mean(h), unit: 'ms' },
        { name: 'webhook calls within 5 ms', value: within(0.005), unit: '%' },
        { name: 'webhook calls within 25 ms', value: within(0.025), unit: '%' },
        {
          name: 'reference webhook, same patch: admission p99',
          value: histogramQuantile(same, 0.99).estimate * 1000,
          unit: 'ms',
          note: 'a trivial webhook answering our patch, rounds interleaved with ours: what the apiserver alone costs',
        },
        { name: 'reference webhook, same patch: admission mean', value: mean(same), unit: 'ms' },
        {
          name: 'reference webhook, one-op patch: admission p99',
          value: histogramQuantile(floor, 0.99).estimate * 1000,
          unit: 'ms',
          note: 'the floor of any mutating webhook on this machine',
        },
        { name: 'reference webhook, one-op patch: admission mean', value: mean(floor), unit: 'ms' },
        {
          name: 'ours / reference with the same patch, admission mean',
          value: mean(h) / mean(same),
          unit: 'ratio',
          note: 'what our webhook adds to what the apiserver spends on the same patch',
        },
        { name: 'webhook alone p50 (50 reviews at once, no apiserver)', value: percentile(alone, 50), unit: 'ms' },
        { name: 'webhook alone p99 (50 reviews at once, no apiserver)', value: percentile(alone, 99), unit: 'ms' },
        { name: 'pod creation p50 (client, whole request)', value: percentile(client, 50), unit: 'ms' },
        { name: 'pod creation p99 (client, whole request)', value: percentile(client, 99), unit: 'ms' },
      ];
      return metrics;
    } finally {
      agent.destroy();
      await cp.stop();
      try {
        cluster.k(['delete', 'mutatingwebhookconfiguration', REF_CONFIG, '--ignore-not-found']);
      } catch {
        // the cluster is torn down at the end of the run anyway
      }
      reference?.close();
      // the pods never ran: removed at once, so they weigh on no later benchmark's informers
      for (const ns of [NS, REF_SAME.ns, REF_FLOOR.ns])
        await api.call('DELETE', `/api/v1/namespaces/${ns}/pods?gracePeriodSeconds=0`).catch(() => undefined);
      api.close();
    }
  },
};
