// The cluster as an InventorySource (`nanoseg serve --kubernetes`): informers on Pods, ReplicaSets and Jobs (the owner
// chain), Services, EndpointSlices and Namespaces, and the pure mapping (mapping.ts) over what their caches hold.
//   - Level-triggered: any change schedules one recomputation of the whole inventory from the caches (bursts merged
//     by a short debounce); an inventory equal to the last one is not emitted. The debounce stretches to 3× what the
//     last recomputation cost, with what it set off downstream (store, identity index), up to 1 s: in a churning
//     cluster of 10,000 pods that work stays under a quarter of a core instead of running back to back. Event order
//     never matters, and pod IP churn is the mapping's business (an address belongs to the live pod holding it).
//   - Nothing is emitted before every informer has listed once: a partial view would drop workloads (the store
//     still has the last inventory from before a restart).
//   - The caches keep only the fields read (slim.ts): the whole objects of a large cluster do not fit in memory.
//   - Lists and watches are retried with backoff and relisted periodically (watched.ts); status() says what fails.
//   - The workloads (Deployments, StatefulSets, DaemonSets, CronJobs) are watched for the mode annotation: `modes$`
//     emits the pinned modes (modes.ts) whenever they change.
//   - start() rejects with a message naming the apiserver and the failure when the first lists do not succeed in
//     time (no kubeconfig, unreachable apiserver, missing RBAC), so `serve` does not run blind.
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
} from '@kubernetes/client-node';
import { ReplaySubject, type Observable } from 'rxjs';
import type { Inventory } from '../../model/index.js';
import type { Logger } from '../../util/logger.js';
import { withDeadline } from '../../util/deadline.js';
import type { InventorySource, InventorySourceStatus, InventoryUpdate } from '../source.js';
import { inventoryFromCluster } from './mapping.js';
import type { EndpointSlice, KubeService, Namespace, ObjectMeta, OwnedObject, Pod } from './types.js';
import { slimmers, type Slimmer } from './slim.js';
import { Watched } from './watched.js';
import { describeKubeError } from './errors.js';
import { modeAnnotations, type ModeAnnotations } from './modes.js';

export const KUBERNETES_SOURCE = 'kubernetes';

export interface KubernetesInventoryOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** quiet time after a change before the inventory is recomputed, at least (default 50 ms; see the header) */
  readonly debounceMs?: number;
  /** full relist period of every informer (default 10 min; 0 = never) */
  readonly resyncMs?: number;
  /** retry backoff of a failed list or watch (default 500 ms doubling to 30 s, with jitter) */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** how long start() waits for the first lists (default 10 s) */
  readonly syncTimeoutMs?: number;
}

type AnyObject = KubernetesObject;

/** the longest the debounce stretches to (a churning 10,000-pod cluster) */
const MAX_DEBOUNCE_MS = 1000;

export class KubernetesInventorySource implements InventorySource {
  readonly name = KUBERNETES_SOURCE;
  readonly updates$: Observable<InventoryUpdate>;
  /** the modes the workloads' `nanoseg.io/mode` annotations pin, whenever they change (after the first sync) */
  readonly modes$: Observable<ModeAnnotations>;
  private readonly subject = new ReplaySubject<InventoryUpdate>(1);
  private readonly modesSubject = new ReplaySubject<ModeAnnotations>(1);
  private readonly workloads: readonly { readonly kind: string; readonly watched: Watched<AnyObject> }[];
  private lastModesJson: string | undefined;
  private readonly log: Logger;
  private readonly pods: Watched<AnyObject>;
  private readonly replicaSets: Watched<AnyObject>;
  private readonly jobs: Watched<AnyObject>;
  private readonly services: Watched<AnyObject>;
  private readonly slices: Watched<AnyObject>;
  private readonly namespaces: Watched<AnyObject>;
  private readonly all: readonly Watched<AnyObject>[];
  private readonly core: CoreV1Api;
  private readonly batch: BatchV1Api;
  private timer: NodeJS.Timeout | undefined;
  private lastJson: string | undefined;
  private loadedAt: number | undefined;
  private starting: Promise<void> | undefined;
  private stopped = false;
  private readonly errorsLogged = new Map<string, number>();
  /** what the last recomputation cost, with what its update set off (ms) */
  private lastCostMs = 0;

