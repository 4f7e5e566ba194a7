// The ObservationSource seam: where observed connections come from. Envoy's access logs today (serve/als.ts with
// learn/envoy-flows.ts); kernel flow events (UDP, ICMP) and OTLP spans next. Every source produces ObservedFlows
// for one sink (the ingest controller), which deduplicates them in one place (the learner), whatever their origin.
import type { ObservedFlow } from '../model/index.js';

export interface ObservationSink {
  /** A batch of flows, in the order the source saw them. Never throws. */
  observe(flows: readonly ObservedFlow[]): void;
  /** Input that could not be turned into flows, counted by kind and logged once a minute per kind. */
  rejected(kind: string, count: number, detail: string, node?: string): void;
  /** Stream bookkeeping for status and metrics (optional). */
  streamOpened?(): void;
  streamClosed?(): void;
}

export interface ObservationSource {
  /** For logs and status: "envoy-als", "kernel", "otlp". */
  readonly name: string;
  /** Starts delivering to the sink; idempotent. */
  start(sink: ObservationSink): Promise<void>;
  stop(): Promise<void>;
}
