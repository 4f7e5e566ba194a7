// Recent traces, bounded in memory: the spans the OTLP receiver accepted, grouped by trace id, for `nanoseg traces`
// and `nanoseg trace ID`. Pure in-memory state; time comes from the spans.
//
// Bounded: every span is charged an estimate of what it holds (a fixed part plus its strings); when the total passes
// the budget (`serve --trace-buffer MIB`, default 64), whole traces go, oldest first (a ring of traces in arrival
// order). One trace keeps at most MAX_SPANS_PER_TRACE spans; more are dropped and counted. Requests join by their
// key (learn/request-id.ts): an access-log verdict (denied, would-deny) marks the span of the sidecar that decided,
// whether the span arrived before the log entry or after it (a bounded memory of verdicts waiting for their span),
// and an alert can name the trace of the request it is about. Only the spans of sidecars that can decide (a service in
// monitor or enforce: `decides`) are indexed by request key; a learning sidecar logs no verdict, and the index was the
// largest cost of storing a span.

import type { SpanFacts } from '../learn/spans.js';
import type { DecodedSpan, ServiceName, SpanKind, Verdict } from '../model/index.js';

export type SpanVerdict = Verdict | 'allowed';

export interface StoredSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: SpanKind;
  readonly service: ServiceName;
  readonly workload: string;
  readonly node: string;
  readonly peer: string;
  readonly startMs: number;
  readonly durationMs: number;
  /** the HTTP status when the span has one, else the OTLP status ("ok", "error", "unset") */
  readonly status: string;
  readonly error: boolean;
  verdict: SpanVerdict;
  readonly requestKey: string | undefined;
}

export interface TraceSummary {
  readonly traceId: string;
  readonly rootService: ServiceName;
  /** ISO time of the earliest span's start */
  readonly startTime: string;
  readonly durationMs: number;
  readonly error: boolean;
}

export interface TraceQuery {
  readonly service?: ServiceName;
  readonly errors?: boolean;
  readonly slowerThanMs?: number;
  readonly limit?: number;
}

export interface TraceStoreStats {
  traces: number;
  spans: number;
  bytes: number;
  readonly budgetBytes: number;
  evictedTraces: number;
  droppedSpans: number;
  duplicateSpans: number;
}

interface TraceEntry {
  readonly traceId: string;
  readonly spans: StoredSpan[];
  bytes: number;
  /** some span of it is in the request-key index */
  indexed: boolean;
  /** evicted: the arrival ring still holds it until its head passes */
  gone: boolean;
}

export const MAX_SPANS_PER_TRACE = 512;
/** verdicts whose span has not arrived yet, kept at most */
const MAX_PENDING_VERDICTS = 10_000;
/** what a span costs besides its strings (object, fields, array and map slots) */
const SPAN_OVERHEAD_BYTES = 320;

/** HTTP status codes as strings, made once (a span's status would otherwise be a new string per span) */
const STATUS_TEXT: string[] = [];
function statusText(code: number): string {
  if (!Number.isInteger(code) || code < 0 || code >= 1000) return String(code);
  return (STATUS_TEXT[code] ??= String(code));
}

function spanBytes(s: StoredSpan): number {
  const strings =
    s.traceId.length +
    s.spanId.length +
    s.parentSpanId.length +
    s.name.length +
    s.service.length +
    s.workload.length +
    s.node.length +
    s.peer.length +
    s.status.length +
    (s.requestKey?.length ?? 0);
  return SPAN_OVERHEAD_BYTES + 2 * strings;
}

export class TraceStore {
  private readonly traces = new Map<string, TraceEntry>();
  /**
   * The traces in arrival order, oldest at `head` (entries of traces gone since are skipped). Eviction reads it,
   * never the map's own order: a Map's first key after many deletions at its front costs a walk over the deleted
   * slots (V8), which made eviction quadratic — the store's add was a third of the ingest CPU once full.
   */
  private readonly arrival: TraceEntry[] = [];
  private head = 0;
  /** request key → trace, for the spans in the store of sidecars that can decide */
  private readonly byRequest = new Map<string, TraceEntry>();
  /** request key → verdicts reported before their span arrived */
  private readonly pending = new Map<string, { enforcer: ServiceName; verdict: Verdict }[]>();
  readonly stats: TraceStoreStats;

  /** `decides(service)`: whether that service's sidecar can log a verdict now (default: every one) */
  constructor(
    budgetBytes: number,
    private readonly decides: (service: ServiceName) => boolean = () => true,
  ) {
    this.stats = {
      traces: 0,
      spans: 0,
      bytes: 0,
      budgetBytes,
      evictedTraces: 0,
      droppedSpans: 0,
      duplicateSpans: 0,
    };
  }

