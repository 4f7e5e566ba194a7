// What the API and the CLI show of traces: the span view (`nanoseg trace ID -o json`) and the tree (the table
// output). Pure.
import type { SpanVerdict, StoredSpan } from './types.js';

/** One hop of a trace, as `nanoseg trace ID -o json` prints it. */
export interface TraceSpanView {
  readonly spanId: string;
  /** '' for a root */
  readonly parentSpanId: string;
  readonly service: string;
  readonly workload: string;
  /** the other end of the hop: the service (or address) called, or the caller */
  readonly peer: string;
  readonly durationMs: number;
  /** the HTTP status when known, else the OTLP status (ok, error, unset) */
  readonly status: string;
  /** the segment's verdict on the request at this hop */
  readonly verdict: SpanVerdict;
}

export function spanView(s: StoredSpan): TraceSpanView {
  return {
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    service: s.service,
    workload: s.workload,
    peer: s.peer,
    durationMs: Math.round(s.durationMs * 1000) / 1000,
    status: s.status,
    verdict: s.verdict,
  };
}

/**
 * The spans as a tree, children under their parent in start order; a span whose parent is not among them (not
 * received, or evicted) is shown as a root, and so is the first of a cycle in bad data. One line per hop:
 *   `shop/web (web-1) → shop/api  12.3 ms  200  allowed`
 * Client hops read "→ peer" (who was called), server hops "← peer" (who called).
 */
export function traceTree(spans: readonly TraceSpanView[], kinds: ReadonlyMap<string, string> = new Map()): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, TraceSpanView[]>();
  const roots: TraceSpanView[] = [];
  for (const s of spans) {
    if (s.parentSpanId === '' || !ids.has(s.parentSpanId)) roots.push(s);
    else {
      const list = children.get(s.parentSpanId);
      if (list) list.push(s);
      else children.set(s.parentSpanId, [s]);
    }
  }
  const lines: string[] = [];
  const seen = new Set<string>();
  const walk = (s: TraceSpanView, prefix: string, last: boolean, top: boolean): void => {
    if (seen.has(s.spanId)) return; // a cycle in bad data is shown once
    seen.add(s.spanId);
    const arrow = kinds.get(s.spanId) === 'server' ? '←' : '→';
    const head = top ? '' : prefix + (last ? '└─ ' : '├─ ');
    lines.push(
      `${head}${s.service} (${s.workload}) ${arrow} ${s.peer || '?'}  ${s.durationMs} ms  ${s.status}  ${s.verdict}`,
    );
    const kids = children.get(s.spanId) ?? [];
    const next = top ? '' : prefix + (last ? '   ' : '│  ');
    kids.forEach((k, i) => walk(k, next, i === kids.length - 1, false));
  };
  for (const r of roots) walk(r, '', true, true);
  // spans only reachable through a cycle (bad data) still show, each once
  for (const s of spans) if (!seen.has(s.spanId)) walk(s, '', true, true);
  return lines.join('\n') + (lines.length ? '\n' : '');
}
