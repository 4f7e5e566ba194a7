// Where alerts (and audit events) go: an in-memory log for the API, a JSONL file, a webhook.
// None of them throws at its caller: failures are counted (stats()) and logged at most once a minute per kind.

import { mkdir, open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Alert, AuditEvent, ValidationResult } from '../model/index.js';
import { REAL_SCHEDULER, type Scheduler } from '../util/scheduler.js';
import type { Logger } from '../util/logger.js';
import { OncePerKind, SILENT } from '../util/logger.js';

const LOG_EVERY_MS = 60_000;

function errCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown';
}

// ---------------------------------------------------------------------------------------------------------------
// AlertLog

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
export type FsyncPolicy = 'audit' | 'always' | 'never';

export interface JsonlAuditFileOptions {
  readonly fsync?: FsyncPolicy;
  /** Lines waiting to be written; beyond it the oldest are dropped and counted (default 10,000). */
  readonly maxQueuedLines?: number;
  /** Lines per write (default 1,000). */
  readonly batchLines?: number;
  /** Wait before retrying after a failed write (default 1 s). */
  readonly retryMs?: number;
  /** File mode when created (default 0o600). */
  readonly mode?: number;
  readonly scheduler?: Scheduler;
  readonly logger?: Logger;
}

export interface JsonlAuditFileStats {
  /** lines written */
  readonly written: number;
  /** failed writes/opens/serialisations */
  readonly errors: number;
  /** lines given up on (queue full, unserialisable, still queued at stop) */
  readonly dropped: number;
  readonly queued: number;
  /** times the file was opened again because it had been removed or rotated */
  readonly reopens: number;
}

interface Line {
  readonly text: string;
  readonly audit: boolean;
}

/**
 * Appends one JSON object per line — `{"type":"alert",...}` or `{"type":"audit",...}` — to a file (e.g.
 * `<stateDir>/audit.jsonl`). Writes are queued and batched (one write in flight, through libuv's thread pool, so
 * the event loop never waits on the disk); the file is opened with O_APPEND|O_CREAT. Before each batch the path
 * is compared with the open file (device + inode): when it was removed or rotated away, the file is opened again.
 * Failed writes are retried after `retryMs`; the queue is bounded.
 */
export class JsonlAuditFile {
  private queue: Line[] = [];
  private fh: FileHandle | undefined;
  private ident: { dev: number; ino: number } | undefined;
  private writing = false;
  private kicked = false;
  private retryTimer: unknown;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private readonly counters = { written: 0, errors: 0, dropped: 0, reopens: 0 };
  private readonly fsync: FsyncPolicy;
  private readonly maxQueued: number;
  private readonly batchLines: number;
  private readonly retryMs: number;
  private readonly mode: number;
  private readonly sched: Scheduler;
  private readonly warn: OncePerKind;

  constructor(
    readonly path: string,
    opts: JsonlAuditFileOptions = {},
  ) {
    this.fsync = opts.fsync ?? 'audit';
    this.maxQueued = Math.max(1, opts.maxQueuedLines ?? 10_000);
    this.batchLines = Math.max(1, opts.batchLines ?? 1_000);
    this.retryMs = Math.max(1, opts.retryMs ?? 1_000);
    this.mode = opts.mode ?? 0o600;
    this.sched = opts.scheduler ?? REAL_SCHEDULER;
    this.warn = new OncePerKind(opts.logger ?? SILENT, LOG_EVERY_MS);
  }

  writeAlert(alert: Alert): void {
    this.enqueue({ type: 'alert', ...alert }, false);
  }

  writeAudit(event: AuditEvent): void {
    this.enqueue({ type: 'audit', ...event }, true);
  }

