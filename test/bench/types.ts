// The shape every benchmark shares: a name, and a run that returns measured figures with optional targets.

export interface Target {
  readonly op: '<=' | '>=';
  readonly value: number;
  /** printed beside the target, when the number alone does not say what missing it means */
  readonly why?: string;
}

export interface Metric {
  readonly name: string;
  /** the figure (in an A/B run: this tree's, the mean over its runs) */
  readonly value: number;
  readonly unit: string;
  /** A performance target; the harness marks the metric pass or fail against it. */
  readonly target?: Target;
  /** What the figure means or how it was taken, when the name alone does not say. */
  readonly note?: string;
  /** A/B runs only: the target on new/old (value / old); the harness marks it like `target`. */
  readonly ratioTarget?: Target;
  /** A/B runs only: the same figure measured on the baseline tree (mean over its runs). */
  readonly old?: number;
  /** A/B runs only: how many runs of each tree the figures are means of. */
  readonly runs?: { readonly old: number; readonly new: number };
}

/** Time and CPU figures in an A/B run: new/old above 1.10 is a regression. */
export const NO_SLOWER: Target = { op: '<=', value: 1.1, why: 'worse than 1.10 is a regression' };
/** Throughput figures in an A/B run: new/old below 1/1.10 is the same regression. */
export const NO_LESS: Target = { op: '>=', value: 1 / 1.1, why: 'worse than 1/1.10 is a regression' };

/** Which code tree a run measures (trees.ts reads them from disk). */
export type TreeLabel = 'old' | 'new';

export interface CodeTree {
  readonly label: TreeLabel;
  /** the repository root */
  readonly root: string;
  /** short commit, `+dirty` when tracked files changed; undefined outside git */
  readonly commit: string | undefined;
  /** the node flags of the tree's bin/nanoseg.js (its shebang line): the control plane as shipped */
  readonly nodeFlags: readonly string[];
  /** the module bin/nanoseg.js runs, compiled: `<root>/dist/X.js` */
  readonly cliEntry: string;
  /** the tree's own benchmark child, compiled: `<root>/dist/test/bench/cp-child.js` */
  readonly cpChild: string;
}

/** Both sides of an A/B run. */
export interface AbTrees {
  readonly old: CodeTree;
  readonly new: CodeTree;
}

export interface BenchOptions {
  /** Short run (CI keeps the benchmarks working with it); figures are indicative only. */
  readonly quick: boolean;
  /** Progress lines for the person watching; never part of the results. */
  readonly progress: (msg: string) => void;
  /** --baseline: measure the baseline's control plane and this tree's alternately (benchmarks with `ab`). */
  readonly ab?: AbTrees;
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  /** Supports --baseline: given `ab`, it measures both trees and reports old, new and new/old. */
  readonly ab?: true;
  /**
   * Runs on the real test cluster (k8s-cluster.ts: its binaries must be built). `--no-cluster` leaves these out:
   * scripts/test.sh's early smoke run goes while the binaries still build, and runs them after the cluster e2e.
   */
  readonly cluster?: true;
  run(opts: BenchOptions): Promise<Metric[]>;
}

export function meets(value: number, t: Target): boolean {
  return t.op === '<=' ? value <= t.value : value >= t.value;
}
