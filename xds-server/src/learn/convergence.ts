// Convergence: "no new connections are being formed" for a service. Pure: time is always passed in.
//
// A service is converged when all three hold (see docs/convergence.md):
//   1. quiet:        now − lastNewEdgeAt ≥ quietPeriodMs          (default 10 min)
//   2. enough data:  N ≥ minObservations                          (default 20)
//   3. missing mass: M̂ = (n1 + 1) / (N + 1) ≤ maxMissingMass      (default 0.05)
// where N = observations (connections/requests counted once) in which the service is source or destination,
// and n1 = the service's edges seen exactly once.
//
// M̂ estimates the probability that the next observation of the service reveals an edge not seen yet. Plain
// Good–Turing (n1 / N) is the classical estimate of that "missing mass", but it says 0 as soon as no edge is a
// singleton — after 3 observations of one edge it would claim certainty. Adding one pseudo-singleton (the edge
// we have not seen yet) to the numerator and one observation to the denominator keeps the estimate ≥ 1/(N+1),
// is never below Good–Turing (it only errs on the side of "keep learning"), and tends to n1/N as N grows.
// confidence = 1 − M̂.
//
// An L7 service (L7 enforcement on) converges on its path templates too: the same three conditions hold for the
// templates of its inbound HTTP/gRPC edges, each (edge, method, template) a species, counted per request
// (quiet since the last new template; M̂ₗ = (t1 + 1) / (R + 1) ≤ maxMissingMass, R = requests, t1 = templates seen
// once). The report's confidence is the smaller of the two.

import type { ConvergenceReport, ConvergenceState, Edge, ServiceName } from '../model/index.js';
import { isServicePeer } from '../model/index.js';
import type { ObserveResult } from './learner.js';
import { formatDuration } from '../util/duration.js';

export { formatDuration };

export interface ConvergenceConfig {
  readonly quietPeriodMs: number;
  readonly minObservations: number;
  readonly maxMissingMass: number;
}

export const DEFAULT_CONVERGENCE: ConvergenceConfig = Object.freeze({
  quietPeriodMs: 10 * 60_000,
  minObservations: 20,
  maxMissingMass: 0.05,
});

/** What convergence needs to know about one service. Plain data, kept incrementally by ConvergenceTracker. */
export interface ServiceStats {
  /** observations (counted once) where the service is source or destination */
  observations: number;
  /** edge id → observations of that edge */
  readonly edgeCounts: Map<string, number>;
  /** edges seen exactly once */
  singletons: number;
  /** edges seen exactly twice (kept for diagnostics and alternative estimators) */
  doubletons: number;
  firstObservedAt?: number;
  lastNewEdgeAt?: number;
  /** inbound HTTP/gRPC requests counted with a path template */
  pathObservations: number;
  /** `edgeId METHOD template` → requests */
  readonly pathCounts: Map<string, number>;
  /** templates seen exactly once */
  pathSingletons: number;
  lastNewPathAt?: number;
}

export interface ConvergenceTransition {
  readonly service: ServiceName;
  readonly from: ConvergenceState;
  readonly to: ConvergenceState;
  readonly at: number;
  readonly reason: string;
}

/** Persistable part of a service's convergence state (the services table keeps it between restarts). */
export interface ConvergenceMemory {
  readonly state: ConvergenceState;
  readonly convergedAt?: number;
  /** why a converged service went back to learning, until it converges again */
  readonly regression?: string;
}

export function emptyStats(): ServiceStats {
  return {
    observations: 0,
    edgeCounts: new Map(),
    singletons: 0,
    doubletons: 0,
    pathObservations: 0,
    pathCounts: new Map(),
    pathSingletons: 0,
  };
}

/** M̂ = (n1 + 1) / (N + 1): Good–Turing with one pseudo-singleton for the edge not seen yet. */
export function missingMass(singletons: number, observations: number): number {
  return (singletons + 1) / (observations + 1);
}

function fmtMass(x: number): string {
  return x >= 0.01 || x === 0 ? x.toFixed(2) : x.toPrecision(2);
}

/** `shop/web → shop/db:5432`, `shop/web → 203.0.113.10:443 (pay.example)` */
export function describeEdge(e: Pick<Edge, 'source' | 'destination' | 'port'>): string {
  const peer = (p: Edge['source']): string => {
    if (isServicePeer(p)) return p.service;
    const ip = p.cidr.replace(/\/(32|128)$/, '');
    return ip.includes(':') ? `[${ip}]` : ip;
  };
  const sni = !isServicePeer(e.destination) && e.destination.sni ? ` (${e.destination.sni})` : '';
  return `${peer(e.source)} → ${peer(e.destination)}:${e.port}${sni}`;
}

/**
 * Assesses one service. Pure. `memory` carries what the tracker remembers (convergence time, and the reason a
 * converged service went back to learning); without it the report is computed from the stats alone.
 */
