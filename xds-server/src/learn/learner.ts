// Observations → edges with evidence. Pure in-memory state: no I/O, time comes from the observations.
//
// One connection is often logged several times: by the client's outbound listener and the server's inbound
// listener, and for TCP as TcpUpstreamConnected / TcpPeriodic / TcpConnectionEnd. All those logs carry the same
// dedup key (see als.ts). A bounded TTL table (dedup-table.ts) remembers recent keys so the connection counts once
// and its byte counters (cumulative in every log) are added as deltas.

import type { Edge, EdgeKey, Evidence, Observation, Peer, ServiceName } from '../model/index.js';
import { edgeId, isServicePeer, peerId } from '../model/index.js';
import { DedupTable, OUTCOME_CLIENT_DURATION, OUTCOME_ERROR } from './dedup-table.js';
import { recordPath, type PathsState } from './l7.js';
import { emptyLatency, recordLatency, restoreLatency, unrecordLatency } from './latency.js';

export interface LearnerOptions {
  /** How long a dedup key is remembered after its last log (default 120 s). Must exceed the TCP flush interval. */
  readonly dedupTtlMs?: number;
  /** Upper bound on remembered dedup keys; the least recently seen is evicted first (default 200 000). */
  readonly dedupMaxKeys?: number;
  /** Example source workloads kept per edge (default 3). */
  readonly maxExampleWorkloads?: number;
}

export interface ObserveResult {
  /** The edge this observation was attributed to (a live object: read it, do not keep it across ticks). */
  readonly edge: Edge;
  /** The edge did not exist before this observation. */
  readonly isNew: boolean;
  /** This observation was a new connection/request (false for the other side's log or a repeated TCP log). */
  readonly counted: boolean;
  /** The request's `METHOD path-template` when it was counted on an HTTP/gRPC edge (learn/l7.ts) */
  readonly pathKey?: string;
  /** That template was new on the edge (or collapsed the edge's templates into wildcards). */
  readonly newPath?: boolean;
}

export interface ServiceEdges {
  readonly ingress: Edge[];
  readonly egress: Edge[];
}

interface ServiceSlot {
  readonly ingress: Set<Edge>;
  readonly egress: Set<Edge>;
}

const DEFAULT_TTL_MS = 120_000;
const DEFAULT_MAX_KEYS = 200_000;

function copyEvidence(ev: Evidence): Evidence {
  const out: Evidence = { ...ev, exampleWorkloads: [...ev.exampleWorkloads] };
  if (ev.paths !== undefined) out.paths = ev.paths.map((p) => ({ ...p }));
  if (ev.latency !== undefined) out.latency = { ...ev.latency, counts: [...ev.latency.counts] };
  return out;
}

function copyEdge(e: Edge): Edge {
  return {
    id: e.id,
    source: e.source,
    destination: e.destination,
    protocol: e.protocol,
    port: e.port,
    evidence: copyEvidence(e.evidence),
  };
}

export class Learner {
  private readonly byId = new Map<string, Edge>();
  /** Every edge, by the index the dedup table stores. */
  private readonly list: Edge[] = [];
  /** peerId(source) → peerId(destination) → `${protocol}/${port}` → index in `list`, without building the id. */
  private readonly byPeers = new Map<string, Map<string, Map<string, number>>>();
  private readonly services = new Map<ServiceName, ServiceSlot>();
  private readonly dedup: DedupTable;
  private dirtyIds = new Set<string>();
  private clock = 0;
  private readonly maxExamples: number;

  constructor(opts: LearnerOptions = {}) {
    this.dedup = new DedupTable(opts.dedupMaxKeys ?? DEFAULT_MAX_KEYS, opts.dedupTtlMs ?? DEFAULT_TTL_MS);
    this.maxExamples = opts.maxExampleWorkloads ?? 3;
  }

  /** Number of known edges. */
  get size(): number {
    return this.byId.size;
  }

  /** Number of remembered dedup keys (for metrics). */
  get dedupSize(): number {
    return this.dedup.size;
  }

