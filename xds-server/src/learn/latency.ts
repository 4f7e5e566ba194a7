// Request durations of an edge as a fixed log-scale histogram: bounded (one array of LATENCY_BOUNDS_MS.length + 1
// counts per edge, whatever the traffic), mergeable (add the counts) and cheap (a binary search per request). Pure.
//
// The bounds are 10 per decade, from 0.1 ms to 80 s: 1, 1.25, 1.6, 2, 2.5, 3.2, 4, 5, 6.4, 8 × 10^k (each about
// 2^(1/3) = 26 % above the one before). Every bound of the Prometheus histogram (PROM_BOUNDS_MS) is one of them, so
// the metrics endpoint exports the same counts summed, without a second histogram on the hot path.
//
// Quantiles interpolate linearly inside the bucket that holds the rank (as Prometheus' histogram_quantile does), so
// an estimate is off by at most one bucket's width (26 %) and in practice far less; the first bucket's lower edge is
// 0, and the overflow bucket's upper edge is the largest duration seen.
import type { LatencyEvidence } from '../model/index.js';

const STEPS = [1, 1.25, 1.6, 2, 2.5, 3.2, 4, 5, 6.4, 8];

/** Upper bounds (inclusive) of the buckets, in ms; one more bucket holds everything above the last. */
export const LATENCY_BOUNDS_MS: readonly number[] = (() => {
  const out: number[] = [];
  for (let k = -1; k <= 4; k++) for (const s of STEPS) out.push(Number((s * 10 ** k).toPrecision(3)));
  return out;
})();

export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/** The Prometheus histogram's bounds (ms): each is a LATENCY_BOUNDS_MS entry. */
export const PROM_BOUNDS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** The bucket of a duration: the first bound ≥ ms (LATENCY_BUCKETS - 1 above the last bound). */
export function bucketOf(ms: number): number {
  const b = LATENCY_BOUNDS_MS;
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (b[mid]! >= ms) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function emptyLatency(): LatencyEvidence {
  return { counts: new Array<number>(LATENCY_BUCKETS).fill(0), sumMs: 0, maxMs: 0 };
}

/** Adds one duration (a negative or non-finite one is ignored; false then). */
export function recordLatency(h: LatencyEvidence, ms: number): boolean {
  if (!(ms >= 0) || !Number.isFinite(ms)) return false;
  const i = bucketOf(ms);
  h.counts[i] = (h.counts[i] ?? 0) + 1;
  h.sumMs += ms;
  if (ms > h.maxMs) h.maxMs = ms;
  return true;
}

/**
 * Takes back one duration recorded before (a better measurement of the same request replaces it). The maximum stays:
 * it is an upper edge for the overflow bucket, not a statistic.
 */
export function unrecordLatency(h: LatencyEvidence, ms: number): void {
  const i = bucketOf(ms);
  if ((h.counts[i] ?? 0) > 0) {
    h.counts[i]!--;
    h.sumMs = Math.max(0, h.sumMs - ms);
  }
}

/** Adds `from` into `into` (both keep their fixed size). */
export function mergeLatency(into: LatencyEvidence, from: LatencyEvidence): void {
  for (let i = 0; i < LATENCY_BUCKETS; i++) into.counts[i] = (into.counts[i] ?? 0) + (from.counts[i] ?? 0);
  into.sumMs += from.sumMs;
  if (from.maxMs > into.maxMs) into.maxMs = from.maxMs;
}

export function latencyCount(h: LatencyEvidence): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

/** The q-quantile (0 < q ≤ 1) in ms, or undefined when nothing was recorded. */
export function latencyQuantile(h: LatencyEvidence, q: number): number | undefined {
  const n = latencyCount(h);
  if (n === 0) return undefined;
  const rank = Math.max(1, q * n);
  let seen = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const c = h.counts[i] ?? 0;
    if (c === 0) continue;
    if (seen + c >= rank) {
      const lo = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      const hi = i < LATENCY_BOUNDS_MS.length ? Math.min(LATENCY_BOUNDS_MS[i]!, Math.max(h.maxMs, lo)) : h.maxMs;
      return lo + (hi - lo) * ((rank - seen) / c);
    }
    seen += c;
  }
  return h.maxMs;
}

/** Cumulative counts at each PROM_BOUNDS_MS bound, then the total (the `+Inf` bucket). */
export function promBuckets(h: LatencyEvidence): number[] {
  const out: number[] = [];
  let acc = 0;
  let i = 0;
  for (const bound of PROM_BOUNDS_MS) {
    while (i < LATENCY_BOUNDS_MS.length && LATENCY_BOUNDS_MS[i]! <= bound) acc += h.counts[i++] ?? 0;
    out.push(acc);
  }
  while (i < LATENCY_BUCKETS) acc += h.counts[i++] ?? 0;
  out.push(acc);
  return out;
}

/** A histogram read from storage, or undefined when it does not have this layout (an older or broken record). */
export function restoreLatency(v: unknown): LatencyEvidence | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Partial<LatencyEvidence>;
  if (!Array.isArray(o.counts) || o.counts.length !== LATENCY_BUCKETS) return undefined;
  if (!o.counts.every((c) => Number.isInteger(c) && c >= 0)) return undefined;
  const sumMs = typeof o.sumMs === 'number' && o.sumMs >= 0 ? o.sumMs : 0;
  const maxMs = typeof o.maxMs === 'number' && o.maxMs >= 0 ? o.maxMs : 0;
  return { counts: [...o.counts], sumMs, maxMs };
}
