// The ingest controller: ObservedFlows from every ObservationSource → the learner (edges with evidence, dedup in one
// place) → convergence → alerts. New edges are stored at once, evidence is flushed in chunks off the hot path, and a
// denied flow is an alert, never evidence. The hot path stays plain (no rxjs, no per-entry allocation beyond the
// learner's own).
import type { IdentityIndex } from '../inventory/identity.js';
import type { ObservationSink } from '../learn/source.js';
import { describeEdge, type ConvergenceTracker, type ConvergenceTransition, type Learner } from '../learn/index.js';
import type { Alert, ConvergenceReport, Edge, Mode, ObservedFlow, ServiceName, Verdict } from '../model/index.js';
import { isServicePeer } from '../model/index.js';
import { explainDeny, explainNoPath, type CompiledPolicy } from '../policy/index.js';
import { OncePerKind, type Logger } from '../util/logger.js';
import type { Scheduler } from '../util/scheduler.js';
import { clip, type Tracer } from '../util/tracing.js';

export interface EdgeStore {
  upsertEdges(edges: readonly Edge[]): void;
}

/** Counters the status view and metrics read. */
export interface IngestStats {
  entries: number;
  rejected: number;
  readonly rejectedByKind: Record<string, number>;
  streams: number;
}

export interface IngestMetrics {
  accepted(n: number): void;
  rejected(kind: string, n: number): void;
  streams(delta: 1 | -1): void;
  newEdge(edge: Edge): void;
  verdict(service: ServiceName, verdict: string): void;
}

export interface IngestControllerOptions {
  readonly learner: Learner;
  readonly tracker: ConvergenceTracker;
  readonly store: EdgeStore;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  readonly index: () => IdentityIndex;
  readonly modeOf: (service: ServiceName) => Mode;
  /** the compiled policy in force, for explanations */
  readonly compiled: (service: ServiceName) => CompiledPolicy;
  /** a service still shapes its chains from what it learns (learn mode without a policy) */
  readonly learning: (service: ServiceName) => boolean;
  readonly alert: (a: Alert) => void;
  readonly wouldDeny: (service: ServiceName, at: number) => void;
  /** config of these services changed (a new edge shapes a learning service's chains) */
  readonly onChange: (reason: string, services: readonly ServiceName[]) => void;
  readonly onTransition: (t: ConvergenceTransition) => void;
  readonly metrics?: IngestMetrics;
  /** spans per batch (`ingest.batch`) and per convergence transition (`convergence.transition`) */
  readonly tracer?: Tracer;
  /**
   * A verdict on an HTTP request (by its request key): the trace store marks the deciding sidecar's span and says
   * which trace the request belongs to, when it knows.
   */
  readonly traceVerdict?: (requestKey: string, enforcer: ServiceName, verdict: Verdict) => string | undefined;
}

const FLUSH_CHUNK = 100;

export class IngestController implements ObservationSink {
  readonly stats: IngestStats = { entries: 0, rejected: 0, rejectedByKind: {}, streams: 0 };
  /** [second, count] over the last 10 s, for the rate in `nanoseg status` */
  private readonly window: [number, number][] = [];
  private readonly flushQueue: Edge[] = [];
  private flushing = false;
  private readonly once: OncePerKind;
  /** new edges and verdicts so far (a batch's span reports the difference) */
  private newEdges = 0;
  private verdicts = 0;

  constructor(private readonly opts: IngestControllerOptions) {
    this.once = new OncePerKind(opts.logger, 60_000);
  }

  /** The sink one source delivers to: this controller, with the source named on each batch's span. */
  sink(source: string): ObservationSink {
    return {
      observe: (flows) => this.observeFrom(source, flows),
      rejected: (kind, count, detail, node) => this.rejected(kind, count, detail, node),
      streamOpened: () => this.streamOpened(),
      streamClosed: () => this.streamClosed(),
    };
  }

  observe(flows: readonly ObservedFlow[]): void {
    this.observeFrom('unnamed', flows);
  }

