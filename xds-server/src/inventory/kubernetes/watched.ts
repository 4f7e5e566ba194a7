// One watched collection of Kubernetes objects: @kubernetes/client-node's ListWatch (list, then watch from the list's
// resourceVersion; a 410 Gone relists) made to survive, the way client-go's reflector does:
//   - a failed list or a broken watch is retried with exponential backoff and jitter (the ListWatch itself stops
//     on any error but 410);
//   - resync: every `resyncMs` a fresh ListWatch lists everything again and, once it has, replaces the old one, so an
//     event lost in transit is repaired and the cache is never empty in between;
//   - `synced` only once a list succeeded; `onChange` after every add, update or delete (the consumer recomputes
//     from the cache: level-triggered, event order never matters);
//   - `slim`: every listed or watched object passes through it before the cache keeps it (slim.ts), so the cache
//     holds only what is read.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ListPromise,
} from '@kubernetes/client-node';

export interface WatchedOptions<T extends KubernetesObject> {
  readonly kubeConfig: KubeConfig;
  /** the API path watched, e.g. /api/v1/pods */
  readonly path: string;
  readonly list: ListPromise<T>;
  readonly fieldSelector?: string;
  readonly onChange: () => void;
  /** every failure (the watcher retries by itself) */
  readonly onError: (err: unknown, path: string) => void;
  readonly resyncMs: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  /** what the cache keeps of each object (default: all of it) */
  readonly slim?: (o: T) => T;
}

/** A Watch whose added, modified and deleted objects pass through `slim` (errors and bookmarks as they are). */
class SlimmingWatch<T extends KubernetesObject> extends Watch {
  constructor(
    config: KubeConfig,
    private readonly slim: (o: T) => T,
  ) {
    super(config);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      (phase, obj, watchObj) => {
        if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, obj, watchObj);
        const slim = this.slim(obj as T);
        callback(phase, slim, { type: phase, object: slim });
      },
      done,
    );
  }
}

export class Watched<T extends KubernetesObject> {
  private current: ListWatch<T> | undefined;
  private readonly watch: Watch;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private syncedOnce = false;
  private readonly syncWaiters: (() => void)[] = [];
  /** the last failure, cleared by the next successful list */
  lastError: unknown;

  private readonly list$: ListPromise<T>;

  constructor(private readonly opts: WatchedOptions<T>) {
    const slim = opts.slim;
    this.watch = slim ? new SlimmingWatch(opts.kubeConfig, slim) : new Watch(opts.kubeConfig);
    this.list$ = slim
      ? async (): Promise<KubernetesListObject<T>> => {
          const l = await opts.list();
          return { ...l, items: l.items.map(slim) };
        }
      : opts.list;
  }

  get path(): string {
    return this.opts.path;
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  /** The cached objects (empty before the first list). */
  list(): readonly T[] {
    return this.current?.list() ?? [];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.current?.get(name, namespace);
  }

  /** Starts listing and watching (in the background; see whenSynced). Idempotent. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const lw = this.make();
    this.current = lw;
    void this.run(lw);
    this.scheduleResync();
  }

  /** Resolves once the first list succeeded. */
  whenSynced(): Promise<void> {
    return this.syncedOnce ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.resyncTimer);
    const lw = this.current;
    if (lw) await lw.stop();
  }

  private make(): ListWatch<T> {
    const o = this.opts;
    const lw = new ListWatch<T>(o.path, this.watch, this.list$, false, undefined, o.fieldSelector);
    const changed = () => {
      if (lw === this.current) o.onChange();
    };
    lw.on('add', changed);
    lw.on('update', changed);
    lw.on('delete', changed);
    lw.on('error', (err: unknown) => {
      if (lw !== this.current || this.stopped) return;
      this.lastError = err;
      o.onError(err, o.path);
      this.retry(lw);
    });
    return lw;
  }

  /** Starts `lw`; true when its list (or resumed watch) came up without an error. */
  private async run(lw: ListWatch<T>): Promise<boolean> {
    const before = this.lastError;
    let failed = false;
    const mark = () => (failed = true);
    lw.on('error', mark);
    try {
      await lw.start();
    } catch (err) {
      // no current cluster in the kubeconfig, or a fetch that threw before the watch could report it
      failed = true;
      this.lastError = err;
      this.opts.onError(err, this.opts.path);
      if (lw === this.current && !this.stopped) this.retry(lw);
    } finally {
      lw.off('error', mark);
    }
    if (failed || this.stopped) return false;
    if (this.lastError === before) this.lastError = undefined;
    this.failures = 0;
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    return true;
  }

  private retry(lw: ListWatch<T>): void {
    clearTimeout(this.retryTimer);
    const { initialMs, maxMs } = this.opts.backoff;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.failures, 20));
    this.failures++;
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      if (lw === this.current && !this.stopped) void this.run(lw);
    }, delay);
    this.retryTimer.unref();
  }

  private scheduleResync(): void {
    clearTimeout(this.resyncTimer);
    if (this.stopped || this.opts.resyncMs <= 0) return;
    this.resyncTimer = setTimeout(() => void this.resync(), this.opts.resyncMs);
    this.resyncTimer.unref();
  }

  /** A full relist by a fresh ListWatch; the old one serves until the new one has listed. */
  private async resync(): Promise<void> {
    const old = this.current;
    if (this.stopped || !old || !this.syncedOnce) return this.scheduleResync();
    const fresh = this.make();
    // the fresh one is not `current` yet: its events and errors are ignored until it has listed
    let failed = false;
    fresh.on('error', () => (failed = true));
    try {
      await fresh.start();
    } catch {
      failed = true;
    }
    if (this.stopped || failed || this.current !== old) {
      await fresh.stop();
    } else {
      this.current = fresh;
      await old.stop();
      this.opts.onChange();
    }
    this.scheduleResync();
  }
}
