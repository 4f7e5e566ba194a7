// The in-memory alert log the API lists and streams (`nanoseg alerts [--follow]`): a bounded ring, oldest first out.
import type { Alert } from '../model/index.js';
import type { Logger } from '../util/logger.js';
import { OncePerKind, SILENT } from '../util/logger.js';
import { LOG_EVERY_MS } from './sink-util.js';

export const DEFAULT_ALERT_LOG_CAPACITY = 10_000;

export interface AlertLogOptions {
  /** Alerts kept; the oldest is overwritten when full (default 10,000). */
  readonly capacity?: number;
  /** Clock for alerts whose `time` does not parse (default Date.now). */
  readonly now?: () => number;
  readonly logger?: Logger;
}

export interface AlertLogStats {
  readonly stored: number;
  readonly appended: number;
  /** alerts pushed out of the ring by newer ones */
  readonly overwritten: number;
  readonly subscribers: number;
}

interface Stored {
  readonly at: number;
  readonly alert: Alert;
}

/**
 * The recent alerts, in memory: `list(since)` answers `nanoseg alerts --since DUR`, `subscribe` feeds
 * `--follow` streams. Subscribers are called synchronously, in append order; one that throws is logged, not removed.
 */
export class AlertLog {
  private readonly ring: (Stored | undefined)[];
  private next = 0;
  private size = 0;
  private appended = 0;
  private readonly subscribers = new Set<(a: Alert) => void>();
  private readonly now: () => number;
  private readonly warn: OncePerKind;

  constructor(opts: AlertLogOptions = {}) {
    const cap = Math.max(1, Math.floor(opts.capacity ?? DEFAULT_ALERT_LOG_CAPACITY));
    this.ring = new Array<Stored | undefined>(cap);
    this.now = opts.now ?? Date.now;
    this.warn = new OncePerKind(opts.logger ?? SILENT, LOG_EVERY_MS);
  }

  append(alert: Alert): void {
    const parsed = Date.parse(alert.time);
    this.ring[this.next] = { at: Number.isFinite(parsed) ? parsed : this.now(), alert };
    this.next = (this.next + 1) % this.ring.length;
    if (this.size < this.ring.length) this.size++;
    this.appended++;
    for (const fn of [...this.subscribers]) {
      try {
        fn(alert);
      } catch (err) {
        this.warn.warn('subscriber', { err: String(err) }, 'alert subscriber threw', this.now());
      }
    }
  }

  /**
   * Stored alerts whose `time` is at or after `sinceMs` (ms since epoch; 0 = all), oldest appended first.
   * Aggregates carry the time of their first occurrence, so the result is in append order, not sorted by time.
   */
  list(sinceMs = 0): Alert[] {
    const out: Alert[] = [];
    const cap = this.ring.length;
    for (let i = 0; i < this.size; i++) {
      const s = this.ring[(this.next - this.size + i + cap) % cap];
      if (s !== undefined && s.at >= sinceMs) out.push(s.alert);
    }
    return out;
  }

  /** Calls `fn` with every alert appended from now on; returns the unsubscribe function (idempotent). */
  subscribe(fn: (alert: Alert) => void): () => void {
    const wrapper = (a: Alert): void => fn(a);
    this.subscribers.add(wrapper);
    return () => {
      this.subscribers.delete(wrapper);
    };
  }

  stats(): AlertLogStats {
    return {
      stored: this.size,
      appended: this.appended,
      overwritten: this.appended - this.size,
      subscribers: this.subscribers.size,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JsonlAuditFile

/**
 * When written lines are forced to disk (fdatasync):
 *  - 'audit' (default): after a batch that holds an audit event. A person's change is on disk once `flush()`
 *    resolves; alert-only batches are in the page cache once written (they survive a crash of this process, not of
 *    the machine).
 *  - 'always': after every batch.
 *  - 'never': left to the OS.
 */
