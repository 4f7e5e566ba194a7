// Recent traces, bounded in memory: the spans the OTLP receiver accepted, grouped by trace id, for `nanoseg traces`
// and `nanoseg trace ID`. Pure in-memory state; time comes from the spans.
//
// Compact: spans live in columns of typed arrays (columns.ts) with their strings interned (strings.ts), and traces
// are found by id in a typed-array hash table (trace-table.ts), so a full store is a few buffers outside the
// JavaScript heap, not hundreds of thousands of small objects: those made every garbage collection slow and held
// the event loop (otlp-ingest's paced loop delay).
// Bounded: a span is charged its slot's columns (its trace's table slots included), a trace its arrival entry, an
// interned string and a request key their characters and slots; when the total passes the budget (`serve
// --trace-buffer MIB`, default 64), whole traces go, oldest first (a ring of traces in arrival order). One trace
// keeps at most MAX_SPANS_PER_TRACE spans; more are dropped and counted. Requests join by their
// key (learn/request-id.ts): an access-log verdict (denied, would-deny) marks the span of the sidecar that decided,
// whether the span arrived before the log entry or after it (a bounded memory of verdicts waiting for their span),
// and an alert can name the trace of the request it is about. Only the spans of sidecars that can decide (a service in
// monitor or enforce: `decides`) are indexed by request key; a learning sidecar logs no verdict, and the index was the
// largest cost of storing a span.

import type { SpanFacts } from '../learn/spans.js';
import { SPAN_KINDS, type DecodedSpan, type ServiceName, type SpanKind, type Verdict } from '../model/index.js';
import {
  Columns,
  SLOT_COLUMN_BYTES,
  STRINGS_PER_SPAN,
  S_NAME,
  S_NODE,
  S_PEER,
  S_SERVICE,
  S_STATUS,
  S_WORKLOAD,
  NO_SLOT,
  hexWord,
  wordHex,
} from './columns.js';
import { StringTable } from './strings.js';
import { TraceTable, idWords, type IdWords } from './trace-table.js';
import type { SpanVerdict, StoredSpan, TraceQuery, TraceStoreStats, TraceSummary } from './types.js';

export const MAX_SPANS_PER_TRACE = 512;
/** verdicts whose span has not arrived yet, kept at most */
const MAX_PENDING_VERDICTS = 10_000;
/** what a trace costs besides its slot's columns: its arrival entry (two array slots) and its free-list slot */
const TRACE_BYTES = 32;
/** what a joined request key costs besides its characters: its string header and its map entry */
const KEY_OVERHEAD_BYTES = 64;
const VERDICTS: readonly SpanVerdict[] = ['allowed', 'denied', 'would-deny'];
const DENIED = VERDICTS.indexOf('denied');
/** HTTP status codes as strings, made once (a span's status would otherwise be a new string per span) */
const STATUS_TEXT: string[] = [];
function statusText(code: number): string {
  if (!Number.isInteger(code) || code < 0 || code >= 1000) return String(code);
  return (STATUS_TEXT[code] ??= String(code));
}

const KIND_CODE = new Map<SpanKind, number>(SPAN_KINDS.map((k, i) => [k, i]));

export class TraceStore {
  private readonly cols: Columns;
  private readonly strings = new StringTable();
  /** trace id → its trace slot */
  private readonly table: TraceTable;
  /** the id being looked up, as words (one array for every lookup) */
  private readonly words: IdWords = [0, 0, 0, 0];
  private readonly freeSpans: number[] = [];
  private readonly freeTraces: number[] = [];
  private spanSlots = 0;
  private traceSlots = 0;
  private nextSeq = 1;
  /**
   * The traces in arrival order, oldest at `head`, as (slot, sequence) pairs; a pair whose slot's sequence differs
   * is of a trace gone since, and is skipped. Eviction (oldest first) and `list` (newest first) read it.
   */
  private readonly arrival: number[] = [];
  private readonly arrivalSeq: number[] = [];
  private head = 0;
  /** request key → trace slot, for the spans in the store of sidecars that can decide */
  private readonly byRequest = new Map<string, number>();
  /** request key → verdicts reported before their span arrived */
  private readonly pending = new Map<string, { enforcer: ServiceName; verdict: Verdict }[]>();
  private spanBytes = 0;
  readonly stats: TraceStoreStats;