export function assess(
  stats: ServiceStats,
  now: number,
  cfg: Partial<ConvergenceConfig> = {},
  memory?: ConvergenceMemory,
  l7 = false,
): ConvergenceReport {
  const c = { ...DEFAULT_CONVERGENCE, ...cfg };
  const n = stats.observations;
  const n1 = stats.singletons;
  const edgeMass = missingMass(n1, n);
  const pathMass = l7 ? missingMass(stats.pathSingletons, stats.pathObservations) : 0;
  const mm = Math.max(edgeMass, pathMass);
  const confidence = 1 - mm;
  const base = {
    confidence,
    missingMass: mm,
    observations: n,
    singletons: n1,
    ...(stats.lastNewEdgeAt !== undefined ? { lastNewEdgeAt: stats.lastNewEdgeAt } : {}),
  };

  if (n === 0) return { ...base, state: 'learning', reason: 'no observations yet' };

  const pending: string[] = [];
  const since = stats.lastNewEdgeAt ?? stats.firstObservedAt ?? now;
  const quietFor = now - since;
  if (quietFor < c.quietPeriodMs)
    pending.push(`quiet for ${formatDuration(quietFor)} of ${formatDuration(c.quietPeriodMs)}`);
  if (n < c.minObservations) pending.push(`${n} of ${c.minObservations} observations`);
  if (edgeMass > c.maxMissingMass) pending.push(`missing mass ${fmtMass(edgeMass)} > ${fmtMass(c.maxMissingMass)}`);
  if (l7) {
    // an L7 service with no inbound HTTP yet has no templates to converge on: only its edges count
    const pathSince = stats.lastNewPathAt;
    if (pathSince !== undefined && now - pathSince < c.quietPeriodMs)
      pending.push(`no new path template for ${formatDuration(now - pathSince)} of ${formatDuration(c.quietPeriodMs)}`);
    if (stats.pathObservations > 0 && pathMass > c.maxMissingMass)
      pending.push(`path-template missing mass ${fmtMass(pathMass)} > ${fmtMass(c.maxMissingMass)}`);
  }

  if (pending.length === 0) {
    return {
      ...base,
      state: 'converged',
      convergedAt: memory?.state === 'converged' && memory.convergedAt !== undefined ? memory.convergedAt : now,
      reason:
        `converged: quiet for ${formatDuration(quietFor)}, ${n} observations, ` +
        `missing mass ${fmtMass(mm)} ≤ ${fmtMass(c.maxMissingMass)}`,
    };
  }
  const why = pending.join('; ');
  return { ...base, state: 'learning', reason: memory?.regression ? `${memory.regression}; ${why}` : why };
}

interface Tracked {
  readonly stats: ServiceStats;
  memory: ConvergenceMemory;
}

/**
 * Keeps per-service stats incrementally from Learner results and remembers state transitions.
 * A new edge of a converged service sends it back to learning at once (recorded in `transitions`); the way back
 * to converged is found by `evaluate(now)`, called on a tick.
 */
export class ConvergenceTracker {
  private readonly byService = new Map<ServiceName, Tracked>();
  private readonly l7 = new Set<ServiceName>();
  private pending: ConvergenceTransition[] = [];
  readonly config: ConvergenceConfig;

  constructor(cfg: Partial<ConvergenceConfig> = {}) {
    this.config = Object.freeze({ ...DEFAULT_CONVERGENCE, ...cfg });
  }

  /** Transitions not drained yet, oldest first. */
  get transitions(): readonly ConvergenceTransition[] {
    return this.pending;
  }

