// What the trace store holds and answers, as the API and the CLI see it.
import type { ServiceName, SpanKind, Verdict } from '../model/index.js';

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
  readonly verdict: SpanVerdict;
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
  /** distinct strings the kept spans name (services, workloads, peers, span names, statuses) */
  strings: number;
  readonly budgetBytes: number;
  evictedTraces: number;
  droppedSpans: number;
  duplicateSpans: number;
}
