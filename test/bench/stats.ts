// Pure statistics the benchmarks share: percentiles, medians, and ratios of figures taken side by side in one run
// (per-round ratios, so drift between rounds on a shared machine cancels out).

/** The p-th percentile (nearest rank, 0 ≤ p ≤ 100); NaN for no samples. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function sameLength(...xs: readonly (readonly number[])[]): void {
  if (xs.some((x) => x.length !== xs[0]!.length))
    throw new Error(`per-round figures of unequal length: ${xs.map((x) => x.length).join(', ')}`);
}

/** Median of the per-round ratios a[i] / b[i] (round i measured a and b back to back). */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  sameLength(a, b);
  return median(a.map((x, i) => x / b[i]!));
}

/**
 * Median of the per-round ratios of what a and b add to a baseline measured in the same round:
 * (a[i] − base[i]) / (b[i] − base[i]). E.g. the latency two sidecars add over a direct path, eBPF vs nftables.
 * A round where b adds nothing measurable (≤ 0) has no ratio; NaN when no round has one.
 */
export function addedRatio(a: readonly number[], b: readonly number[], base: readonly number[]): number {
  sameLength(a, b, base);
  const r = a.flatMap((x, i) => (b[i]! - base[i]! > 0 ? [(x - base[i]!) / (b[i]! - base[i]!)] : []));
  return median(r);
}

/** Median of a[i] − base[i]. */
export function added(a: readonly number[], base: readonly number[]): number {
  sameLength(a, base);
  return median(a.map((x, i) => x - base[i]!));
}

/**
 * Side-by-side order of `variants` for `rounds` rounds: A B B A … (every other round reversed), so each variant is
 * measured as often early as late and slow drift cancels in the per-round ratios.
 */
export function abba<T>(variants: readonly T[], rounds: number): T[][] {
  return Array.from({ length: rounds }, (_, r) => (r % 2 === 0 ? [...variants] : [...variants].reverse()));
}