  drainTransitions(): ConvergenceTransition[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Turns L7 convergence (templates count too) on or off for a service. */
  setL7(service: ServiceName, on: boolean): void {
    if (on) this.l7.add(service);
    else this.l7.delete(service);
  }

  isL7(service: ServiceName): boolean {
    return this.l7.has(service);
  }

  /** Feeds one Learner result; `time` is the observation time. */
  record(result: ObserveResult, time: number): void {
    if (!result.counted && !result.isNew) return;
    const e = result.edge;
    const src = isServicePeer(e.source) ? e.source.service : undefined;
    const dst = isServicePeer(e.destination) ? e.destination.service : undefined;
    if (src !== undefined) this.count(src, e, result.isNew, time);
    if (dst !== undefined && dst !== src) this.count(dst, e, result.isNew, time);
    if (dst !== undefined && result.pathKey !== undefined) {
      this.countPath(dst, `${e.id} ${result.pathKey}`, result.newPath === true, time, e);
    }
  }

  /** Rebuilds stats from stored edges (after a restart): counts and first-seen times come from the evidence. */
  seed(edges: readonly Edge[]): void {
    for (const e of edges) {
      const src = isServicePeer(e.source) ? e.source.service : undefined;
      const dst = isServicePeer(e.destination) ? e.destination.service : undefined;
      for (const svc of src === dst ? [src] : [src, dst]) {
        if (svc === undefined) continue;
        const t = this.tracked(svc);
        const s = t.stats;
        const prev = s.edgeCounts.get(e.id) ?? 0;
        adjust(s, prev, e.evidence.count);
        s.edgeCounts.set(e.id, e.evidence.count);
        s.observations += e.evidence.count - prev;
        const fs = e.evidence.firstSeen;
        if (s.firstObservedAt === undefined || fs < s.firstObservedAt) s.firstObservedAt = fs;
        if (s.lastNewEdgeAt === undefined || fs > s.lastNewEdgeAt) s.lastNewEdgeAt = fs;
      }
      if (dst === undefined) continue;
      const s = this.tracked(dst).stats;
      for (const p of e.evidence.paths ?? []) {
        const k = `${e.id} ${p.method} ${p.path}`;
        const prev = s.pathCounts.get(k) ?? 0;
        adjustPaths(s, prev, p.count);
        s.pathCounts.set(k, p.count);
        s.pathObservations += p.count - prev;
        if (s.lastNewPathAt === undefined || p.firstSeen > s.lastNewPathAt) s.lastNewPathAt = p.firstSeen;
      }
    }
  }

  /** Restores what was persisted for a service (state, convergence time, regression reason). */
  restore(service: ServiceName, memory: ConvergenceMemory): void {
    this.tracked(service).memory = memory;
  }

  memory(service: ServiceName): ConvergenceMemory | undefined {
    return this.byService.get(service)?.memory;
  }

  stats(service: ServiceName): Readonly<ServiceStats> | undefined {
    return this.byService.get(service)?.stats;
  }

  services(): ServiceName[] {
    return [...this.byService.keys()];
  }

  /** Report for one service without changing state. */
  report(service: ServiceName, now: number): ConvergenceReport {
    const t = this.byService.get(service);
    const l7 = this.l7.has(service);
    return t ? assess(t.stats, now, this.config, t.memory, l7) : assess(emptyStats(), now, this.config, undefined, l7);
  }

  /** Assesses every service, records learning → converged transitions, and returns the reports. */
  evaluate(now: number): Map<ServiceName, ConvergenceReport> {
    const out = new Map<ServiceName, ConvergenceReport>();
    for (const [svc, t] of this.byService) {
      const r = assess(t.stats, now, this.config, t.memory, this.l7.has(svc));
      if (r.state === 'converged' && t.memory.state !== 'converged') {
        t.memory = { state: 'converged', convergedAt: now };
        this.pending.push({ service: svc, from: 'learning', to: 'converged', at: now, reason: r.reason });
      }
      out.set(svc, r);
    }
    return out;
  }

  private tracked(service: ServiceName): Tracked {
    let t = this.byService.get(service);
    if (t === undefined) this.byService.set(service, (t = { stats: emptyStats(), memory: { state: 'learning' } }));
    return t;
  }

  private count(service: ServiceName, e: Edge, isNew: boolean, time: number): void {
    const t = this.tracked(service);
    const s = t.stats;
    if (s.firstObservedAt === undefined || time < s.firstObservedAt) s.firstObservedAt = time;
    const prev = s.edgeCounts.get(e.id) ?? 0;
    adjust(s, prev, prev + 1);
    s.edgeCounts.set(e.id, prev + 1);
    s.observations++;
    if (isNew) {
      if (s.lastNewEdgeAt === undefined || time > s.lastNewEdgeAt) s.lastNewEdgeAt = time;
      if (t.memory.state === 'converged') {
        const reason = `new edge ${describeEdge(e)} at ${new Date(time).toISOString()}`;
        t.memory = { state: 'learning', regression: reason };
        this.pending.push({ service, from: 'converged', to: 'learning', at: time, reason });
      }
    }
  }

  private countPath(service: ServiceName, key: string, isNew: boolean, time: number, e: Edge): void {
    const t = this.tracked(service);
    const s = t.stats;
    const prev = s.pathCounts.get(key) ?? 0;
    adjustPaths(s, prev, prev + 1);
    s.pathCounts.set(key, prev + 1);
    s.pathObservations++;
    if (!isNew) return;
    if (s.lastNewPathAt === undefined || time > s.lastNewPathAt) s.lastNewPathAt = time;
    if (t.memory.state === 'converged' && this.l7.has(service)) {
      const path = key.slice(e.id.length + 1);
      const reason = `new path ${path} on ${describeEdge(e)} at ${new Date(time).toISOString()}`;
      t.memory = { state: 'learning', regression: reason };
      this.pending.push({ service, from: 'converged', to: 'learning', at: time, reason });
    }
  }
}

function adjustPaths(s: ServiceStats, before: number, after: number): void {
  if (before === 1) s.pathSingletons--;
  if (after === 1) s.pathSingletons++;
}

/** Keeps the singleton/doubleton tallies right when an edge's count goes from `before` to `after`. */
function adjust(s: ServiceStats, before: number, after: number): void {
  if (before === 1) s.singletons--;
  if (before === 2) s.doubletons--;
  if (after === 1) s.singletons++;
  if (after === 2) s.doubletons++;
}
