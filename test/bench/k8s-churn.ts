// Pod churn on the real test cluster: 1,000 pods (quick: 200) of 50 Deployments (quick: 10), each Deployment behind a
// ClusterIP Service, watched by `nanoseg serve --kubernetes`. Pods are created through the API and bound to `ghost`
// (no kubelet: they never run); their addresses are set through the status subresource, as a kubelet would. Light
// sidecars (eds-watcher.ts: real ADS streams, SotW like the injected Envoys) of a few of the services hold every
// Service's endpoints. Churn at 10 % of the pods a minute: a pod is deleted and a new one of its Deployment created
// and given a fresh address. Measured at the xDS side: from the API write (the delete; the address set) until every
// watcher's EDS lacks the old address, holds the new one. Then pods are added up to 10,000 (quick: 2×) and the
// control plane's memory read from /proc.
import type { Benchmark, Metric } from './types.js';
import { KubeApi, eachLimited } from './k8s-api.js';
import { KubeControlPlane, createNamespace, ghostPodSpec, sharedCluster } from './k8s-cluster.js';
import { EdsWatcher } from './eds-watcher.js';
import { cpuSeconds } from './child.js';
import { percentile } from './stats.js';
import { inventory } from '../e2e/kubernetes-support.js';
import { waitFor } from '../support/cli.js';

const NS = 'churnbench';
const PORT = 8080;
const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Pod {
  readonly name: string;
  readonly service: number;
  readonly ip: string;
}

