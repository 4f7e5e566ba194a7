// The static inventory file as an InventorySource (`nanoseg serve --inventory FILE`). The adapter: it reads and
// watches the file; parsing and validation are file.ts (pure).
//
// - start() reads the file and rejects (InventoryFileError, every problem as FILE:LINE:COL: path: message) when
//   it cannot be read or is invalid, so the control plane does not start on bad input.
// - Then it watches the file's directory (editors that save by writing a temporary file and renaming it over the
//   original replace the inode, which a watch on the file itself would lose), debounces bursts of events, and
//   polls slowly as a fallback for filesystems whose change events are unreliable (network mounts).
// - A valid change is emitted as the file's whole inventory. An invalid change, an unreadable or a deleted file is
//   logged once and shown by status(); the last good inventory stays in use and nothing is emitted.
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { ReplaySubject, type Observable } from 'rxjs';
import type { Inventory } from '../model/index.js';
import type { Logger } from '../util/logger.js';
import { formatInventoryFileErrors, parseInventoryFile } from './file.js';
import type { InventorySource, InventoryUpdate } from './source.js';

export const FILE_SOURCE = 'file';

export interface FileInventorySourceOptions {
  readonly file: string;
  readonly logger: Logger;
  /** quiet time after the last change event before the file is read (default 100 ms) */
  readonly debounceMs?: number;
  /** how often the file is checked (stat) even without change events; 0 = never (default 5000 ms) */
  readonly pollMs?: number;
  /** false: no change events, only the poll (default true) */
  readonly watch?: boolean;
  readonly now?: () => number;
}

export interface FileInventoryStatus {
  readonly file: string;
  /** when the inventory in use was read (ms since epoch); absent before the first good read */
  readonly loadedAt?: number;
  /** why the file as it is now is not in use (invalid, unreadable, deleted); the last good inventory stays */
  readonly error?: string;
}

/** start() refused the file: `errors` are the lines to show, `FILE:LINE:COL: path: message` or `FILE: ...`. */
export class InventoryFileError extends Error {
  constructor(
    readonly file: string,
    readonly errors: readonly string[],
  ) {
    super(errors.join('\n'));
    this.name = 'InventoryFileError';
  }
}

type Read =
  | { readonly ok: true; readonly text: string; readonly signature: string }
  | { readonly ok: false; readonly missing: boolean; readonly error: string; readonly signature: string };

export class FileInventorySource implements InventorySource {
  readonly name = FILE_SOURCE;
  /** Late subscribers get the inventory in use at once (level-triggered), then every change. */
  readonly updates$: Observable<InventoryUpdate>;

  private readonly subject = new ReplaySubject<InventoryUpdate>(1);
  private readonly file: string;
  private readonly log: Logger;
  private readonly debounceMs: number;
  private readonly pollMs: number;
  private readonly useWatch: boolean;
  private readonly now: () => number;

  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;

  /** what was last read (good or not): the same text again is no news */
  private lastText: string | undefined;
  /** stat of what was last looked at: the poll reads the file only when it changed */
  private lastSignature: string | undefined;
  /** the inventory in use, as JSON: a change of comments or layout only is not emitted */
  private goodJson: string | undefined;
  private loadedAt: number | undefined;
  private error: string | undefined;

  constructor(opts: FileInventorySourceOptions) {
    this.file = opts.file;
    this.log = opts.logger;
    this.debounceMs = opts.debounceMs ?? 100;
    this.pollMs = opts.pollMs ?? 5000;
    this.useWatch = opts.watch ?? true;
    this.now = opts.now ?? Date.now;
    this.updates$ = this.subject.asObservable();
  }

  status(): FileInventoryStatus {
    return {
      file: this.file,
      ...(this.loadedAt !== undefined ? { loadedAt: this.loadedAt } : {}),
      ...(this.error !== undefined ? { error: this.error } : {}),
    };
  }

  /** Reads, validates and emits the file, then watches it. Idempotent; after a rejection a new call tries again. */
  start(): Promise<void> {
    if (this.stopping) return Promise.reject(new Error(`inventory file source ${this.file} is stopped`));
    this.starting ??= this.firstLoad().catch((e: unknown) => {
      this.starting = undefined;
      throw e;
    });
    return this.starting;
  }