  /** `decides(service)`: whether that service's sidecar can log a verdict now (default: every one) */
  constructor(
    budgetBytes: number,
    private readonly decides: (service: ServiceName) => boolean = () => true,
  ) {
    // every span is charged its columns at least, so the budget bounds the slots; one more for the span being added
    this.cols = new Columns(Math.floor(Math.max(0, budgetBytes) / SLOT_COLUMN_BYTES) + 1);
    this.table = new TraceTable(this.cols.size);
    this.stats = {
      traces: 0,
      spans: 0,
      bytes: 0,
      strings: 0,
      budgetBytes,
      evictedTraces: 0,
      droppedSpans: 0,
      duplicateSpans: 0,
    };
  }

  /** Adds one accepted span; false when it was dropped (its trace is full, or it is there already). */
  add(span: DecodedSpan, facts: SpanFacts): boolean {
    const c = this.cols;
    const idHi = hexWord(span.spanId, 0);
    const idLo = hexWord(span.spanId, 8);
    const w = idWords(span.traceId, this.words);
    let t = this.table.find(w);
    if (t === NO_SLOT) {
      t = this.newTrace(w);
    } else {
      if (c.count[t]! >= MAX_SPANS_PER_TRACE) {
        this.stats.droppedSpans++;
        return false;
      }
      for (let s = c.first[t]!; s !== NO_SLOT; s = c.next[s]!) {
        if (c.spanId[2 * s] === idHi && c.spanId[2 * s + 1] === idLo) {
          this.stats.duplicateSpans++;
          return false;
        }
      }
    }
    const s = this.freeSpans.pop() ?? this.spanSlots++;
    c.ensure(s);
    c.spanId[2 * s] = idHi;
    c.spanId[2 * s + 1] = idLo;
    const root = span.parentSpanId.length !== 16;
    c.parentId[2 * s] = root ? 0 : hexWord(span.parentSpanId, 0);
    c.parentId[2 * s + 1] = root ? 0 : hexWord(span.parentSpanId, 8);
    c.start[s] = span.startMs;
    c.duration[s] = Math.max(0, span.endMs - span.startMs);
    const status = facts.httpStatus !== undefined ? statusText(facts.httpStatus) : facts.error ? 'error' : span.status;
    const str = s * STRINGS_PER_SPAN;
    c.strings[str + S_SERVICE] = this.strings.ref(facts.service);
    c.strings[str + S_WORKLOAD] = this.strings.ref(facts.workload);
    c.strings[str + S_NODE] = this.strings.ref(facts.node);
    c.strings[str + S_PEER] = this.strings.ref(facts.peer);
    c.strings[str + S_NAME] = this.strings.ref(span.name);
    c.strings[str + S_STATUS] = this.strings.ref(status);
    c.kind[s] = KIND_CODE.get(span.kind) ?? 0;
    c.error[s] = facts.error ? 1 : 0;
    c.verdict[s] = 0;
    c.next[s] = NO_SLOT;
    if (c.count[t] === 0) c.first[t] = s;
    else c.next[c.last[t]!] = s;
    c.last[t] = s;
    c.count[t]!++;
    this.spanBytes += SLOT_COLUMN_BYTES;
    const key = facts.requestKey;
    if (key !== undefined) {
      if (this.decides(facts.service)) {
        c.key[s] = key;
        this.spanBytes += KEY_OVERHEAD_BYTES + key.length;
        this.byRequest.set(key, t);
        c.indexed[t] = 1;
      }
      const waiting = this.pending.get(key);
      if (waiting) {
        for (const w of waiting) if (w.enforcer === facts.service) c.verdict[s] = VERDICTS.indexOf(w.verdict);
        if (waiting.every((w) => w.enforcer === facts.service)) this.pending.delete(key);
      }
    }
    this.stats.spans++;
    this.account();
    this.evict(t);
    return true;
  }