/** Pod addresses from 10.245.0.0/16 (outside the node's pod subnet): 10.245.<1 + i/250>.<1 + i%250>, never reused. */
function addressOf(i: number): string {
  return `10.245.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

class Mesh {
  private nextIp = 0;
  private nextName = 0;
  readonly uids: string[] = [];
  constructor(
    private readonly api: KubeApi,
    readonly services: number,
  ) {}

  /** Deployments (0 replicas: their ReplicaSet never acts) that own the pods directly, and a Service each. */
  async setUp(): Promise<void> {
    const base = `/apis/apps/v1/namespaces/${NS}/deployments`;
    await eachLimited([...Array(this.services).keys()], 16, async (s) => {
      const d = await this.api.ok<{ metadata: { uid: string } }>('POST', base, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `svc${s}`, namespace: NS },
        spec: {
          replicas: 0,
          selector: { matchLabels: { 'bench-template': `svc${s}` } },
          template: { metadata: { labels: { 'bench-template': `svc${s}` } }, spec: ghostPodSpec() },
        },
      });
      this.uids[s] = d.metadata.uid;
      await this.api.ok('POST', `/api/v1/namespaces/${NS}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `svc${s}`, namespace: NS },
        spec: { selector: { app: `svc${s}` }, ports: [{ port: PORT, targetPort: PORT }] },
      });
    });
  }

  /** A new pod of service s with a fresh address: created, then its address set through the status subresource. */
  /** `beforeAddress` runs between the create and the status write (the change the churn measures). */
  async addPod(s: number, beforeAddress?: (ip: string) => void): Promise<Pod> {
    const name = `svc${s}-${this.nextName++}`;
    const ip = addressOf(this.nextIp++);
    await this.api.ok('POST', `/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: NS,
        labels: { app: `svc${s}` },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: `svc${s}`, uid: this.uids[s], controller: true },
        ],
      },
      spec: ghostPodSpec({ ports: [PORT] }),
    });
    beforeAddress?.(ip);
    await this.setIp(name, ip);
    return { name, service: s, ip };
  }

  setIp(name: string, ip: string) {
    return this.api.ok(
      'PATCH',
      `/api/v1/namespaces/${NS}/pods/${name}/status`,
      { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } },
      'application/merge-patch+json',
    );
  }

  deletePod(name: string) {
    return this.api.ok('DELETE', `/api/v1/namespaces/${NS}/pods/${name}?gracePeriodSeconds=0`);
  }
}

interface Pending {
  readonly ip: string;
  readonly present: boolean;
  readonly t0: number;
  readonly waiting: Set<EdsWatcher>;
  readonly done: (ms: number[]) => void;
  readonly ms: number[];
}

/** Tracks, per watcher, when an address appears in (present) or leaves (absent) its EDS. */
class Tracker {
  private readonly pending = new Set<Pending>();
  constructor(private readonly watchers: readonly EdsWatcher[]) {
    for (const w of watchers)
      w.onEds = (at, addrs) => {
        for (const p of this.pending) {
          if (!p.waiting.has(w) || addrs.has(p.ip) !== p.present) continue;
          p.waiting.delete(w);
          p.ms.push(at - p.t0);
          if (p.waiting.size === 0) {
            this.pending.delete(p);
            p.done(p.ms);
          }
        }
      };
  }

  /** Latencies (ms) of every watcher from t0 until `ip` is (not) in its EDS; missing ones are Infinity. */
  expect(ip: string, present: boolean, t0: number, timeoutMs: number): Promise<number[]> {
    return new Promise((resolve) => {
      const p: Pending = { ip, present, t0, waiting: new Set(this.watchers), ms: [], done: resolve };
      this.pending.add(p);
      setTimeout(() => {
        if (!this.pending.delete(p)) return;
        resolve([...p.ms, ...[...p.waiting].map(() => Infinity)]);
      }, timeoutMs).unref();
    });
  }
}

export const k8sChurn: Benchmark = {
  name: 'k8s-churn',
  description:
    '(root, test cluster) 1,000 pods churning 10 %/min: API write → affected sidecars’ EDS updated; control-plane memory at 10,000 pods',
  cluster: true,
  async run({ quick, progress }) {
    const cluster = sharedCluster(progress);
    const api = new KubeApi(cluster.kubeconfig, 32);
    const cp = new KubeControlPlane(cluster);
    const watchers: EdsWatcher[] = [];
    const podsN = quick ? 200 : 1000;
    const services = quick ? 10 : 50;
    const scaleTo = quick ? 2 * podsN : 10_000;
    // 10 %/min of the pods (1,000: one every 0.6 s); quick: 10 churns 0.5 s apart
    const intervalMs = quick ? 500 : 60_000 / (0.1 * podsN);
    const churns = quick ? 10 : 200;
    try {
      await cp.start();
      await createNamespace(api, NS);
      const mesh = new Mesh(api, services);
      await mesh.setUp();
      const t0 = performance.now();
      const pods: Pod[] = [];
      await eachLimited([...Array(podsN).keys()], 32, async (i) => {
        pods.push(await mesh.addPod(i % services));
      });
      progress(`${podsN} pods created with addresses in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const settled = async (n: number, what: string, timeoutMs: number) =>
        waitFor(
          what,
          async () => {
            const inv = await inventory(cp.server.apiSocket);
            const mine = inv.workloads.filter((w) => w.service.startsWith(`${NS}/`)).length;
            const vips = inv.vips.filter((v) => v.service.startsWith(`${NS}/`)).length;
            return mine === n && vips === services;
          },
          timeoutMs,
          500,
        );
      await settled(podsN, `${podsN} workloads and ${services} VIPs in the inventory`, 120_000);
      progress(`inventory holds them ${((performance.now() - t0) / 1000).toFixed(1)} s after the first create`);

      // the watchers are sidecars of the first few services; their own pods are never churned
      const watcherCount = quick ? 3 : 10;
      const own = new Set<string>();
      for (let s = 0; s < watcherCount; s++) {
        const p = pods.find((x) => x.service === s)!;
        own.add(p.name);
        watchers.push(new EdsWatcher(cp.xdsAddress, `${p.name}.${NS}`, `${NS}/svc${s}`));
      }
      await waitFor(
        'every watcher holding every pod address',
        () => watchers.every((w) => pods.every((p) => w.addresses.has(p.ip))),
        30_000,
        100,
      );
      const tracker = new Tracker(watchers);

      const cpu0 = cpuSeconds(cp.pid);
      const c0 = performance.now();
      const removal: number[] = [];
      const addition: number[] = [];
      const writeMs: number[] = [];
      const inFlight: Promise<void>[] = [];
      let seed = 42; // Park–Miller: the same victims every run
      const rand = (n: number) => ((seed = (seed * 48271) % 2147483647), seed % n);
      for (let k = 0; k < churns; k++) {
        const due = c0 + k * intervalMs;
        await sleep(Math.max(0, due - performance.now()));
        const candidates = pods.filter((p) => !own.has(p.name));
        const victim = candidates[rand(candidates.length)]!;
        pods.splice(pods.indexOf(victim), 1); // not chosen again; its replacement joins once it has settled
        inFlight.push(
          (async () => {
            const tDel = performance.now();
            const gone = tracker.expect(victim.ip, false, tDel, 30_000);
            await mesh.deletePod(victim.name);
            let arrived: Promise<number[]> | undefined;
            const replacement = await mesh.addPod(
              victim.service,
              (ip) => (arrived = tracker.expect(ip, true, performance.now(), 30_000)),
            );
            writeMs.push(performance.now() - tDel);
            removal.push(...(await gone));
            addition.push(...(await arrived!));
            pods.push(replacement);
          })(),
        );
      }
      await Promise.all(inFlight);
      const churnSeconds = (performance.now() - c0) / 1000;
      const churnCpu = ((cpuSeconds(cp.pid) - cpu0) / churnSeconds) * 100;
      const all = [...removal, ...addition];
      const lost = all.filter((x) => !Number.isFinite(x)).length;
      progress(
        `${churns} churns in ${churnSeconds.toFixed(0)} s: p99 ${percentile(all, 99).toFixed(0)} ms over ${all.length} updates, ${lost} never seen`,
      );
      await sleep(2000);
      const atN = cp.memory();

      // memory at scale: add pods up to scaleTo (the watchers stay connected but stop decoding)
      for (const w of watchers) w.decode = false;
      const s0 = performance.now();
      await eachLimited([...Array(scaleTo - podsN).keys()], 32, async (i) => {
        await mesh.addPod(i % services);
      });
      await settled(scaleTo, `${scaleTo} workloads in the inventory`, 300_000);
      const scaleSeconds = (performance.now() - s0) / 1000;
      progress(`${scaleTo} pods in the inventory after ${scaleSeconds.toFixed(0)} s`);
      await sleep(5000);
      const atScale = cp.memory();
      const heapAtScale = await cp.heap();
      await cp.heapSnapshot(`${scaleTo} pods`, progress);

      const metrics: Metric[] = [
        {
          name: 'pod change → every watcher’s EDS p99',
          value: percentile(all, 99),
          unit: 'ms',
          target: { op: '<=', value: 1000 },
          note: `${churns} churns (delete + create + address) of ${podsN} pods, ${watchers.length} watchers, every ${intervalMs.toFixed(0)} ms`,
        },
        { name: 'pod change → EDS p50', value: percentile(all, 50), unit: 'ms' },
        { name: 'pod deleted → address gone p99', value: percentile(removal, 99), unit: 'ms' },
        { name: 'address set → address in p99', value: percentile(addition, 99), unit: 'ms' },
        { name: 'updates never seen (30 s)', value: lost, unit: 'updates', target: { op: '<=', value: 0 } },
        { name: 'API writes per churn p50 (delete, create, status)', value: percentile(writeMs, 50), unit: 'ms' },
        { name: 'control-plane cpu during churn', value: churnCpu, unit: '% core' },
        { name: `control-plane RSS at ${podsN} pods`, value: atN.rss / MB, unit: 'MB' },
        {
          name: `control-plane RSS at ${scaleTo.toLocaleString('en-US')} pods`,
          value: atScale.rss / MB,
          unit: 'MB',
          ...(!quick && { target: { op: '<=', value: 300 } }),
          note: `VmRSS 5 s after the inventory held them all; ${watchers.length} ADS streams connected`,
        },
        { name: 'control-plane peak RSS (VmHWM)', value: atScale.peak / MB, unit: 'MB' },
        {
          name: `control-plane JS heap used at ${scaleTo.toLocaleString('en-US')} pods`,
          value: heapAtScale.used / MB,
          unit: 'MB',
          note: `V8 heap committed ${(heapAtScale.total / MB).toFixed(0)} MB, memory outside it (buffers) ${(heapAtScale.external / MB).toFixed(0)} MB`,
        },
        { name: `${scaleTo - podsN} pods created → in the inventory`, value: scaleSeconds, unit: 's' },
      ];
      return metrics;
    } finally {
      for (const w of watchers) w.close();
      await cp.stop();
      api.close();
    }
  },
};
