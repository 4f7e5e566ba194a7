// The NanoSegment status controller (`serve --kubernetes`): every `intervalMs` it lists the NanoSegments, creates
// the missing one of each service the control plane knows (empty spec: nothing wanted yet), and writes each one's
// status (segment-status.ts, pure) through the status subresource. Writes are bounded three ways: only a status
// that differs from the object's, per object at most once per `minIntervalMs` (drift of confidence and reason only
// every `driftIntervalMs`), and a token bucket over all objects; a failed create (no such namespace, the validating
// webhook not reachable yet) is retried with backoff from 2 s to a minute. Each round first hands every object to
// `spec` (the spec controller, controllers/segment-spec.ts), whose outcome becomes the `SpecApplied` condition and
// observedGeneration. A missing CRD or a failing apiserver is logged once per kind and retried on the next round;
// nothing here throws at the caller.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Alert, ServiceName } from '../../model/index.js';
import { OncePerKind, type Logger } from '../../util/logger.js';
import { NANOSEG_GROUP, NANOSEGMENT_KIND, NANOSEGMENT_PLURAL, NANOSEGMENT_VERSION } from './crd.js';
import { describeKubeError } from './errors.js';
import {
  DEFAULT_WRITE_LIMITS,
  lastAlertOf,
  nanoSegmentStatus,
  segmentRef,
  writeDue,
  type LastAlert,
  type NanoSegmentStatus,
  type SegmentFacts,
  type SpecOutcome,
  type WriteLimits,
} from './segment-status.js';

export interface NanoSegmentObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string };
  spec?: Record<string, unknown>;
  status?: Partial<NanoSegmentStatus>;
}

export interface SegmentWriterOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** what the control plane knows of each service now (convergence, mode, edges) */
  readonly facts: () => readonly Omit<SegmentFacts, 'lastDenied' | 'lastWouldDeny' | 'spec'>[];
  /** applies an object's spec (once per generation) and says what became of it */
  readonly spec?: (obj: NanoSegmentObject) => SpecOutcome;
  readonly intervalMs?: number;
  readonly limits?: WriteLimits;
  /** the token bucket over all writes (creates and status updates) */
  readonly burst?: number;
  readonly perSecond?: number;
  readonly now?: () => number;
}

export interface SegmentWriterStats {
  readonly rounds: number;
  readonly created: number;
  readonly written: number;
  readonly skipped: number;
  readonly limited: number;
  readonly failed: number;
}