  /**
   * A verdict of the sidecar of `enforcer` on the request with this key: marks that service's span of the
   * request, now or when it arrives.
   */
  verdict(requestKey: string, enforcer: ServiceName, verdict: Verdict): void {
    const t = this.byRequest.get(requestKey);
    const service = this.strings.find(enforcer);
    if (t !== undefined && service !== undefined) {
      const c = this.cols;
      for (let s = c.first[t]!; s !== NO_SLOT; s = c.next[s]!) {
        if (c.key[s] === requestKey && c.strings[s * STRINGS_PER_SPAN + S_SERVICE] === service) {
          c.verdict[s] = VERDICTS.indexOf(verdict);
          return;
        }
      }
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
    const t = this.byRequest.get(requestKey);
    return t === undefined ? undefined : this.table.hex(t);
  }

  /** Summaries of the traces that match, newest first. */
  list(q: TraceQuery = {}): TraceSummary[] {
    const out: TraceSummary[] = [];
    const limit = q.limit ?? 100;
    const service = q.service === undefined ? undefined : this.strings.find(q.service);
    if (q.service !== undefined && service === undefined) return out; // no span names it
    const c = this.cols;
    for (let i = this.arrival.length - 1; i >= this.head && out.length < limit; i--) {
      if (!this.live(i)) continue;
      const t = this.arrival[i]!;
      if (service !== undefined) {
        let has = false;
        for (let s = c.first[t]!; s !== NO_SLOT && !has; s = c.next[s]!)
          has = c.strings[s * STRINGS_PER_SPAN + S_SERVICE] === service;
        if (!has) continue;
      }
      const sum = this.summarize(t);
      if (q.errors && !sum.error) continue;
      if (q.slowerThanMs !== undefined && !(sum.durationMs > q.slowerThanMs)) continue;
      out.push(sum);
    }
    return out;
  }

  /** One trace: its summary and its spans in start order. */
  get(traceId: string): { summary: TraceSummary; spans: readonly StoredSpan[] } | undefined {
    if (!/^[0-9a-fA-F]{32}$/.test(traceId)) return undefined;
    const t = this.table.find(idWords(traceId, this.words));
    if (t === NO_SLOT) return undefined;
    return { summary: this.summarize(t), spans: this.spansOf(t).sort((a, b) => a.startMs - b.startMs) };
  }

  /** The spans of trace slot `t` as objects, in arrival order (for the API: made on demand, never kept). */
  private spansOf(t: number): StoredSpan[] {
    const c = this.cols;
    const traceId = this.table.hex(t);
    const text = (s: number, field: number) => this.strings.text(c.strings[s * STRINGS_PER_SPAN + field]!);
    const out: StoredSpan[] = [];
    for (let s = c.first[t]!; s !== NO_SLOT; s = c.next[s]!) {
      const p0 = c.parentId[2 * s]!;
      const p1 = c.parentId[2 * s + 1]!;
      out.push({
        traceId,
        spanId: wordHex(c.spanId[2 * s]!) + wordHex(c.spanId[2 * s + 1]!),
        parentSpanId: p0 === 0 && p1 === 0 ? '' : wordHex(p0) + wordHex(p1),
        name: text(s, S_NAME),
        kind: SPAN_KINDS[c.kind[s]!]!,
        service: text(s, S_SERVICE),
        workload: text(s, S_WORKLOAD),
        node: text(s, S_NODE),
        peer: text(s, S_PEER),
        startMs: c.start[s]!,
        durationMs: c.duration[s]!,
        status: text(s, S_STATUS),
        error: c.error[s] === 1,
        verdict: VERDICTS[c.verdict[s]!]!,
      });
    }
    return out;
  }

  /**
   * A trace's summary from its columns: its start, duration, whether a hop failed or was denied, and the service of
   * its root (the earliest span whose parent is not in the store: not received, or evicted).
   */
  private summarize(t: number): TraceSummary {
    const c = this.cols;
    let start = Infinity;
    let end = -Infinity;
    let error = false;
    let root = NO_SLOT;
    const ids = c.count[t]! > 32 ? c.spanIds(t) : undefined;
    for (let s = c.first[t]!; s !== NO_SLOT; s = c.next[s]!) {
      const st = c.start[s]!;
      if (st < start) start = st;
      if (st + c.duration[s]! > end) end = st + c.duration[s]!;
      if (c.error[s] === 1 || c.verdict[s] === DENIED) error = true;
      if ((root === NO_SLOT || st < c.start[root]!) && !c.hasParentIn(t, s, ids)) root = s;
    }
    return {
      traceId: this.table.hex(t),
      rootService: root === NO_SLOT ? '' : this.strings.text(c.strings[root * STRINGS_PER_SPAN + S_SERVICE]!),
      startTime: new Date(Number.isFinite(start) ? start : 0).toISOString(),
      durationMs: Number.isFinite(end - start) ? Math.round((end - start) * 1000) / 1000 : 0,
      error,
    };
  }

  private newTrace(w: IdWords): number {
    const c = this.cols;
    const t = this.freeTraces.pop() ?? this.traceSlots++;
    c.ensure(t);
    this.table.ensure(c.size, (x) => c.seq[x] !== 0);
    c.first[t] = NO_SLOT;
    c.last[t] = NO_SLOT;
    c.count[t] = 0;
    c.indexed[t] = 0;
    const seq = this.nextSeq++;
    c.seq[t] = seq;
    this.table.add(t, w);
    this.arrival.push(t);
    this.arrivalSeq.push(seq);
    this.stats.traces++;
    return t;
  }

  private account(): void {
    this.stats.bytes = this.spanBytes + this.stats.traces * TRACE_BYTES + this.strings.bytes;
    this.stats.strings = this.strings.size;
  }

  /** Oldest traces go while the store is over its budget (never the one just added to, unless it alone is). */
  private evict(current: number): void {
    while (this.stats.bytes > this.stats.budgetBytes && this.stats.traces > 0) {
      const oldest = this.oldest(current);
      if (oldest === undefined) break;
      this.remove(oldest);
      this.account();
    }
    if (this.head > 1024 && this.head * 2 > this.arrival.length) {
      this.arrival.splice(0, this.head);
      this.arrivalSeq.splice(0, this.head);
      this.head = 0;
    }
  }

  private live(i: number): boolean {
    return this.cols.seq[this.arrival[i]!] === this.arrivalSeq[i];
  }

  /** The oldest trace in the store, other than `current` when there is another. */
  private oldest(current: number): number | undefined {
    while (this.head < this.arrival.length && !this.live(this.head)) this.head++;
    for (let i = this.head; i < this.arrival.length; i++) {
      const t = this.arrival[i]!;
      // the newest trace grew past the budget on its own account: the oldest other one goes first
      if (this.live(i) && (t !== current || this.stats.traces === 1)) return t;
    }
    return undefined;
  }

  private remove(t: number): void {
    const c = this.cols;
    const indexed = c.indexed[t] === 1;
    for (let s = c.first[t]!; s !== NO_SLOT; s = c.next[s]!) {
      for (let f = 0; f < STRINGS_PER_SPAN; f++) this.strings.release(c.strings[s * STRINGS_PER_SPAN + f]!);
      this.spanBytes -= SLOT_COLUMN_BYTES;
      const key = indexed ? c.key[s] : undefined;
      if (key !== undefined) {
        if (this.byRequest.get(key) === t) this.byRequest.delete(key);
        c.key[s] = undefined;
        this.spanBytes -= KEY_OVERHEAD_BYTES + key.length;
      }
      this.freeSpans.push(s);
    }
    this.table.delete(t);
    c.seq[t] = 0;
    this.freeTraces.push(t);
    this.stats.traces--;
    this.stats.spans -= c.count[t]!;
    this.stats.evictedTraces++;
  }
}
