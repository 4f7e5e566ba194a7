// The alert webhook: every alert as a JSON POST, retried with backoff and jitter, a bounded queue, drops counted.
import type { Alert, ValidationResult } from '../model/index.js';
import { REAL_SCHEDULER, type Scheduler } from '../util/scheduler.js';
import type { Logger } from '../util/logger.js';
import { OncePerKind, SILENT } from '../util/logger.js';
import { LOG_EVERY_MS, errCode } from './sink-util.js';

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
