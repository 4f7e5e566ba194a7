// Debounced pushes (Istio's debounce idea): bursts of change events become one push; one push in flight at a time.
import type { Logger } from './types.js';
import { REAL_SCHEDULER, type Scheduler } from '../util/scheduler.js';
import { SILENT } from './types.js';
import { mergeLinks, type Span } from '../util/tracing.js';

export interface PushRequest {
  /** Regenerate everything (true) or only what the reasons touch. */
  readonly full: boolean;
  /** Nodes to push to; absent means every node. */
  readonly nodes?: ReadonlySet<string>;
  readonly reasons: readonly string[];
  /** traced: the spans of the changes behind it (API requests, ingest batches, transitions), at most MAX_LINKS */
  readonly links?: readonly Span[];
}

/**
 * Merging widens: full if either is, every node if either means every node, reasons (and span links) combined
 * without repeats.
 */
export function mergePush(a: PushRequest | undefined, b: PushRequest): PushRequest {
  if (!a) return b;
  const reasons = [...new Set([...a.reasons, ...b.reasons])];
  const full = a.full || b.full;
  const links = mergeLinks(a.links, b.links);
  const traced = links && { links };
  if (!a.nodes || !b.nodes) return { full, reasons, ...traced };
  return { full, nodes: new Set([...a.nodes, ...b.nodes]), reasons, ...traced };
}

export interface DebouncerOptions {
  /** Push once no event arrived for this long… */
  readonly debounceMs: number;
  /** …but never later than this after the first event of a burst. */
  readonly maxDelayMs: number;
  readonly scheduler?: Scheduler;
  readonly logger?: Logger;
}

export class PushDebouncer {
  private pending: PushRequest | undefined;
  private firstAt = 0;
  private lastAt = 0;
  private timer: unknown;
  private inFlight = false;
  private stopped = false;
  private readonly sched: Scheduler;
  private readonly log: Logger;
  /** Events received and pushes made, for metrics and tests. */
  readonly stats = { events: 0, pushes: 0 };

  constructor(
    private readonly push: (req: PushRequest) => void | Promise<void>,
    private readonly opts: DebouncerOptions,
  ) {
    this.sched = opts.scheduler ?? REAL_SCHEDULER;
    this.log = opts.logger ?? SILENT;
  }

  enqueue(req: PushRequest): void {
    if (this.stopped) return;
    this.stats.events++;
    const now = this.sched.now();
    if (!this.pending) this.firstAt = now;
    this.lastAt = now;
    this.pending = mergePush(this.pending, req);
    if (this.timer === undefined && !this.inFlight) this.arm(this.opts.debounceMs);
  }

  /** Drops anything pending; a push in flight finishes. Idempotent. */
  stop(): void {
    this.stopped = true;
    this.pending = undefined;
    if (this.timer !== undefined) this.sched.cancel(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.sched.schedule(() => {
      this.timer = undefined;
      this.check();
    }, ms);
  }

  private check(): void {
    if (!this.pending || this.inFlight || this.stopped) return;
    const due = Math.min(this.lastAt + this.opts.debounceMs, this.firstAt + this.opts.maxDelayMs);
    const wait = due - this.sched.now();
    if (wait > 0) return this.arm(wait);
    const req = this.pending;
    this.pending = undefined;
    this.inFlight = true;
    this.stats.pushes++;
    const done = (): void => {
      this.inFlight = false;
      this.check();
    };
    const fail = (err: unknown): void => {
      this.log.error({ err: String(err), reasons: req.reasons }, 'push failed');
      done();
    };
    try {
      const r = this.push(req);
      if (r instanceof Promise) r.then(done, fail);
      else done();
    } catch (err) {
      fail(err);
    }
  }
}