  /** Adds one accepted span; false when it was dropped (its trace is full, or it is there already). */
  add(span: DecodedSpan, facts: SpanFacts): boolean {
    let t = this.traces.get(span.traceId);
    if (t === undefined) {
      t = { traceId: span.traceId, spans: [], bytes: 0, indexed: false, gone: false };
      this.traces.set(span.traceId, t);
      this.arrival.push(t);
      this.stats.traces++;
    } else {
      if (t.spans.length >= MAX_SPANS_PER_TRACE) {
        this.stats.droppedSpans++;
        return false;
      }
      if (t.spans.some((s) => s.spanId === span.spanId)) {
        this.stats.duplicateSpans++;
        return false;
      }
    }
    const key = facts.requestKey;
    const stored: StoredSpan = {
      traceId: t.traceId, // one string per trace, not one per span
      spanId: span.spanId,
      parentSpanId: span.parentSpanId,
      name: span.name,
      kind: span.kind,
      service: facts.service,
      workload: facts.workload,
      node: facts.node,
      peer: facts.peer,
      startMs: span.startMs,
      durationMs: Math.max(0, span.endMs - span.startMs),
      status: facts.httpStatus !== undefined ? statusText(facts.httpStatus) : facts.error ? 'error' : span.status,
      error: facts.error,
      verdict: 'allowed',
      requestKey: key,
    };
    if (key !== undefined) {
      if (this.decides(stored.service)) {
        this.byRequest.set(key, t);
        t.indexed = true;
      }
      const waiting = this.pending.get(key);
      if (waiting) {
        for (const w of waiting) if (w.enforcer === stored.service) stored.verdict = w.verdict;
        if (waiting.every((w) => w.enforcer === stored.service)) this.pending.delete(key);
      }
    }
    const b = spanBytes(stored);
    t.spans.push(stored);
    t.bytes += b;
    this.stats.spans++;
    this.stats.bytes += b;
    this.evict(span.traceId);
    return true;
  }

  /**
   * A verdict of the sidecar of `enforcer` on the request with this key: marks that service's span of the
   * request, now or when it arrives.
   */
  verdict(requestKey: string, enforcer: ServiceName, verdict: Verdict): void {
    const t = this.byRequest.get(requestKey);
    const span = t?.spans.find((s) => s.requestKey === requestKey && s.service === enforcer);
    if (span) {
      span.verdict = verdict;
      return;
    }
    if (this.pending.size >= MAX_PENDING_VERDICTS) {
      const oldest = this.pending.keys().next();
      if (!oldest.done) this.pending.delete(oldest.value);
    }
    const list = this.pending.get(requestKey);
    if (list) list.push({ enforcer, verdict });
    else this.pending.set(requestKey, [{ enforcer, verdict }]);
  }

  /** The trace a request belongs to, when one of its spans is in the store. */
  traceOfRequest(requestKey: string): string | undefined {
    return this.byRequest.get(requestKey)?.traceId;
  }

  /** Summaries of the traces that match, newest first. */
  list(q: TraceQuery = {}): TraceSummary[] {
    const out: TraceSummary[] = [];
    const limit = q.limit ?? 100;
    const entries = [...this.traces.values()];
    for (let i = entries.length - 1; i >= 0 && out.length < limit; i--) {
      const t = entries[i]!;
      if (q.service !== undefined && !t.spans.some((s) => s.service === q.service)) continue;
      const s = summarize(t);
      if (q.errors && !s.error) continue;
      if (q.slowerThanMs !== undefined && !(s.durationMs > q.slowerThanMs)) continue;
      out.push(s);
    }
    return out;
  }

  /** One trace: its summary and its spans in start order. */
  get(traceId: string): { summary: TraceSummary; spans: readonly StoredSpan[] } | undefined {
    const t = this.traces.get(traceId.toLowerCase());
    if (t === undefined) return undefined;
    return { summary: summarize(t), spans: [...t.spans].sort((a, b) => a.startMs - b.startMs) };
  }

  /** Oldest traces go while the store is over its budget (never the one just added to, unless it alone is). */
  private evict(current: string): void {
    while (this.stats.bytes > this.stats.budgetBytes && this.traces.size > 0) {
      const oldest = this.oldest(current);
      if (oldest === undefined) break;
      this.remove(oldest);
    }
    if (this.head > 1024 && this.head * 2 > this.arrival.length) {
      this.arrival.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The oldest trace in the store, other than `current` when there is another. */
  private oldest(current: string): TraceEntry | undefined {
    while (this.head < this.arrival.length && this.arrival[this.head]!.gone) this.head++;
    for (let i = this.head; i < this.arrival.length; i++) {
      const t = this.arrival[i]!;
      // the newest trace grew past the budget on its own account: the oldest other one goes first
      if (!t.gone && (t.traceId !== current || this.traces.size === 1)) return t;
    }
    return undefined;
  }

  private remove(t: TraceEntry): void {
    this.traces.delete(t.traceId);
    t.gone = true;
    if (t.indexed)
      for (const s of t.spans) {
        if (s.requestKey !== undefined && this.byRequest.get(s.requestKey) === t) this.byRequest.delete(s.requestKey);
      }
    this.stats.traces--;
    this.stats.spans -= t.spans.length;
    this.stats.bytes -= t.bytes;
    this.stats.evictedTraces++;
  }
}

function summarize(t: TraceEntry): TraceSummary {
  let start = Infinity;
  let end = -Infinity;
  let error = false;
  const ids = new Set(t.spans.map((s) => s.spanId));
  let root: StoredSpan | undefined;
  for (const s of t.spans) {
    if (s.startMs < start) start = s.startMs;
    if (s.startMs + s.durationMs > end) end = s.startMs + s.durationMs;
    if (s.error || s.verdict === 'denied') error = true;
    const isRoot = s.parentSpanId === '' || !ids.has(s.parentSpanId);
    if (isRoot && (root === undefined || s.startMs < root.startMs)) root = s;
  }
  return {
    traceId: t.traceId,
    rootService: root?.service ?? '',
    startTime: new Date(Number.isFinite(start) ? start : 0).toISOString(),
    durationMs: Number.isFinite(end - start) ? Math.round((end - start) * 1000) / 1000 : 0,
    error,
  };
}
