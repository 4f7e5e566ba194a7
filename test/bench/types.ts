// The shape every benchmark shares: a name, and a run that returns measured figures with optional targets.

export interface Target {
  readonly op: '<=' | '>=';
  readonly value: number;
}

export interface Metric {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** A performance target; the harness marks the metric pass or fail against it. */
  readonly target?: Target;
  /** What the figure means or how it was taken, when the name alone does not say. */
  readonly note?: string;
}

export interface BenchOptions {
  /** Short run (CI keeps the benchmarks working with it); figures are indicative only. */
  readonly quick: boolean;
  /** Progress lines for the person watching; never part of the results. */
  readonly progress: (msg: string) => void;
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(opts: BenchOptions): Promise<Metric[]>;
}

export function meets(value: number, t: Target): boolean {
  return t.op === '<=' ? value <= t.value : value >= t.value;
}
