// Pure: one histogram read from a Prometheus text exposition (the apiserver's /metrics), the difference of two
// scrapes, and quantiles the way Prometheus' histogram_quantile computes them, with the bucket bound beside the
// estimate (the apiserver's admission buckets are coarse: 5, 25, 100 ms, …).

export interface Histogram {
  /** cumulative counts per upper bound (seconds), +Inf last */
  readonly buckets: readonly { le: number; count: number }[];
  readonly count: number;
  readonly sum: number;
}

/**
 * The series of histogram `name` whose labels include every `labels` pair, summed over the series that match (e.g.
 * both `rejected` values). Bounds are the `le` labels.
 */
export function readHistogram(text: string, name: string, labels: Readonly<Record<string, string>>): Histogram {
  const byLe = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_`)) continue;
    const brace = line.indexOf('{');
    const close = line.lastIndexOf('}');
    if (brace < 0 || close < brace) continue;
    const series = line.slice(0, brace);
    const have = new Map([...line.slice(brace + 1, close).matchAll(LABEL_RE)].map((m) => [m[1]!, m[2]!]));
    if (!Object.entries(labels).every(([k, v]) => have.get(k) === v)) continue;
    const value = Number(
      line
        .slice(close + 1)
        .trim()
        .split(' ')[0],
    );
    if (series === `${name}_bucket`) {
      const le = have.get('le');
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      byLe.set(bound, (byLe.get(bound) ?? 0) + value);
    } else if (series === `${name}_count`) count += value;
    else if (series === `${name}_sum`) sum += value;
  }
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c }));
  return { buckets, count, sum };
}

const LABEL_RE = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** b − a, bucket by bucket (what was observed between two scrapes). */
export function histogramDelta(a: Histogram, b: Histogram): Histogram {
  const before = new Map(a.buckets.map((x) => [x.le, x.count]));
  return {
    buckets: b.buckets.map((x) => ({ le: x.le, count: x.count - (before.get(x.le) ?? 0) })),
    count: b.count - a.count,
    sum: b.sum - a.sum,
  };
}

/**
 * The q-quantile (0 < q < 1) as Prometheus' histogram_quantile computes it: the bucket that holds the rank, linear
 * interpolation inside it (from 0 for the first bucket); the largest finite bound when the rank is in +Inf. Also the
 * upper bound of that bucket: the most the quantile can be. NaN for an empty histogram.
 */
export function histogramQuantile(h: Histogram, q: number): { estimate: number; bound: number } {
  const total = h.buckets.at(-1)?.count ?? 0;
  if (total <= 0) return { estimate: NaN, bound: NaN };
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return { estimate: prevLe, bound: Infinity };
      const inBucket = b.count - prevCount;
      const estimate = inBucket > 0 ? prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket) : b.le;
      return { estimate, bound: b.le };
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return { estimate: prevLe, bound: Infinity };
}
