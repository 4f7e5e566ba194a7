// Webhook latency on the real test cluster: `nanoseg serve --kubernetes` serves the sidecar injector; rounds of 50
// pod creations fired at once into a namespace labelled nanoseg.io/inject=enabled. The figure is the apiserver's own
// `apiserver_admission_webhook_admission_duration_seconds` for our webhook (what an operator's dashboard shows), the
// difference of two scrapes of /metrics around the measured rounds. Its buckets are 5, 25, 100 ms, …: the p99 is
// interpolated inside its bucket as histogram_quantile does, with the bucket's bound beside it, and the exact mean
// (sum / count). Every created pod must come back injected. The pods are bound to `ghost` (no kubelet): they never run.
import type { Benchmark, Metric } from './types.js';
import { KubeApi, eachLimited } from './k8s-api.js';
import { KubeControlPlane, createNamespace, ghostPodSpec, sharedCluster } from './k8s-cluster.js';
import { histogramDelta, histogramQuantile, readHistogram, type Histogram } from './prom-histogram.js';
import { percentile } from './stats.js';
import { waitFor } from '../support/cli.js';
import { WEBHOOK_PORT, caBundlePublished } from '../e2e/kubernetes-support.js';
import { Agent, request } from 'node:https';

const NS = 'hookbench';
const CONCURRENT = 50;
const METRIC = 'apiserver_admission_webhook_admission_duration_seconds';
const WEBHOOK = 'inject.nanoseg.io';

interface PodAnswer {
  spec?: { containers?: { name: string }[] };
  metadata?: { annotations?: Record<string, string> };
}

const podBody = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS },
  spec: ghostPodSpec(),
});

const injected = (p: PodAnswer) =>
  p.metadata?.annotations?.['nanoseg.io/status'] === 'injected' &&
  (p.spec?.containers ?? []).some((c) => c.name === 'nanoseg-proxy');

async function scrape(api: KubeApi): Promise<Histogram> {
  const a = await api.call('GET', '/metrics');
  if (a.status !== 200) throw new Error(`GET /metrics: HTTP ${a.status}`);
  return readHistogram(a.body, METRIC, { name: WEBHOOK, type: 'admit', operation: 'CREATE' });
}

/** One round: CONCURRENT creations at once; client-side latencies (ms); throws unless every pod was injected. */
async function round(api: KubeApi, r: number): Promise<number[]> {
  const names = Array.from({ length: CONCURRENT }, (_, i) => `hook-${r}-${i}`);
  const ms: number[] = [];
  await eachLimited(names, CONCURRENT, async (name) => {
    const t0 = performance.now();
    const pod = await api.ok<PodAnswer>('POST', `/api/v1/namespaces/${NS}/pods`, podBody(name));
    ms.push(performance.now() - t0);
    if (!injected(pod)) throw new Error(`pod ${NS}/${name} was created without the sidecar`);
  });
  return ms;
}

/**
 * The webhook alone: CONCURRENT AdmissionReviews at once straight to it (the apiserver left out), as the apiserver
 * sends them, over keep-alive connections; client-side latencies (ms). Says how much of the apiserver's figure is
 * the control plane's.
 */
async function direct(agent: Agent, r: number): Promise<number[]> {
  const one = (i: number) =>
    new Promise<number>((resolve, reject) => {
      const body = JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: `direct-${r}-${i}`,
          kind: { group: '', version: 'v1', kind: 'Pod' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          operation: 'CREATE',
          namespace: NS,
          object: podBody(`direct-${r}-${i}`),
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
            if (res.statusCode !== 200 || !patch) reject(new Error(`direct review: HTTP ${res.statusCode}: ${text}`));
            else resolve(ms);
          });
        },
      );
      req.on('error', reject);
      req.setHeader('content-type', 'application/json');
      req.end(body);
    });
  return Promise.all(Array.from({ length: CONCURRENT }, (_, i) => one(i)));
}

export const k8sWebhook: Benchmark = {
  name: 'k8s-webhook',
  description: `(root, test cluster) ${CONCURRENT} concurrent pod creations in a labelled namespace: the apiserver's webhook admission duration`,
  cluster: true,
  async run({ quick, progress }) {
    const cluster = sharedCluster(progress);
    const api = new KubeApi(cluster.kubeconfig, CONCURRENT);
    const cp = new KubeControlPlane(cluster);
    try {
      await cp.start();
      await caBundlePublished((a) => cluster.k(a), 200);
      await createNamespace(api, NS, { 'nanoseg.io/inject': 'enabled' });
      // the apiserver picks the configuration (and its caBundle) up asynchronously: wait for a dry run to be injected
      await waitFor(
        'the webhook to inject a dry-run pod',
        async () => {
          const a = await api.call('POST', `/api/v1/namespaces/${NS}/pods?dryRun=All`, podBody('probe'));
          return a.status === 201 && injected(JSON.parse(a.body) as PodAnswer);
        },
        30_000,
        200,
      );
      const rounds = quick ? 2 : 10;
      await round(api, -1); // warm-up: connections to the apiserver and from it to the webhook, JIT
      const before = await scrape(api);
      const client: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const ms = await round(api, r);
        client.push(...ms);
        progress(`round ${r + 1}/${rounds}: ${CONCURRENT} pods, slowest creation ${Math.max(...ms).toFixed(0)} ms`);
        await new Promise((res) => setTimeout(res, 200));
      }
      const h = histogramDelta(before, await scrape(api));
      // the same load straight at the webhook (its CA is the control plane's own: not verified, loopback only)
      const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENT, rejectUnauthorized: false });
      const alone: number[] = [];
      try {
        await direct(agent, -1);
        for (let r = 0; r < rounds; r++) alone.push(...(await direct(agent, r)));
      } finally {
        agent.destroy();
      }
      if (h.count < rounds * CONCURRENT)
        throw new Error(`the apiserver counted ${h.count} calls of ${WEBHOOK}, expected ${rounds * CONCURRENT}`);
      const p99 = histogramQuantile(h, 0.99);
      const p50 = histogramQuantile(h, 0.5);
      const within = (le: number) => ((h.buckets.find((b) => b.le === le)?.count ?? NaN) / h.count) * 100;
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
        { name: 'webhook admission mean (sum / count)', value: (h.sum / h.count) * 1000, unit: 'ms' },
        { name: 'webhook calls within 5 ms', value: within(0.005), unit: '%' },
        { name: 'webhook calls within 25 ms', value: within(0.025), unit: '%' },
        { name: 'webhook alone p50 (50 reviews at once, no apiserver)', value: percentile(alone, 50), unit: 'ms' },
        { name: 'webhook alone p99 (50 reviews at once, no apiserver)', value: percentile(alone, 99), unit: 'ms' },
        { name: 'pod creation p50 (client, whole request)', value: percentile(client, 50), unit: 'ms' },
        { name: 'pod creation p99 (client, whole request)', value: percentile(client, 99), unit: 'ms' },
      ];
      return metrics;
    } finally {
      await cp.stop();
      // the pods never ran: removed at once, so they weigh on no later benchmark's informers
      await api.call('DELETE', `/api/v1/namespaces/${NS}/pods?gracePeriodSeconds=0`).catch(() => undefined);
      api.close();
    }
  },
};
