// Where alerts and audit events go, in one place: alerts are aggregated (first at once, repeats per window), then
// kept for the API (list, follow), written to audit.jsonl, POSTed to the webhook and logged; audit events are stored
// (the API lists them), written to audit.jsonl and logged. Nothing here throws at its caller.
import type { Alert, AuditEvent } from '../model/index.js';
import type { Logger } from '../util/logger.js';
import { OncePerKind } from '../util/logger.js';
import { REAL_SCHEDULER, type Scheduler } from '../util/scheduler.js';
import { AlertAggregator, type AggregatorStats } from './aggregate.js';
import { AlertLog } from './alert-log.js';
import { JsonlAuditFile } from './audit-file.js';
import { WebhookSink, type WebhookStats } from './webhook.js';

export interface AuditStore {
  appendAudit(e: AuditEvent): void;
  listAudit(sinceMs: number): AuditEvent[];
}

export interface AlertPipelineOptions {
  readonly logger: Logger;
  readonly scheduler?: Scheduler;
  /** `<state-dir>/audit.jsonl`; none: alerts and audit events are not written to a file */
  readonly auditFile?: string;
  readonly webhookUrl?: string;
  readonly store?: AuditStore;
}

export class AlertPipeline {
  readonly log = new AlertLog();
  private readonly aggregator: AlertAggregator;
  private readonly file?: JsonlAuditFile;
  private readonly webhook?: WebhookSink;
  private readonly once: OncePerKind;
  private readonly sched: Scheduler;

  constructor(private readonly opts: AlertPipelineOptions) {
    this.sched = opts.scheduler ?? REAL_SCHEDULER;
    this.once = new OncePerKind(opts.logger, 60_000);
    this.aggregator = new AlertAggregator((a) => this.emit(a), { logger: opts.logger, scheduler: this.sched });
    if (opts.auditFile) this.file = new JsonlAuditFile(opts.auditFile, { logger: opts.logger, scheduler: this.sched });
    if (opts.webhookUrl)
      this.webhook = new WebhookSink(opts.webhookUrl, { logger: opts.logger, scheduler: this.sched });
  }

  /** An occurrence of a denied or would-deny connection (aggregated before it goes anywhere). */
  report(a: Alert): void {
    this.aggregator.push(a);
  }

  /** A change made by a person (or by auto-promotion), with before → after. */
  audit(e: Omit<AuditEvent, 'time'>): AuditEvent {
    const ev: AuditEvent = { time: new Date(this.sched.now()).toISOString(), ...e };
    try {
      this.opts.store?.appendAudit(ev);
    } catch (err) {
      this.once.warn(
        'store-audit',
        { err: (err as Error).message },
        'cannot persist an audit event (it is still in audit.jsonl)',
      );
    }
    this.file?.writeAudit(ev);
    this.opts.logger.info({ audit: ev }, `audit: ${ev.actor} ${ev.action} ${ev.target}`);
    return ev;
  }

  alerts(sinceMs = 0): Alert[] {
    return this.log.list(sinceMs);
  }

  auditEvents(sinceMs = 0): AuditEvent[] {
    return this.opts.store?.listAudit(sinceMs) ?? [];
  }

  subscribe(fn: (a: Alert) => void): () => void {
    return this.log.subscribe(fn);
  }

  stats(): { webhook?: WebhookStats; aggregator: AggregatorStats } {
    const webhook = this.webhook?.stats();
    return { ...(webhook && { webhook }), aggregator: this.aggregator.stats() };
  }

  /** Emits what is pending, then lets the file and the webhook finish. Idempotent. */
  async stop(): Promise<void> {
    this.aggregator.stop();
    await this.webhook?.stop();
    await this.file?.stop();
  }

  private emit(a: Alert): void {
    this.log.append(a);
    this.file?.writeAlert(a);
    this.webhook?.send(a);
    this.opts.logger.warn({ alert: a }, `${a.verdict}: ${a.reason}`);
  }
}
