// The real one-node test cluster (test/support/cluster.ts, scripts/k8s/) for the cluster benchmarks, started once
// per run by the first of them and torn down at the end of the run (closeSharedCluster, from run.ts) or on Ctrl-C;
// and `nanoseg serve --kubernetes` against it, as test/e2e/kubernetes.test.ts runs it, a fresh one per benchmark.
// Pods that must not run are bound to the node object `ghost`, which has no kubelet: they are created through the
// API, get their address through the status subresource, and never start a container.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ServerProcess, isRoot, tempDir, waitFor, BIN } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import { GHOST_NODE, clusterServeArgs, webhookConfigurations } from '../e2e/kubernetes-support.js';

/** plaintext ADS on loopback, for the benchmarks' own watchers on the host (sidecars use the TLS listener) */
const WATCHER_XDS_PORT = 25010;
/** the control plane's Prometheus endpoint, for its heap figures */
const METRICS_PORT = 25011;
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { KubeApi } from './k8s-api.js';
import { envNodeFlags } from './child.js';
import { shebangFlags } from './trees.js';

export const GHOST = 'ghost';

let shared: TestCluster | undefined;
let handlers = false;

function onSignal(sig: NodeJS.Signals): void {
  try {
    shared?.stop();
  } finally {
    process.exit(sig === 'SIGINT' ? 130 : 143);
  }
}

/** The cluster of this run (started on first use: ≈ 15 s warm), with the CRD, the webhook configuration and `ghost`. */
export function sharedCluster(progress: (m: string) => void): TestCluster {
  if (shared) return shared;
  if (!isRoot) throw new Error('the cluster benchmarks need root (the test cluster: cgroups, network namespaces)');
  if (!handlers) {
    handlers = true;
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const t0 = performance.now();
  const c = TestCluster.start();
  shared = c;
  c.k(['apply', '-f', '-'], webhookConfigurations);
  c.k(['apply', '-f', join(projectRoot(), 'manifests', 'base', 'crd-nanosegment.yaml')]);
  c.k(['apply', '-f', '-'], GHOST_NODE);
  progress(`test cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return c;
}

export function closeSharedCluster(): void {
  const c = shared;
  shared = undefined;
  c?.stop();
}

/**
 * The control plane's node flags: those from the environment (envNodeFlags: BENCH_NODE_FLAGS, BENCH_CPU_PROF), and
 * with BENCH_HEAP_SNAPSHOT=<dir> what lets heapSnapshot() ask for a heap snapshot (SIGUSR2).
 */
function diagnosticFlags(): string[] {
  const heap = process.env.BENCH_HEAP_SNAPSHOT;
  return [...envNodeFlags(), ...(heap ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heap}`] : [])];
}

/** `nanoseg serve --kubernetes` on the cluster (the shipped bin with its node flags), its API and its process. */
export class KubeControlPlane {
  readonly server: ServerProcess;
  /** where the host's light ADS clients connect (plaintext, loopback) */
  readonly xdsAddress: string;
  private readonly tmp = tempDir('nanoseg-k8s-bench-');

  constructor(cluster: TestCluster) {
    this.xdsAddress = `127.0.0.1:${WATCHER_XDS_PORT}`;
    this.server = new ServerProcess(
      this.tmp.dir,
      [
        ...clusterServeArgs(cluster),
        // the benchmarks' own ADS clients on the host
        '--xds-address',
        this.xdsAddress,
        '--log-level',
        'warn',
        '--metrics-address',
        `127.0.0.1:${METRICS_PORT}`,
      ],
      { file: process.execPath, args: [...shebangFlags(BIN), ...diagnosticFlags(), BIN] },
    );
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  get pid(): number {
    const pid = this.server.proc?.pid;
    if (pid === undefined) throw new Error('the control plane is not running');
    return pid;
  }

  /** With BENCH_HEAP_SNAPSHOT=<dir>: the control plane writes a heap snapshot there (what `what` names it by). */
  async heapSnapshot(what: string, progress: (msg: string) => void): Promise<void> {
    const dir = process.env.BENCH_HEAP_SNAPSHOT;
    if (!dir) return;
    const before = new Set(readdirSync(dir));
    process.kill(this.pid, 'SIGUSR2');
    // the snapshot is written synchronously: done once its file is there and stops growing
    let last = -1;
    await waitFor(
      `a heap snapshot in ${dir}`,
      () => {
        const f = readdirSync(dir).find((x) => !before.has(x) && x.endsWith('.heapsnapshot'));
        const size = f === undefined ? -1 : statSync(join(dir, f)).size;
        const done = size > 0 && size === last;
        last = size;
        return done;
      },
      120_000,
      1000,
    );
    progress(`heap snapshot (${what}) in ${dir}`);
  }

  /** The control plane's V8 heap (used and committed) and memory outside it (buffers), in bytes, from /metrics. */
  async heap(): Promise<{ used: number; total: number; external: number }> {
    const res = await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`);
    const text = await res.text();
    const gauge = (name: string) => {
      const m = new RegExp(`^nanoseg_process_${name} (\\S+)$`, 'm').exec(text);
      if (!m) throw new Error(`the control plane's /metrics has no nanoseg_process_${name}`);
      return Number(m[1]);
    };
    return {
      used: gauge('nodejs_heap_size_used_bytes'),
      total: gauge('nodejs_heap_size_total_bytes'),
      external: gauge('nodejs_external_memory_bytes'),
    };
  }

  /** VmRSS and VmHWM (peak) of the control plane, in bytes. */
  memory(): { rss: number; peak: number } {
    const s = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  }

  async stop(): Promise<void> {
    await this.server.stop();
    this.tmp.remove();
  }
}

/** A namespace, once its default ServiceAccount exists (pods cannot be created before). */
export async function createNamespace(api: KubeApi, name: string, labels: Record<string, string> = {}) {
  await api.ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  await waitFor(
    `the default ServiceAccount in ${name}`,
    async () => (await api.call('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`)).status === 200,
    30_000,
    100,
  );
}

/** A pod bound to `ghost` (it never runs), tolerating the taints the node controller puts on a node without kubelet. */
export function ghostPodSpec(extra: { ports?: number[] } = {}): Record<string, unknown> {
  return {
    nodeName: GHOST,
    tolerations: [{ operator: 'Exists' }],
    terminationGracePeriodSeconds: 0,
    containers: [
      {
        name: 'app',
        image: 'local/busybox:1',
        imagePullPolicy: 'Never',
        ...(extra.ports && { ports: extra.ports.map((containerPort) => ({ containerPort })) }),
      },
    ],
  };
}
