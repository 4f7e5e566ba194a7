// WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever commit crosses the WAL
// size limit and fsyncs the database: 7-20 ms on this machine, every second or so while evidence is flushed, which
// stalled the event loop that serves ADS and ALS. A worker thread with its own connection checkpoints instead
// (PASSIVE: it never waits for, or blocks, the writer). If the worker fails, the caller turns automatic
// checkpoints back on, so the WAL never grows without bound.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { withDeadline } from '../util/deadline.js';

// Plain JS run with `eval`, so it works the same from the TypeScript sources (tsx) and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// errors are posted as text: a SqliteError thrown across the thread boundary arrives as { code } alone
const say = (what, e) => parentPort.postMessage({ error: what + ': ' + ((e && e.message) || String(e)) + (e && e.code ? ' (' + e.code + ')' : '') });
(() => {
  let db;
  try {
    const Database = require(workerData.module);
    db = new Database(workerData.file, { fileMustExist: true });
  } catch (e) {
    say('cannot open ' + workerData.file, e);
    return;
  }
  const run = () => {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch (e) {
      say('checkpoint failed', e);
      clearInterval(timer);
      try { db.close(); } catch {}
      parentPort.close(); // the worker ends: the caller has turned automatic checkpoints back on
    }
  };
  const timer = setInterval(run, workerData.intervalMs);
  parentPort.on('message', (m) => {
    if (m !== 'stop' || !db.open) return;
    clearInterval(timer);
    run();
    if (db.open) db.close();
    parentPort.close();
  });
})();
`;

/** Errors thrown in an eval'd worker arrive as plain objects, not Error instances. */
function messageOf(e: unknown): string {
  if (typeof e !== 'object' || e === null) return String(e);
  const { message, code } = e as { message?: unknown; code?: unknown };
  return typeof message === 'string' ? message : typeof code === 'string' ? code : JSON.stringify(e);
}

export interface CheckpointerOptions {
  readonly file: string;
  readonly intervalMs: number;
  /** the worker could not start or a checkpoint failed; it has stopped */
  readonly onFailure: (reason: string) => void;
}

/** How long stop() waits for the worker's last checkpoint before it lets the process exit regardless. */
const STOP_WAIT_MS = 5000;

export class Checkpointer {
  private failed = false;
  private readonly exited: Promise<void>;

  private constructor(private readonly worker: Worker) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  static start(opts: CheckpointerOptions): Checkpointer {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file: opts.file, intervalMs: opts.intervalMs, module },
    });
    const c = new Checkpointer(worker);
    const fail = (reason: string): void => {
      if (c.failed) return;
      c.failed = true;
      opts.onFailure(reason);
    };
    worker.on('message', (m: { error?: string }) => {
      if (m.error) fail(m.error);
    });
    worker.on('error', (e: unknown) => fail(messageOf(e)));
    worker.on('exit', (code) => {
      if (code !== 0) fail(`checkpoint worker exited with code ${code}`);
    });
    worker.unref();
    return c;
  }

  /** the worker thread is alive (false once it has exited, also after a failure) */
  get running(): boolean {
    return this.worker.threadId !== -1;
  }

  /**
   * Runs a last checkpoint and ends the worker; resolves once it has exited. The process must not exit while the
   * worker is inside SQLite: a statement that fails in a thread being torn down aborts the whole process (V8's
   * "ToLocalChecked Empty MaybeLocal", SIGABRT), so the worker holds the process open until it is done, for at
   * most STOP_WAIT_MS (a PASSIVE checkpoint never waits for a lock; past that something is wrong, and a WAL left
   * behind is safe).
   */
  async stop(): Promise<void> {
    this.failed = true;
    this.worker.ref();
    this.worker.postMessage('stop');
    if (!(await withDeadline(this.exited, STOP_WAIT_MS)).done) this.worker.unref();
  }
}