  /** One batch; traced, it is an `ingest.batch` span, the parent of what it causes (transitions, pushes' links). */
  private observeFrom(source: string, flows: readonly ObservedFlow[]): void {
    const tracer = this.opts.tracer;
    if (!tracer?.enabled) return this.ingest(flows);
    const [edges, verdicts] = [this.newEdges, this.verdicts];
    const span = tracer.start('ingest.batch', {
      attributes: { 'nanoseg.ingest.source': source, 'nanoseg.ingest.flows': flows.length },
    });
    try {
      tracer.with(span, () => this.ingest(flows));
    } finally {
      span.setAttributes({
        'nanoseg.ingest.new_edges': this.newEdges - edges,
        'nanoseg.ingest.verdicts': this.verdicts - verdicts,
      });
      span.end();
    }
  }

  private ingest(flows: readonly ObservedFlow[]): void {
    const { learner, tracker } = this.opts;
    for (const f of flows) {
      if (f.verdict) {
        this.onVerdict(f);
        // a denied connection never happened: it is an alert, not evidence
        if (f.verdict.verdict === 'denied' || f.verdictOnly) continue;
      }
      const result = learner.observe(f.obs);
      tracker.record(result, f.obs.time);
      if (result.isNew) this.onNewEdge(result.edge);
    }
    this.stats.entries += flows.length;
    this.opts.metrics?.accepted(flows.length);
    this.countRate(flows.length);
    this.announce(tracker.drainTransitions());
  }

  rejected(kind: string, count: number, detail: string, node?: string): void {
    this.stats.rejected += count;
    this.stats.rejectedByKind[kind] = (this.stats.rejectedByKind[kind] ?? 0) + count;
    this.opts.metrics?.rejected(kind, count);
    this.once.warn(
      `als:${kind}`,
      { node, detail },
      `${kind.startsWith('span-') ? 'span' : 'access-log entry'} rejected (${kind}); further ones of this kind are counted, logged once a minute`,
    );
  }

  streamOpened(): void {
    this.stats.streams++;
    this.opts.metrics?.streams(1);
  }

  streamClosed(): void {
    this.stats.streams--;
    this.opts.metrics?.streams(-1);
  }

  /** Entries per second over the last 10 s. */
  perSecond(): number {
    const now = Math.floor(this.opts.scheduler.now() / 1000);
    return this.window.filter(([s]) => s >= now - 10 && s < now).reduce((a, [, n]) => a + n, 0) / 10;
  }

  /** Re-evaluates convergence; transitions are announced, the reports returned (auto-promotion, metrics). */
  tick(): Map<ServiceName, ConvergenceReport> {
    const reports = this.opts.tracker.evaluate(this.opts.scheduler.now());
    this.announce(this.opts.tracker.drainTransitions());
    return reports;
  }

  /** Each transition, traced, is a `convergence.transition` span: a child of its batch, or of nothing on a tick. */
  private announce(transitions: readonly ConvergenceTransition[]): void {
    const tracer = this.opts.tracer;
    for (const t of transitions) {
      if (!tracer?.enabled) {
        this.opts.onTransition(t);
        continue;
      }
      const span = tracer.start('convergence.transition', {
        attributes: {
          'nanoseg.service': t.service,
          'nanoseg.convergence.from': t.from,
          'nanoseg.convergence.to': t.to,
          'nanoseg.convergence.reason': clip(t.reason),
        },
      });
      try {
        tracer.with(span, () => this.opts.onTransition(t));
      } finally {
        span.end();
      }
    }
  }

  /**
   * Writes changed evidence in transactions of at most FLUSH_CHUNK edges, yielding between them, so a flush of
   * thousands of edges never blocks the event loop for long. `final` (on stop) writes everything queued at once.
   */
  flush(final = false): void {
    for (const e of this.opts.learner.dirty()) this.flushQueue.push(e);
    if (final) {
      this.writeChunk(this.flushQueue.length);
      return;
    }
    if (this.flushing || this.flushQueue.length === 0) return;
    this.flushing = true;
    const step = (): void => {
      if (!this.writeChunk(FLUSH_CHUNK) || this.flushQueue.length === 0) {
        this.flushing = false;
        return;
      }
      setImmediate(step);
    };
    step();
  }

