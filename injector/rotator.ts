// Runs certificate rotation (certs.ts) over time: loads the TLS state from the control plane's state folder,
// rotates what is due, saves it (0600, written atomically), hands the serving certificate to the webhook server and
// the CA bundle to the publisher, and sleeps until the next renewal point (checked at least hourly, so a clock jump
// or a failed publish is retried). A failure keeps the last good state and is retried with backoff.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REAL_SCHEDULER, type Scheduler } from '../xds-server/src/util/scheduler.js';
import { SILENT, type Logger } from '../xds-server/src/util/logger.js';
import { caBundle, renewalAt, rotate, type RotationOptions, type TlsState } from './certs.js';
import type { CaBundlePublisher } from './cabundle.js';

const HOUR = 3600 * 1000;
const STATE_FILE = 'webhook-tls.json';

export interface RotatorOptions extends RotationOptions {
  /** folder the TLS state is kept in (the control plane's state PVC) */
  readonly dir: string;
  readonly publisher?: CaBundlePublisher;
  readonly onServing?: (tls: { readonly certPem: string; readonly keyPem: string }) => void;
  readonly scheduler?: Scheduler;
  readonly logger?: Logger;
}

export class CertRotator {
  private state: TlsState | undefined;
  private published: string | undefined;
  private timer: unknown;
  private failures = 0;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly sched: Scheduler;
  private readonly log: Logger;

  constructor(private readonly opts: RotatorOptions) {
    this.sched = opts.scheduler ?? REAL_SCHEDULER;
    this.log = opts.logger ?? SILENT;
  }

  current(): TlsState | undefined {
    return this.state;
  }

  /** Loads or creates the state and publishes it; rejects when the first rotation fails. Idempotent. */
  async start(): Promise<TlsState> {
    if (this.state) return this.state;
    this.stopped = false;
    this.state = await this.load();
    await this.tick();
    if (!this.state) throw new Error('certificate rotation failed');
    return this.state;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.sched.cancel(this.timer);
    this.timer = undefined;
  }

  /** Resolves once the rotation step in progress (if any) is done. */
  whenIdle(): Promise<void> {
    return this.running.catch(() => undefined);
  }

  /** One rotation step now (also what the timer runs). */
  async tick(): Promise<void> {
    const now = this.sched.now();
    try {
      const next = await rotate(this.state, now, this.opts);
      if (next !== this.state) {
        await this.save(next);
        const renewed = this.state?.serving !== next.serving;
        this.state = next;
        if (renewed)
          this.log.info({ notAfter: new Date(next.serving.notAfter).toISOString() }, 'webhook certificate issued');
      }
      const bundle = caBundle(next, now);
      // the bundle first: the apiserver must trust a new CA before the server presents what it signed
      if (bundle !== this.published && this.opts.publisher) {
        await this.opts.publisher.publish(bundle);
      }
      this.published = bundle;
      this.opts.onServing?.(next.serving);
      this.failures = 0;
      this.schedule(Math.min(renewalAt(next.serving, now), renewalAt(next.ca, now), now + HOUR) - now);
    } catch (err) {
      this.failures++;
      const delay = Math.min(1000 * 2 ** Math.min(this.failures, 10), 5 * 60 * 1000);
      this.log.error({ err: String(err), retryInMs: delay }, 'webhook certificate rotation failed');
      this.schedule(delay);
      if (!this.state) throw err;
    }
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) this.sched.cancel(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    this.timer = this.sched.schedule(
      () => {
        this.running = this.tick().catch(() => undefined);
      },
      Math.max(ms, 1000),
    );
  }

  private async load(): Promise<TlsState | undefined> {
    try {
      return JSON.parse(await readFile(join(this.opts.dir, STATE_FILE), 'utf8')) as TlsState;
    } catch {
      return undefined;
    }
  }

  private async save(s: TlsState): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
    const file = join(this.opts.dir, STATE_FILE);
    await writeFile(`${file}.tmp`, JSON.stringify(s), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }
}