/** a failed create is retried after 2 s, then twice as long each time, up to a minute */
const CREATE_RETRY_MS = { first: 2_000, max: 60_000 };
const OBJECT_NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class NanoSegmentStatusWriter {
  private readonly api: CustomObjectsApi;
  private readonly once: OncePerKind;
  private readonly now: () => number;
  private readonly limits: WriteLimits;
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly lastWrite = new Map<ServiceName, number>();
  /** when creating a service's NanoSegment last failed (its namespace may not exist): retried after a minute */
  private readonly createFailedAt = new Map<ServiceName, { at: number; waitMs: number }>();
  private readonly alerts = new Map<ServiceName, { lastDenied?: LastAlert; lastWouldDeny?: LastAlert }>();
  private tokens: number;
  private tokensAt: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private counts = { rounds: 0, created: 0, written: 0, skipped: 0, limited: 0, failed: 0 };

  constructor(private readonly opts: SegmentWriterOptions) {
    this.api = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.once = new OncePerKind(opts.logger, 60_000);
    this.now = opts.now ?? Date.now;
    this.limits = opts.limits ?? DEFAULT_WRITE_LIMITS;
    this.burst = opts.burst ?? 20;
    this.perSecond = opts.perSecond ?? 5;
    this.tokens = this.burst;
    this.tokensAt = this.now();
  }

  stats(): SegmentWriterStats {
    return { ...this.counts };
  }

  /** An alert from the pipeline: the latest denial (or would-deny) of the service whose policy caused it. */
  report(a: Alert): void {
    const x = lastAlertOf(a);
    if (!x) return;
    const cur = this.alerts.get(x.service) ?? {};
    if (!cur[x.kind] || cur[x.kind]!.time <= x.entry.time) this.alerts.set(x.service, { ...cur, [x.kind]: x.entry });
    if (this.alerts.size > 10_000) this.alerts.delete(this.alerts.keys().next().value!);
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running ??= this.round().finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, this.opts.intervalMs ?? 2_000);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One reconciliation of every service's NanoSegment. */
  async round(): Promise<void> {
    this.counts.rounds++;
    let items: NanoSegmentObject[];
    try {
      const list = (await this.api.listClusterCustomObject({
        group: NANOSEG_GROUP,
        version: NANOSEGMENT_VERSION,
        plural: NANOSEGMENT_PLURAL,
      })) as { items?: NanoSegmentObject[] };
      items = list.items ?? [];
    } catch (err) {
      this.counts.failed++;
      this.once.warn(
        'segment-list',
        { err: describeKubeError(err) },
        'cannot list NanoSegments (is the CRD installed?)',
      );
      return;
    }
    const existing = new Map(items.map((o) => [`${o.metadata?.namespace}/${o.metadata?.name}`, o]));
    const specs = new Map<ServiceName, SpecOutcome>();
    const spec = this.opts.spec;
    if (spec) for (const [service, o] of existing) specs.set(service, spec(o));
    for (const f of this.opts.facts()) {
      const ref = segmentRef(f.service);
      if (!OBJECT_NAME_RE.test(ref.name) || !OBJECT_NAME_RE.test(ref.namespace)) continue;
      let obj = existing.get(f.service);
      if (!obj) {
        const failed = this.createFailedAt.get(f.service);
        if (failed !== undefined && this.now() - failed.at < failed.waitMs) continue;
        if (!this.take()) continue;
        obj = await this.create(ref);
        if (!obj) {
          const waitMs = failed ? Math.min(CREATE_RETRY_MS.max, failed.waitMs * 2) : CREATE_RETRY_MS.first;
          this.createFailedAt.set(f.service, { at: this.now(), waitMs });
          if (this.createFailedAt.size > 10_000) this.createFailedAt.delete(this.createFailedAt.keys().next().value!);
          continue;
        }
        this.createFailedAt.delete(f.service);
        if (spec) specs.set(f.service, spec(obj));
      }
      const now = this.now();
      const outcome = specs.get(f.service);
      const facts: SegmentFacts = { ...f, ...this.alerts.get(f.service), ...(outcome && { spec: outcome }) };
      const next = nanoSegmentStatus(facts, obj.metadata?.generation ?? 0, obj.status, now);
      if (!writeDue(obj.status, next, this.lastWrite.get(f.service), now, this.limits)) {
        this.counts.skipped++;
        continue;
      }
      if (!this.take()) continue;
      await this.writeStatus(ref, obj, next);
    }
  }

  private async create(ref: { namespace: string; name: string }): Promise<NanoSegmentObject | undefined> {
    try {
      const body: NanoSegmentObject = {
        apiVersion: `${NANOSEG_GROUP}/${NANOSEGMENT_VERSION}`,
        kind: NANOSEGMENT_KIND,
        metadata: { name: ref.name, namespace: ref.namespace },
        spec: {},
      };
      const obj = (await this.api.createNamespacedCustomObject({
        group: NANOSEG_GROUP,
        version: NANOSEGMENT_VERSION,
        namespace: ref.namespace,
        plural: NANOSEGMENT_PLURAL,
        body,
      })) as NanoSegmentObject;
      this.counts.created++;
      return obj;
    } catch (err) {
      this.counts.failed++;
      this.once.warn('segment-create', { err: describeKubeError(err), ...ref }, 'cannot create a NanoSegment');
      return undefined;
    }
  }

  private async writeStatus(
    ref: { namespace: string; name: string },
    obj: NanoSegmentObject,
    status: NanoSegmentStatus,
  ): Promise<void> {
    try {
      // PUT of the status subresource with the resourceVersion read this round: a concurrent change is a conflict,
      // retried from a fresh read next round
      await this.api.replaceNamespacedCustomObjectStatus({
        group: NANOSEG_GROUP,
        version: NANOSEGMENT_VERSION,
        namespace: ref.namespace,
        plural: NANOSEGMENT_PLURAL,
        name: ref.name,
        body: { ...obj, status },
      });
      this.counts.written++;
      this.lastWrite.set(`${ref.namespace}/${ref.name}`, this.now());
    } catch (err) {
      this.counts.failed++;
      this.once.warn('segment-status', { err: describeKubeError(err), ...ref }, 'cannot write a NanoSegment status');
    }
  }

  private take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.perSecond);
    this.tokensAt = now;
    if (this.tokens < 1) {
      this.counts.limited++;
      return false;
    }
    this.tokens--;
    return true;
  }
}