  /** Idempotent. Closes the watcher and timers, waits for a read in flight, completes `updates$`. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.debounce);
      clearInterval(this.poll);
      this.watcher?.close();
      this.watcher = undefined;
      await this.inFlight;
      this.subject.complete();
    })();
    return this.stopping;
  }

  private async firstLoad(): Promise<void> {
    const read = await this.read();
    if (!read.ok) throw new InventoryFileError(this.file, [read.error]);
    const r = parseInventoryFile(read.text, this.file);
    if (!r.valid)
      throw new InventoryFileError(
        this.file,
        r.errors.map((e) => e.message),
      );
    if (this.stopping) return;
    this.lastText = read.text;
    this.lastSignature = read.signature;
    this.use(r.result);
    this.startWatching();
  }

  private async read(): Promise<Read> {
    let signature = 'missing';
    try {
      const st = await stat(this.file);
      signature = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      if (!st.isFile()) return { ok: false, missing: false, error: `${this.file}: not a regular file`, signature };
      return { ok: true, text: await readFile(this.file, 'utf8'), signature };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') return { ok: false, missing: true, error: `${this.file}: no such file`, signature };
      return { ok: false, missing: false, error: `${this.file}: cannot read: ${err.message}`, signature };
    }
  }

  private use(inventory: Inventory): void {
    this.goodJson = JSON.stringify(inventory);
    this.loadedAt = this.now();
    this.subject.next({ source: FILE_SOURCE, inventory });
  }

  private startWatching(): void {
    if (this.useWatch) {
      const base = basename(this.file);
      try {
        // not persistent: like an unref'd timer, the watch alone keeps no process alive
        this.watcher = watch(dirname(resolve(this.file)), { persistent: false }, (_event, name) => {
          // `..data` & co.: Kubernetes swaps a mounted ConfigMap by renaming a symlinked directory
          if (name === null || name === base || name.startsWith('..')) this.schedule(true);
        });
        this.watcher.on('error', (err) => {
          this.log.warn({ file: this.file, err: err.message }, 'inventory file: watch failed; polling only');
          this.watcher?.close();
          this.watcher = undefined;
        });
      } catch (err) {
        this.log.warn({ file: this.file, err: (err as Error).message }, 'inventory file: cannot watch; polling only');
      }
    }
    if (this.pollMs > 0) {
      this.poll = setInterval(() => this.schedule(false), this.pollMs);
      this.poll.unref();
    }
  }

  /** Debounced: bursts of events (truncate, write, rename) become one read. */
  private schedule(event: boolean): void {
    if (this.stopping) return;
    if (!event) {
      void this.reloadOnce(false);
      return;
    }
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reloadOnce(true);
    }, this.debounceMs);
    this.debounce.unref();
  }

  /** One read at a time; an event during a read makes one more. Never rejects. */
  private reloadOnce(event: boolean): Promise<void> {
    if (this.inFlight) {
      this.again ||= event;
      return this.inFlight;
    }
    this.inFlight = (async () => {
      let force = event;
      do {
        this.again = false;
        try {
          await this.reload(force);
        } catch (e) {
          this.log.error({ file: this.file, err: (e as Error).message }, 'inventory file: reload failed');
        }
        force = true;
      } while (this.again && !this.stopping);
    })().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** `force`: read even when the file's stat looks unchanged (a change event said otherwise). */
  private async reload(force: boolean): Promise<void> {
    if (this.stopping) return;
    if (!force) {
      const st = await stat(this.file).catch(() => undefined);
      const signature = st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : 'missing';
      if (signature === this.lastSignature) return;
    }
    const read = await this.read();
    if (this.stopping) return;
    this.lastSignature = read.signature;
    if (!read.ok) {
      this.lastText = undefined; // whatever comes back is news
      const error = read.missing ? `${this.file}: deleted (the last good inventory stays in use)` : read.error;
      this.problem(error, [error]);
      return;
    }
    if (read.text === this.lastText) return;
    this.lastText = read.text;
    const r = parseInventoryFile(read.text, this.file);
    if (!r.valid) {
      this.problem(
        formatInventoryFileErrors(r.errors),
        r.errors.map((e) => e.message),
      );
      return;
    }
    const hadError = this.error !== undefined;
    this.error = undefined;
    if (JSON.stringify(r.result) === this.goodJson) {
      this.loadedAt = this.now();
      if (hadError) this.log.info({ file: this.file }, 'inventory file is valid again (same inventory as in use)');
      return;
    }
    this.use(r.result);
    this.log.info(
      {
        file: this.file,
        workloads: r.result.workloads.length,
        externals: r.result.externals.length,
        vips: r.result.vips.length,
      },
      'inventory file reloaded',
    );
  }

  /** Logged once per distinct problem; the last good inventory stays in use. */
  private problem(error: string, errors: readonly string[]): void {
    if (error === this.error) return;
    this.error = error;
    this.log.warn({ file: this.file, errors }, 'inventory file not applied; keeping the last good inventory');
  }
}
