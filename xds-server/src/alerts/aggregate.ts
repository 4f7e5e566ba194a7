// Alert aggregation: the first occurrence of a (source, destination, port, verdict[, L7 request template]) goes out
// at once; repeats are counted and go out as one alert per window. Pure logic; time comes from an injected Scheduler.
//
// Per key:
//   first occurrence        → emitted immediately (count = its own count, normally 1); a window [t, t+W) opens.
//   repeats inside a window → folded into one pending alert (time/fields of the first repeat, counts summed).
//   window end              → the pending alert, if any, is emitted and the next window opens at once (a steady
//                             storm yields one alert per W); a window without repeats closes the key, so the next
//                             occurrence is "first" again and goes out immediately.
// Windows run on the scheduler's clock, not on the alerts' own `time` (sidecar clocks may be skewed or replayed).
//
// Memory: at most `maxKeys` keys. A new key beyond that evicts the oldest window (its pending repeats are emitted
// first, so no count is lost — only the dedup state; a later occurrence of it is emitted at once again).
//
// Why not rxjs groupBy/bufferTime: both need rxjs's own scheduler for virtual time and neither expresses "first at
// once, then per window, then forget when quiet" without custom operators; one timer on the injected Scheduler
// (the same seam as xds/push.ts) is simpler and shares the fake clock with the other components' tests.

import { pathTemplate } from '../learn/l7.js';
import type { Alert } from '../model/index.js';
import { REAL_SCHEDULER, type Scheduler } from '../util/scheduler.js';
import type { Logger } from '../util/logger.js';
import { OncePerKind, SILENT } from '../util/logger.js';

export const DEFAULT_WINDOW_MS = 10_000;
export const DEFAULT_MAX_KEYS = 10_000;

export interface AggregatorOptions {
  /** Length of an aggregation window (default 10 s). */
  readonly windowMs?: number;
  /** Keys (source, destination, port, verdict) tracked at once (default 10,000). */
  readonly maxKeys?: number;
  readonly scheduler?: Scheduler;
  readonly logger?: Logger;
}

export interface AggregatorStats {
  /** alerts pushed in */
  readonly received: number;
  /** alerts emitted (immediate + aggregates) */
  readonly emitted: number;
  /** occurrences folded into aggregates instead of being emitted on their own */
  readonly aggregated: number;
  /** keys forgotten because `maxKeys` was reached */
  readonly evicted: number;
  /** keys currently tracked */
  readonly keys: number;
}

interface Window {
  /** scheduler time at which this window closes */
  end: number;
  /** the aggregate of repeats seen in this window, if any */
  pending: Alert | undefined;
}

/** The aggregation key: source service (or ip), destination service (or ip), port, verdict. */
export function alertKey(a: Alert): string {
  const src = a.source.service ?? a.source.ip;
  const dst = a.destination.service ?? a.destination.ip;
  // L7 denials of one edge are told apart by the request's template (bounded: ids collapse to {id})
  const l7 = a.request ? `|${a.request.method} ${pathTemplate(a.request.path)}` : '';
  return `${src}>${dst}:${a.destination.port}|${a.verdict}${l7}`;
}

function occurrences(a: Alert): number {
  return Number.isSafeInteger(a.count) && a.count > 0 ? a.count : 1;
}

export class AlertAggregator {
  /** Insertion order = window end order (windows all have the same length and the clock only moves forward). */
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly sched: Scheduler;
  private readonly warn: OncePerKind;
  private timer: unknown;
  private timerAt = 0;
  private stopped = false;
  private readonly counters = { received: 0, emitted: 0, aggregated: 0, evicted: 0 };

  constructor(
    private readonly onEmit: (alert: Alert) => void,
    opts: AggregatorOptions = {},
  ) {
    this.windowMs = Math.max(1, opts.windowMs ?? DEFAULT_WINDOW_MS);
    this.maxKeys = Math.max(1, opts.maxKeys ?? DEFAULT_MAX_KEYS);
    this.sched = opts.scheduler ?? REAL_SCHEDULER;
    this.warn = new OncePerKind(opts.logger ?? SILENT, 60_000);
  }

  push(alert: Alert): void {
    if (this.stopped) return;
    this.counters.received++;
    const now = this.sched.now();
    const key = alertKey(alert);
    const w = this.windows.get(key);
    if (w !== undefined && now < w.end) {
      const n = occurrences(alert);
      this.counters.aggregated += n;
      w.pending = w.pending === undefined ? { ...alert, count: n } : { ...w.pending, count: w.pending.count + n };
      return;
    }
    if (w !== undefined) {
      // The window is over but its timer has not run yet: do now what the timer would have done.
      this.windows.delete(key);
      if (w.pending !== undefined) {
        const n = occurrences(alert);
        this.counters.aggregated += n;
        this.windows.set(key, { end: now + this.windowMs, pending: { ...alert, count: n } });
        this.emit(w.pending);
        this.arm();
        return;
      }
    }
    while (this.windows.size >= this.maxKeys) {
      const oldest = this.windows.entries().next().value;
      if (oldest === undefined) break;
      this.counters.evicted++;
      this.close(oldest[0], oldest[1]);
    }
    this.windows.set(key, { end: now + this.windowMs, pending: undefined });
    this.emit({ ...alert, count: occurrences(alert) });
    this.arm();
  }

  /** Emits every pending aggregate now. Open windows stay open (later repeats are still aggregated). */
  flush(): void {
    for (const w of this.windows.values()) {
      if (w.pending === undefined) continue;
      const a = w.pending;
      w.pending = undefined;
      this.emit(a);
    }
  }

  /** Emits what is pending, forgets every key and cancels the timer. Later pushes are ignored. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.flush();
    this.stopped = true;
    this.windows.clear();
    this.disarm();
  }

  stats(): AggregatorStats {
    return { ...this.counters, keys: this.windows.size };
  }

  private close(key: string, w: Window): void {
    this.windows.delete(key);
    if (w.pending !== undefined) this.emit(w.pending);
  }

  private emit(a: Alert): void {
    this.counters.emitted++;
    try {
      this.onEmit(a);
    } catch (err) {
      this.warn.warn('emit', { err: String(err) }, 'alert consumer threw; alert passed on anyway', this.sched.now());
    }
  }

  private disarm(): void {
    if (this.timer !== undefined) this.sched.cancel(this.timer);
    this.timer = undefined;
  }

  /** One timer, for the earliest window end. */
  private arm(): void {
    const first = this.windows.values().next().value;
    if (first === undefined || this.stopped) return this.disarm();
    if (this.timer !== undefined && this.timerAt <= first.end) return;
    this.disarm();
    this.timerAt = first.end;
    this.timer = this.sched.schedule(
      () => {
        this.timer = undefined;
        this.tick();
      },
      Math.max(0, first.end - this.sched.now()),
    );
  }

  private tick(): void {
    if (this.stopped) return;
    const now = this.sched.now();
    for (const [key, w] of this.windows) {
      if (w.end > now) break;
      this.windows.delete(key);
      if (w.pending === undefined) continue; // quiet for a whole window: forget; the next one is "first" again
      const a = w.pending;
      // A storm goes on: open the next window now (re-inserted last, which keeps the map in end order).
      this.windows.set(key, { end: now + this.windowMs, pending: undefined });
      this.emit(a);
      if (this.stopped) return;
    }
    this.arm();
  }
}