  observe(obs: Observation): ObserveResult {
    const t = obs.time;
    if (t > this.clock) this.clock = t;
    const key = obs.dedupKey;

    const dedup = this.dedup;
    if (key !== undefined && dedup.lookup(key, this.clock)) {
      // Another log of a connection/request already counted: only the growth of its cumulative bytes counts.
      // Whichever side logged first chose the edge; the other side's attribution is the same in practice.
      const g = dedup.hit!;
      const i = dedup.slot;
      const idx = g.edge[i]!;
      let sent = g.sent[i]!;
      let received = g.received[i]!;
      const edge = this.list[idx]!;
      const ev = edge.evidence;
      let changed = false;
      if (obs.bytesSent > sent) {
        ev.bytesSent += obs.bytesSent - sent;
        sent = obs.bytesSent;
        changed = true;
      }
      if (obs.bytesReceived > received) {
        ev.bytesReceived += obs.bytesReceived - received;
        received = obs.bytesReceived;
        changed = true;
      }
      if (t > ev.lastSeen) {
        ev.lastSeen = t;
        changed = true;
      }
      if (obs.sourceWorkload !== undefined) changed = this.addExample(ev, obs.sourceWorkload) || changed;
      let duration = g.duration[i]!;
      let flags = g.flags[i]!;
      if (obs.error === true && (flags & OUTCOME_ERROR) === 0) {
        // the request failed as this record saw it (the client's sidecar sees a connection failure the server never
        // logs): it counts as one error, once
        ev.errors = (ev.errors ?? 0) + 1;
        flags |= OUTCOME_ERROR;
        changed = true;
      }
      const d = obs.durationMs;
      if (d !== undefined && d >= 0 && (flags & OUTCOME_CLIENT_DURATION) === 0) {
        // The caller's view (the client sidecar's record) is the request's duration; the server's stands in until
        // it arrives and is replaced then.
        const client = obs.side === 'outbound';
        if (duration < 0 || client) {
          const h = (ev.latency ??= emptyLatency());
          if (duration >= 0) unrecordLatency(h, duration);
          recordLatency(h, d);
          duration = d;
          if (client) flags |= OUTCOME_CLIENT_DURATION;
          changed = true;
        }
      }
      if (changed) this.dirtyIds.add(edge.id);
      // refreshes the key (and moves it to the current generation when it was found in the previous one)
      dedup.set(idx, sent, received, this.clock, duration, flags);
      return { edge, isNew: false, counted: false };
    }

    let isNew = false;
    let idx = this.find(obs.source, obs.destination, obs.protocol, obs.port);
    if (idx < 0) {
      idx = this.insert(
        { source: obs.source, destination: obs.destination, protocol: obs.protocol, port: obs.port },
        { firstSeen: t, lastSeen: t, count: 0, bytesSent: 0, bytesReceived: 0, exampleWorkloads: [] },
      );
      isNew = true;
    }
    const edge = this.list[idx]!;
    const ev = edge.evidence;
    ev.count++;
    ev.bytesSent += obs.bytesSent;
    ev.bytesReceived += obs.bytesReceived;
    if (t > ev.lastSeen) ev.lastSeen = t;
    if (t < ev.firstSeen) ev.firstSeen = t;
    if (obs.sourceWorkload !== undefined) this.addExample(ev, obs.sourceWorkload);
    let flags = 0;
    if (obs.error === true) {
      ev.errors = (ev.errors ?? 0) + 1;
      flags |= OUTCOME_ERROR;
    }
    let duration = -1;
    const d = obs.durationMs;
    if (d !== undefined && d >= 0 && recordLatency((ev.latency ??= emptyLatency()), d)) {
      duration = d;
      if (obs.side === 'outbound') flags |= OUTCOME_CLIENT_DURATION;
    }
    this.dirtyIds.add(edge.id);

    // lookup() above hashed the key: set() remembers it
    if (key !== undefined) dedup.set(idx, obs.bytesSent, obs.bytesReceived, this.clock, duration, flags);
    if (obs.path !== undefined && obs.method !== undefined && obs.protocol !== 'tcp' && obs.protocol !== 'udp') {
      if (ev.paths === undefined) ev.paths = [];
      const r = recordPath(ev as PathsState, obs.method, obs.path, t);
      return { edge, isNew, counted: true, pathKey: `${obs.method} ${r.path}`, newPath: r.isNew };
    }
    return { edge, isNew, counted: true };
  }

  /** A snapshot of every edge (copies). */
  edges(): Edge[] {
    const out: Edge[] = [];
    for (const e of this.byId.values()) out.push(copyEdge(e));
    return out;
  }