  /** Writes up to n queued edges in one transaction; false (and the edges stay dirty) when the store fails. */
  private writeChunk(n: number): boolean {
    const chunk = this.flushQueue.splice(0, n);
    if (chunk.length === 0) return true;
    try {
      this.opts.store.upsertEdges(chunk);
      return true;
    } catch (e) {
      this.once.warn('store-flush', { err: (e as Error).message }, 'cannot persist evidence; will retry');
      this.opts.learner.markDirty([...chunk, ...this.flushQueue.splice(0)]);
      return false;
    }
  }

  /** A denied or would-deny connection: an alert naming the point that decided and the missing rule. */
  private onVerdict(f: ObservedFlow): void {
    const v = f.verdict!;
    const obs = f.obs;
    this.verdicts++;
    const side = obs.side === 'outbound' ? 'egress' : 'ingress';
    const enforcer = v.enforcer;
    const facts = { sourceIp: v.sourceIp, destIp: v.destIp, port: obs.port, sni: v.sni, protocol: obs.protocol };
    const compiled = this.opts.compiled(enforcer);
    // An L7 denial (the rule's source matched, none of its paths did) names the request and the closest template;
    // the L4 explanation would only say which rule allowed the connection.
    const l7 = v.policy && v.request ? explainNoPath(compiled, v.policy, v.request) : undefined;
    const reason = l7?.reason ?? explainDeny(compiled, side, facts, this.opts.index());
    const now = this.opts.scheduler.now();
    if (v.verdict === 'would-deny') this.opts.wouldDeny(enforcer, now);
    this.opts.metrics?.verdict(enforcer, v.verdict);
    const src = obs.source;
    const dst = obs.destination;
    const key = obs.dedupKey?.startsWith('http|') ? obs.dedupKey.slice(5) : undefined;
    const joined = key !== undefined ? this.opts.traceVerdict?.(key, enforcer, v.verdict) : undefined;
    const traceId = v.traceId ?? joined;
    this.opts.alert({
      time: new Date(obs.time || now).toISOString(),
      verdict: v.verdict,
      mode: this.opts.modeOf(enforcer),
      source: {
        ...(isServicePeer(src) && { service: src.service }),
        ...(obs.sourceWorkload && { workload: obs.sourceWorkload }),
        ip: v.sourceIp,
      },
      destination: {
        ...(isServicePeer(dst) && { service: dst.service }),
        ip: v.destIp,
        port: obs.port,
        ...(v.sni && { sni: v.sni }),
      },
      protocol: obs.protocol,
      count: 1,
      reason,
      reporter: obs.reporter,
      side,
      point: v.point,
      ...(l7 && v.request && { request: v.request }),
      ...(l7?.closest && { closestTemplate: l7.closest }),
      ...(traceId !== undefined && { traceId }),
    });
  }

  private onNewEdge(edge: Edge): void {
    this.newEdges++;
    // A learned edge is written at once: a crash never loses it (counts are batched, see flush()).
    try {
      this.opts.store.upsertEdges([edge]);
    } catch (e) {
      this.once.warn(
        'store-write',
        { err: (e as Error).message },
        'cannot persist a new edge; it stays in memory and is retried on the next flush',
      );
    }
    this.opts.metrics?.newEdge(edge);
    this.opts.logger.info({ edge: describeEdge(edge), protocol: edge.protocol }, 'learned new edge');
    // In learn mode the learned edges shape the chains (a destination's own chain, a server port's chain), so
    // connections opened now already sit on the chain they will keep once the service is enforced.
    const learning = [edge.source, edge.destination].flatMap((p) =>
      isServicePeer(p) && this.opts.learning(p.service) ? [p.service] : [],
    );
    if (learning.length) this.opts.onChange(`new edge ${describeEdge(edge)}`, learning);
  }

  private countRate(n: number): void {
    const sec = Math.floor(this.opts.scheduler.now() / 1000);
    const w = this.window;
    const last = w[w.length - 1];
    if (last && last[0] === sec) last[1] += n;
    else w.push([sec, n]);
    while (w.length > 0 && w[0]![0] < sec - 10) w.shift();
  }
}
