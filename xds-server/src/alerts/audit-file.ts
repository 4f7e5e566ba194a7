// `<state-dir>/audit.jsonl`: every alert and audit event as one JSON line, written in order off the caller's path.
import { mkdir, open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Alert, AuditEvent } from '../model/index.js';
import { REAL_SCHEDULER, type Scheduler } from '../util/scheduler.js';
import type { Logger } from '../util/logger.js';
import { OncePerKind, SILENT } from '../util/logger.js';
import { LOG_EVERY_MS, errCode } from './sink-util.js';

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