  /** Every edge, live and in the order learned (read them, do not change or keep them): for scrape-time metrics. */
  visitEdges(): Iterable<Readonly<Edge>> {
    return this.list;
  }

  /** A snapshot of one edge by id. */
  edge(id: string): Edge | undefined {
    const e = this.byId.get(id);
    return e && copyEdge(e);
  }

  /** Edges into (ingress) and out of (egress) a service, as copies. A self edge appears in both. */
  edgesOf(service: ServiceName): ServiceEdges {
    const slot = this.services.get(service);
    if (slot === undefined) return { ingress: [], egress: [] };
    return { ingress: [...slot.ingress].map(copyEdge), egress: [...slot.egress].map(copyEdge) };
  }

  /**
   * Replaces all state with edges restored from the store. Dedup memory is cleared: logs of connections that
   * were counted before the restart and arrive after it count again (bounded by one TTL of traffic).
   */
  load(edges: readonly Edge[]): void {
    this.byId.clear();
    this.list.length = 0;
    this.byPeers.clear();
    this.services.clear();
    this.dedup.clear();
    this.dirtyIds = new Set();
    for (const e of edges) {
      const ev = e.evidence;
      const copy = copyEvidence(ev);
      copy.exampleWorkloads = copy.exampleWorkloads.slice(0, this.maxExamples);
      // a stored histogram of another layout (or none) starts afresh; its requests still count in `count`
      const latency = restoreLatency(ev.latency);
      if (latency !== undefined) copy.latency = latency;
      else delete copy.latency;
      if (!(typeof copy.errors === 'number' && copy.errors >= 0)) delete copy.errors;
      this.insert(e, copy);
      if (ev.lastSeen > this.clock) this.clock = ev.lastSeen;
    }
  }

  /** Edges changed (or created) since the previous call, as copies, for batched persistence. */
  dirty(): Edge[] {
    if (this.dirtyIds.size === 0) return [];
    const ids = this.dirtyIds;
    this.dirtyIds = new Set();
    const out: Edge[] = [];
    for (const id of ids) {
      const e = this.byId.get(id);
      if (e !== undefined) out.push(copyEdge(e));
    }
    return out;
  }

  /** Puts edges back on the dirty list (a failed write is retried on the next flush). */
  markDirty(edges: readonly Edge[]): void {
    for (const e of edges) this.dirtyIds.add(e.id);
  }

  /** The edge's index in `list`, or -1. */
  private find(source: Peer, destination: Peer, protocol: string, port: number): number {
    const bySrc = this.byPeers.get(peerId(source));
    if (bySrc === undefined) return -1;
    const byDst = bySrc.get(peerId(destination));
    if (byDst === undefined) return -1;
    return byDst.get(`${protocol}/${port}`) ?? -1;
  }

  /** Adds an edge; returns its index in `list`. */
  private insert(k: EdgeKey, evidence: Evidence): number {
    const edge: Edge = {
      id: edgeId(k),
      source: k.source,
      destination: k.destination,
      protocol: k.protocol,
      port: k.port,
      evidence,
    };
    this.byId.set(edge.id, edge);
    const idx = this.list.push(edge) - 1;
    const s = peerId(k.source);
    const d = peerId(k.destination);
    let bySrc = this.byPeers.get(s);
    if (bySrc === undefined) this.byPeers.set(s, (bySrc = new Map()));
    let byDst = bySrc.get(d);
    if (byDst === undefined) bySrc.set(d, (byDst = new Map()));
    byDst.set(`${k.protocol}/${k.port}`, idx);
    if (isServicePeer(k.source)) this.slot(k.source.service).egress.add(edge);
    if (isServicePeer(k.destination)) this.slot(k.destination.service).ingress.add(edge);
    return idx;
  }

  private slot(service: ServiceName): ServiceSlot {
    let s = this.services.get(service);
    if (s === undefined) this.services.set(service, (s = { ingress: new Set(), egress: new Set() }));
    return s;
  }

  private addExample(ev: Evidence, workload: string): boolean {
    const ex = ev.exampleWorkloads;
    if (ex.length >= this.maxExamples || ex.includes(workload)) return false;
    ex.push(workload);
    return true;
  }
}