  /** Resolves once everything queued so far was written, or the current attempt failed (see stats().errors). */
  flush(): Promise<void> {
    if (this.queue.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.kick(true);
    });
  }

  /** Writes what is queued (one attempt), then closes the file. Later writes are dropped. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.cancelRetry();
      await this.flush();
      this.counters.dropped += this.queue.length;
      this.queue = [];
      await this.close();
    })();
    return this.stopping;
  }

  stats(): JsonlAuditFileStats {
    return { ...this.counters, queued: this.queue.length };
  }

  private enqueue(obj: object, audit: boolean): void {
    if (this.stopped) {
      this.counters.dropped++;
      return;
    }
    let text: string;
    try {
      text = JSON.stringify(obj) + '\n';
    } catch (err) {
      this.counters.errors++;
      this.counters.dropped++;
      this.warn.warn(
        'serialize',
        { err: String(err) },
        'audit file: event not serialisable, dropped',
        this.sched.now(),
      );
      return;
    }
    this.queue.push({ text, audit });
    this.trim();
    this.kick(false);
  }

  private trim(): void {
    const over = this.queue.length - this.maxQueued;
    if (over <= 0) return;
    this.queue.splice(0, over);
    this.counters.dropped += over;
    this.warn.warn('queue-full', { path: this.path }, 'audit file: queue full, oldest lines dropped', this.sched.now());
  }

  /** Starts a drain on the next turn (so a burst of writes becomes one batch). `force` skips a pending retry wait. */
  private kick(force: boolean): void {
    if (force) this.cancelRetry();
    if (this.writing || this.kicked || this.retryTimer !== undefined) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      void this.drain();
    });
  }

  private cancelRetry(): void {
    if (this.retryTimer !== undefined) this.sched.cancel(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    let failed = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchLines);
      try {
        const fh = await this.ensureOpen();
        const buf = Buffer.from(batch.map((l) => l.text).join(''), 'utf8');
        let off = 0;
        while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
        this.counters.written += batch.length;
        if (this.fsync === 'always' || (this.fsync === 'audit' && batch.some((l) => l.audit))) await fh.datasync();
      } catch (err) {
        // A failed write may have written part of the batch; retrying it whole can repeat lines, never lose them.
        failed = true;
        this.counters.errors++;
        this.warn.warn(
          `write:${errCode(err)}`,
          { path: this.path, err: String(err) },
          'audit file: write failed',
          this.sched.now(),
        );
        await this.close();
        this.queue.unshift(...batch);
        this.trim();
        break;
      }
    }
    this.writing = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
    if (failed && !this.stopped) {
      this.retryTimer = this.sched.schedule(() => {
        this.retryTimer = undefined;
        this.kick(false);
      }, this.retryMs);
    } else if (this.queue.length > 0) {
      this.kick(false);
    }
  }

  private async ensureOpen(): Promise<FileHandle> {
    if (this.fh !== undefined && this.ident !== undefined) {
      let same = false;
      try {
        const st = await stat(this.path);
        same = st.dev === this.ident.dev && st.ino === this.ident.ino;
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
      }
      if (same) return this.fh;
      await this.close();
      this.counters.reopens++;
    }
    await mkdir(dirname(this.path), { recursive: true });
    const fh = await open(this.path, 'a', this.mode);
    try {
      const st = await fh.stat();
      this.ident = { dev: st.dev, ino: st.ino };
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    this.fh = fh;
    return fh;
  }

  private async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    this.ident = undefined;
    if (fh !== undefined) await fh.close().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------------------
// WebhookSink

export interface WebhookSinkOptions {
  /** Alerts waiting (not counting the one in flight); when full the OLDEST waiting one is dropped (default 1,000). */
  readonly maxQueue?: number;
  /** Attempts per alert, the first included (default 8). */
  readonly maxAttempts?: number;
  /** First retry delay; doubles per attempt up to `maxDelayMs` (defaults 500 ms, 30 s). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
  /** Extra request headers (e.g. authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly scheduler?: Scheduler;
  /** [0, 1) source for the jitter (default Math.random). */
  readonly random?: () => number;
  readonly logger?: Logger;
}

export interface WebhookStats {
  /** alerts the receiver accepted (2xx) */
  readonly sent: number;
  /** alerts given up on after trying: a 4xx other than 429 (not retried), or `maxAttempts` failed attempts */
  readonly failed: number;
  /** alerts discarded untried: the queue was full (oldest dropped), or still queued / in flight at stop() */
  readonly dropped: number;
  /** alerts waiting (excluding the one in flight) */
  readonly queued: number;
  /** attempts beyond the first */
  readonly retries: number;
}

/** A webhook URL must be absolute http(s). */
export function parseWebhookUrl(s: string): ValidationResult<URL> {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return { valid: false, errors: [{ path: 'webhook', message: `not a URL: ${JSON.stringify(s)}` }] };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return { valid: false, errors: [{ path: 'webhook', message: `scheme must be http or https, not ${u.protocol}` }] };
  }
  return { valid: true, result: u };
}

type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'retry'; readonly why: string; readonly afterMs?: number }
  | { readonly kind: 'reject'; readonly why: string }
  | { readonly kind: 'aborted' };

/** `Retry-After` in seconds (HTTP dates are ignored: our own backoff applies then). */
function retryAfterMs(v: string | null): number | undefined {
  if (v === null || !/^\s*\d+\s*$/.test(v)) return undefined;
  return Number(v) * 1000;
}

/**
 * POSTs each alert as JSON (one per request, `content-type: application/json`) to a URL, in order, one request
 * in flight. Network errors, timeouts, 5xx and 429 are retried with exponential backoff and jitter (delay
 * base·2^(n-1) capped at max, then scaled by a random factor in [0.5, 1); a numeric Retry-After is honoured up to
 * the cap); other 4xx are not retried. Drop policy: when the queue is full the oldest waiting alert is dropped —
 * after an outage the receiver gets the most recent alerts, which describe what is still happening; every alert
 * is also in the AlertLog and the JSONL file, and each drop is counted.
 * The constructor throws on an invalid URL: validate user input with `parseWebhookUrl` first.
 */