  constructor(private readonly opts: KubernetesInventoryOptions) {
    this.log = opts.logger;
    this.updates$ = this.subject.asObservable();
    this.modes$ = this.modesSubject.asObservable();
    const kc = opts.kubeConfig;
    this.core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const batch = (this.batch = kc.makeApiClient(BatchV1Api));
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const w = (path: string, list: () => Promise<unknown>, slim: Slimmer = slimmers.metaOnly) =>
      new Watched<AnyObject>({
        kubeConfig: kc,
        path,
        list: list as ListPromise<AnyObject>,
        slim,
        onChange: () => this.changed(),
        onError: (err, p) => this.failed(err, p),
        resyncMs: opts.resyncMs ?? 10 * 60_000,
        backoff: opts.backoff ?? { initialMs: 500, maxMs: 30_000 },
      });
    this.pods = w('/api/v1/pods', () => this.core.listPodForAllNamespaces(), slimmers.pod);
    this.replicaSets = w('/apis/apps/v1/replicasets', () => apps.listReplicaSetForAllNamespaces());
    this.jobs = w('/apis/batch/v1/jobs', () => batch.listJobForAllNamespaces());
    this.services = w('/api/v1/services', () => this.core.listServiceForAllNamespaces(), slimmers.service);
    this.slices = w(
      '/apis/discovery.k8s.io/v1/endpointslices',
      () => discovery.listEndpointSliceForAllNamespaces(),
      slimmers.endpointSlice,
    );
    this.namespaces = w('/api/v1/namespaces', () => this.core.listNamespace());
    this.workloads = [
      { kind: 'Deployment', watched: w('/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces()) },
      { kind: 'StatefulSet', watched: w('/apis/apps/v1/statefulsets', () => apps.listStatefulSetForAllNamespaces()) },
      { kind: 'DaemonSet', watched: w('/apis/apps/v1/daemonsets', () => apps.listDaemonSetForAllNamespaces()) },
      { kind: 'CronJob', watched: w('/apis/batch/v1/cronjobs', () => batch.listCronJobForAllNamespaces()) },
    ];
    this.all = [
      this.pods,
      this.replicaSets,
      this.jobs,
      this.services,
      this.slices,
      this.namespaces,
      ...this.workloads.map((x) => x.watched),
    ];
  }

  /** The apiserver this source talks to. */
  get server(): string {
    return this.opts.kubeConfig.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
  }

  get synced(): boolean {
    return this.all.every((x) => x.synced);
  }

  status(): InventorySourceStatus {
    const failing = this.all.filter((x) => x.lastError !== undefined);
    const error = failing.length
      ? failing.map((x) => `${x.path}: ${describeKubeError(x.lastError)}`).join('; ')
      : this.synced
        ? undefined
        : 'not synced yet';
    return {
      server: this.server,
      ...(this.loadedAt !== undefined ? { loadedAt: this.loadedAt } : {}),
      ...(error !== undefined ? { error } : {}),
    };
  }

  /**
   * A namespace as the injector needs it. The cache first; when the cache does not have it or has it without the
   * injection label (a namespace labelled a moment ago, which the apiserver already matched), the apiserver itself.
   */
  async namespace(name: string, labelled: (ns: Namespace) => boolean): Promise<Namespace | undefined> {
    const cached = this.namespaces.get(name) as unknown as Namespace | undefined;
    if (cached && labelled(cached)) return cached;
    try {
      return (await this.core.readNamespace({ name })) as unknown as Namespace;
    } catch (err) {
      this.log.warn({ namespace: name, err: describeKubeError(err) }, 'cannot read a namespace');
      return cached;
    }
  }

  /**
   * A pod's owning ReplicaSet or Job as the injector needs it: the cache first; a Job the cache has not seen yet (the
   * Job controller creates the pods right after the Job) from the apiserver, since a Job made from a CronJob by hand
   * (`kubectl create job --from=cronjob/...`) cannot be told from its name. A ReplicaSet is never fetched: its
   * Deployment is inferred exactly from the pod's pod-template-hash.
   */
  async owner(kind: string, namespace: string, name: string): Promise<OwnedObject | undefined> {
    const cache = kind === 'Job' ? this.jobs : kind === 'ReplicaSet' ? this.replicaSets : undefined;
    const cached = cache?.get(name, namespace) as unknown as OwnedObject | undefined;
    if (cached || kind !== 'Job') return cached;
    try {
      return (await this.batch.readNamespacedJob({ name, namespace })) as unknown as OwnedObject;
    } catch (err) {
      this.log.warn(
        { namespace, job: name, err: describeKubeError(err) },
        "cannot read a Job: its pod's workload is inferred from the Job's name",
      );
      return undefined;
    }
  }

  start(): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('the Kubernetes inventory source is stopped'));
    this.starting ??= this.firstSync().catch(async (e: unknown) => {
      this.starting = undefined;
      await Promise.all(this.all.map((x) => x.stop()));
      throw e;
    });
    return this.starting;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.all.map((x) => x.stop()));
    this.subject.complete();
    this.modesSubject.complete();
  }

  private async firstSync(): Promise<void> {
    if (!this.opts.kubeConfig.getCurrentCluster()) {
      throw new Error('kubernetes: the kubeconfig names no current cluster (set --kubeconfig or KUBECONFIG)');
    }
    for (const x of this.all) x.start();
    const limit = this.opts.syncTimeoutMs ?? 10_000;
    const r = await withDeadline(Promise.all(this.all.map((x) => x.whenSynced())), limit);
    if (!r.done) {
      // the first failing list's reason (an unreachable apiserver fails them all alike; status() lists each)
      const failing = this.all.filter((x) => !x.synced);
      const first = failing[0]!;
      const more = failing.length > 1 ? ` (and ${failing.length - 1} more lists)` : '';
      const why = first.lastError !== undefined ? describeKubeError(first.lastError) : 'no answer';
      throw new Error(
        `kubernetes: cannot list the cluster's objects from ${this.server} within ${limit} ms — ` +
          `${first.path}: ${why}${more}`,
      );
    }
    this.recompute();
    this.log.info({ server: this.server }, 'kubernetes inventory synced');
  }

  private changed(): void {
    if (this.stopped || this.timer !== undefined) return;
    const delay = Math.max(this.opts.debounceMs ?? 50, Math.min(MAX_DEBOUNCE_MS, 3 * this.lastCostMs));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const t0 = performance.now();
      this.recompute();
      this.lastCostMs = performance.now() - t0;
    }, delay);
    this.timer.unref();
  }

  private recompute(): void {
    if (this.stopped || !this.synced) return;
    const inventory: Inventory = inventoryFromCluster({
      pods: this.pods.list() as unknown as readonly Pod[],
      replicaSets: this.replicaSets.list() as unknown as readonly OwnedObject[],
      jobs: this.jobs.list() as unknown as readonly OwnedObject[],
      services: this.services.list() as unknown as readonly KubeService[],
      endpointSlices: this.slices.list() as unknown as readonly EndpointSlice[],
    });
    const json = JSON.stringify(inventory);
    this.loadedAt = Date.now();
    if (json !== this.lastJson) {
      this.lastJson = json;
      this.subject.next({ source: KUBERNETES_SOURCE, inventory });
    }
    const modes = modeAnnotations(
      this.workloads.flatMap(({ kind, watched }) =>
        (watched.list() as unknown as readonly { metadata?: ObjectMeta }[]).map((o) => ({ kind, ...o })),
      ),
    );
    const modesJson = JSON.stringify([[...modes.pins], modes.invalid]);
    if (modesJson !== this.lastModesJson) {
      this.lastModesJson = modesJson;
      for (const i of modes.invalid) {
        this.log.warn(i, `${i.on}: annotation nanoseg.io/mode="${i.value}" is not learn, monitor or enforce; ignored`);
      }
      this.modesSubject.next(modes);
    }
  }

  /** Logs a failing list or watch, at most once a minute per path (the watcher retries by itself). */
  private failed(err: unknown, path: string): void {
    const now = Date.now();
    if ((this.errorsLogged.get(path) ?? 0) > now - 60_000) return;
    this.errorsLogged.set(path, now);
    this.log.warn({ path, server: this.server, err: describeKubeError(err) }, 'kubernetes watch failed; retrying');
  }
}
