// Learned edges → the rows of the per-edge Prometheus metrics (serve/metrics.ts formats them). Pure.
//
// Cardinality is bounded: the first `max` edges (in the order given: the learner's, which is the order they were
// learned, so an edge keeps its series from scrape to scrape) get labels of their own; every further edge is merged
// into one row labelled `source="other", destination="other", port="0", protocol="other"`. A row is at most
// PROM_BOUNDS_MS.length + 3 series of the histogram (buckets, +Inf, sum, count) plus two counters.
import type { Edge, LatencyEvidence, Peer } from '../model/index.js';
import { isServicePeer } from '../model/index.js';
import { emptyLatency, mergeLatency, promBuckets } from './latency.js';

/** Edges with their own labels on the metrics endpoint, by default. */
export const DEFAULT_EDGE_METRICS_MAX = 500;

export interface EdgeMetricLabels {
  readonly source: string;
  readonly destination: string;
  readonly port: string;
  readonly protocol: string;
}

export interface EdgeMetricRow {
  readonly labels: EdgeMetricLabels;
  /** requests (connections for tcp) */
  requests: number;
  errors: number;
  /** the request-duration histogram; undefined when no duration was measured */
  latency?: LatencyEvidence;
}

export const OTHER_EDGES: EdgeMetricLabels = { source: 'other', destination: 'other', port: '0', protocol: 'other' };

/** A peer as a label value: the service, or the external's address range (its SNI is left out: unbounded). */
export function peerLabel(p: Peer): string {
  return isServicePeer(p) ? p.service : p.cidr;
}

/** One row per edge for the first `max` edges, then one `other` row for the rest (absent when there is none). */
export function edgeMetricRows(edges: Iterable<Edge>, max = DEFAULT_EDGE_METRICS_MAX): EdgeMetricRow[] {
  const rows: EdgeMetricRow[] = [];
  const byLabels = new Map<string, EdgeMetricRow>();
  let other: EdgeMetricRow | undefined;
  for (const e of edges) {
    const ev = e.evidence;
    const labels = {
      source: peerLabel(e.source),
      destination: peerLabel(e.destination),
      port: String(e.port),
      protocol: e.protocol,
    };
    // two externals that differ only by SNI share their labels: one row
    const key = `${labels.source}|${labels.destination}|${labels.port}|${labels.protocol}`;
    let row = byLabels.get(key);
    if (row === undefined) {
      if (byLabels.size < max) {
        row = { labels, requests: 0, errors: 0 };
        byLabels.set(key, row);
        rows.push(row);
      } else {
        row = other ??= { labels: OTHER_EDGES, requests: 0, errors: 0 };
      }
    }
    row.requests += ev.count;
    row.errors += ev.errors ?? 0;
    if (ev.latency !== undefined) mergeLatency((row.latency ??= emptyLatency()), ev.latency);
  }
  if (other !== undefined) rows.push(other);
  return rows;
}

/** Cumulative bucket counts of a row (PROM_BOUNDS_MS, then +Inf), its sum in seconds and its count. */
export function rowHistogram(row: EdgeMetricRow): { buckets: number[]; sumSeconds: number; count: number } | undefined {
  if (row.latency === undefined) return undefined;
  const buckets = promBuckets(row.latency);
  return { buckets, sumSeconds: row.latency.sumMs / 1000, count: buckets[buckets.length - 1]! };
}