export class WebhookSink {
  readonly url: URL;
  private queue: string[] = [];
  private running = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private inflight: AbortController | undefined;
  private sleeping: { handle: unknown; wake: () => void } | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly counters = { sent: 0, failed: 0, dropped: 0, retries: 0 };
  private readonly maxQueue: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly sched: Scheduler;
  private readonly random: () => number;
  private readonly warn: OncePerKind;

  constructor(url: string | URL, opts: WebhookSinkOptions = {}) {
    const parsed = parseWebhookUrl(String(url));
    if (!parsed.valid) throw new TypeError(parsed.errors.map((e) => e.message).join('; '));
    this.url = parsed.result;
    this.maxQueue = Math.max(1, opts.maxQueue ?? 1_000);
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 8);
    this.baseDelayMs = Math.max(0, opts.baseDelayMs ?? 500);
    this.maxDelayMs = Math.max(this.baseDelayMs, opts.maxDelayMs ?? 30_000);
    this.timeoutMs = Math.max(1, opts.timeoutMs ?? 10_000);
    this.headers = { ...opts.headers, 'content-type': 'application/json' };
    this.sched = opts.scheduler ?? REAL_SCHEDULER;
    this.random = opts.random ?? Math.random;
    this.warn = new OncePerKind(opts.logger ?? SILENT, LOG_EVERY_MS);
  }

  send(alert: Alert): void {
    if (this.stopped) {
      this.counters.dropped++;
      return;
    }
    let body: string;
    try {
      body = JSON.stringify(alert);
    } catch (err) {
      this.counters.failed++;
      this.warn.warn('serialize', { err: String(err) }, 'webhook: alert not serialisable', this.sched.now());
      return;
    }
    this.queue.push(body);
    if (this.queue.length > this.maxQueue) {
      const over = this.queue.length - this.maxQueue;
      this.queue.splice(0, over);
      this.counters.dropped += over;
      this.warn.warn(
        'queue-full',
        { url: this.redacted() },
        'webhook: queue full, oldest alerts dropped',
        this.sched.now(),
      );
    }
    if (!this.running) void this.run();
  }

  /** Resolves when nothing is queued or in flight (or the sink is stopped). */
  drain(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Aborts the request in flight, cancels the retry timer, drops (and counts) what is queued. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopped = true;
    this.counters.dropped += this.queue.length;
    this.queue = [];
    this.inflight?.abort();
    const s = this.sleeping;
    if (s !== undefined) {
      this.sched.cancel(s.handle);
      s.wake();
    }
    this.stopping = this.drain();
    return this.stopping;
  }

  stats(): WebhookStats {
    return { ...this.counters, queued: this.queue.length };
  }

  private redacted(): string {
    return `${this.url.protocol}//${this.url.host}${this.url.pathname}`;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (;;) {
        const body = this.queue.shift();
        if (body === undefined || this.stopped) break;
        await this.deliver(body);
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async deliver(body: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const out = await this.post(body);
      if (out.kind === 'aborted' || this.stopped) {
        this.counters.dropped++;
        return;
      }
      if (out.kind === 'ok') {
        this.counters.sent++;
        return;
      }
      if (out.kind === 'reject' || attempt >= this.maxAttempts) {
        this.counters.failed++;
        const why = out.kind === 'reject' ? out.why : `${out.why} after ${attempt} attempts`;
        this.warn.warn(
          `give-up:${out.kind}`,
          { url: this.redacted(), why },
          'webhook: alert not delivered',
          this.sched.now(),
        );
        return;
      }
      this.counters.retries++;
      const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
      let delay = backoff * (0.5 + 0.5 * this.random());
      if (out.afterMs !== undefined) delay = Math.max(delay, Math.min(this.maxDelayMs, out.afterMs));
      await this.sleep(delay);
      if (this.stopped) {
        this.counters.dropped++;
        return;
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleeping = undefined;
        resolve();
      };
      this.sleeping = { handle: this.sched.schedule(wake, ms), wake };
    });
  }

  private async post(body: string): Promise<Outcome> {
    const ac = new AbortController();
    this.inflight = ac;
    let timedOut = false;
    const timer = this.sched.schedule(() => {
      timedOut = true;
      ac.abort();
    }, this.timeoutMs);
    try {
      const res = await fetch(this.url, { method: 'POST', headers: this.headers, body, signal: ac.signal });
      // Read the body so the connection can be reused.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { kind: 'ok' };
      const why = `HTTP ${res.status}`;
      if (res.status === 429 || res.status >= 500) {
        const afterMs = retryAfterMs(res.headers.get('retry-after'));
        return afterMs !== undefined ? { kind: 'retry', why, afterMs } : { kind: 'retry', why };
      }
      return { kind: 'reject', why };
    } catch (err) {
      if (ac.signal.aborted && !timedOut) return { kind: 'aborted' };
      const cause = (err as { cause?: unknown }).cause;
      return { kind: 'retry', why: timedOut ? 'timeout' : `${String(err)}${cause ? ` (${errCode(cause)})` : ''}` };
    } finally {
      this.sched.cancel(timer);
      this.inflight = undefined;
    }
  }
}
