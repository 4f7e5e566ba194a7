// Benchmark harness: runs the named benchmarks (all by default), prints one table, writes the results as JSON to
// bench-results/<timestamp>.json and bench-results/latest.json at the repository root.
//
//   npm run bench -- [--quick] [--strict] [--list] [--no-cluster] [--baseline DIR] [name...]
//
// --quick         short runs (CI runs this so the benchmarks keep working); figures are indicative, targets never fail
// --strict        exit 1 when a target is missed (a full run on a quiet machine); without it only crashes fail
// --no-cluster    leave out the benchmarks on the real test cluster (k8s-*), e.g. while its binaries still build
// --baseline DIR  (or BENCH_BASELINE=DIR) A/B: the benchmarks that support it measure DIR's control plane (old) and
//                 this tree's (new) alternately in this one run and report old, new and new/old (trees.ts); without
//                 names, only those benchmarks run
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AbTrees, Benchmark, Metric, Target } from './types.js';
import { meets } from './types.js';
import { gitCommit, loadTree } from './trees.js';
import { alsIngest } from './als-ingest.js';
import { otlpIngest } from './otlp-ingest.js';
import { adsFanout } from './ads-fanout.js';
import { cpTracing } from './cp-tracing.js';
import { learnerObserve } from './learner-observe.js';
import { scoping } from './scoping.js';
import { rbacCost } from './rbac-cost.js';
import { rbacScale } from './rbac-scale.js';
import { l7Cost } from './l7-cost.js';
import { propagation } from './propagation.js';
import { capture } from './capture.js';
import { kernelCost } from './kernel-cost.js';
import { kernelPropagation } from './kernel-propagation.js';
import { kernelFlows } from './kernel-flows.js';
import { closeSharedLab } from './lab.js';
import { k8sWebhook } from './k8s-webhook.js';
import { k8sChurn } from './k8s-churn.js';
import { k8sPodPolicy } from './k8s-pod-policy.js';
import { closeSharedCluster } from './k8s-cluster.js';

const BENCHMARKS: readonly Benchmark[] = [
  learnerObserve,
  alsIngest,
  otlpIngest,
  adsFanout,
  cpTracing,
  rbacCost,
  rbacScale,
  l7Cost,
  propagation,
  scoping,
  // these four share one lab (kernel-lab.ts), kept up from the first of them to the end of the run
  capture,
  kernelCost,
  kernelPropagation,
  kernelFlows,
  // on the real test cluster (one for the run, started by the first of them): left out by --no-cluster
  k8sWebhook,
  k8sChurn,
  k8sPodPolicy,
];

interface Result {
  readonly benchmark: string;
  readonly durationMs: number;
  readonly metrics: readonly (Metric & { pass?: boolean; ratio?: number; ratioPass?: boolean })[];
  readonly error?: string;
}

function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) || d.endsWith('/dist')) {
    const up = dirname(d);
    if (up === d) throw new Error('cannot find the repository root (package.json)');
    d = up;
  }
  return d;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && a < 0.01) return v.toExponential(2);
  if (Number.isInteger(v) || a >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(a >= 100 ? 1 : a >= 10 ? 2 : 3);
}

function targetText(t: Target | undefined, f: (v: number) => string = fmt): string {
  return t ? `${t.op} ${f(t.value)}${t.why ? ` (${t.why})` : ''}` : '';
}

function verdictText(pass: boolean | undefined, quick: boolean, what = ''): string {
  return pass === undefined ? '' : pass ? 'pass' : `${what}${quick ? 'miss (quick)' : 'FAIL'}`;
}

function render(rows: string[][], rightAligned: readonly number[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function table(results: readonly Result[], quick: boolean): string {
  const rows: string[][] = [['benchmark', 'metric', 'value', 'unit', 'target', 'result']];
  for (const r of results) {
    if (r.error) rows.push([r.benchmark, '(crashed)', '', '', '', `ERROR: ${r.error.split('\n')[0]}`]);
    for (const m of r.metrics)
      rows.push([r.benchmark, m.name, fmt(m.value), m.unit, targetText(m.target), verdictText(m.pass, quick)]);
  }
  return render(rows, [2]);
}

/** A/B runs: old and new side by side, new/old, the target on new and the one on new/old. */
function abTable(results: readonly Result[], quick: boolean): string {
  const rows: string[][] = [
    ['benchmark', 'metric', 'old', 'new', 'unit', 'new/old', 'target', 'new/old target', 'result'],
  ];
  const two = (v: number) => v.toFixed(2);
  for (const r of results) {
    if (r.error) rows.push([r.benchmark, '(crashed)', '', '', '', '', '', '', `ERROR: ${r.error.split('\n')[0]}`]);
    for (const m of r.metrics) {
      const missed = [
        m.pass === false && verdictText(false, quick),
        m.ratioPass === false && verdictText(false, quick, 'new/old '),
      ].filter((x): x is string => typeof x === 'string');
      rows.push([
        r.benchmark,
        m.name,
        m.old === undefined ? '-' : fmt(m.old),
        fmt(m.value),
        m.unit,
        m.ratio === undefined || !Number.isFinite(m.ratio) ? '-' : m.ratio.toFixed(3),
        targetText(m.target),
        m.old === undefined ? '' : targetText(m.ratioTarget, two),
        missed.length ? missed.join(', ') : m.pass || m.ratioPass ? 'pass' : '',
      ]);
    }
  }
  return render(rows, [2, 3, 5]);
}

/** The harness's marks: pass/fail against the target, and in A/B runs new/old against the ratio target. */
function judged(m: Metric, ab: boolean): Result['metrics'][number] {
  const { ratioTarget, ...rest } = m;
  if (!ab || m.old === undefined) return m.target ? { ...rest, pass: meets(m.value, m.target) } : rest;
  const ratio = m.value / m.old;
  return {
    ...m,
    ...(m.target && { pass: meets(m.value, m.target) }),
    ratio,
    ...(ratioTarget && Number.isFinite(ratio) && { ratioPass: meets(ratio, ratioTarget) }),
  };
}

/** `--baseline DIR`, `--baseline=DIR`, else $BENCH_BASELINE; and the arguments left once it is taken out. */
function baselineArg(args: readonly string[]): { dir?: string; rest: string[] } {
  const rest: string[] = [];
  let dir = process.env.BENCH_BASELINE || undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--baseline') {
      dir = args[++i];
      if (!dir) throw new Error('--baseline needs a directory');
    } else if (a.startsWith('--baseline=')) dir = a.slice('--baseline='.length);
    else rest.push(a);
  }
  return { dir, rest };
}

async function main(): Promise<number> {
  let baseline: { dir?: string; rest: string[] };
  try {
    baseline = baselineArg(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const args = baseline.rest;
  const quick = args.includes('--quick');
  const strict = args.includes('--strict');
  const noCluster = args.includes('--no-cluster');
  const names = args.filter((a) => !a.startsWith('--'));
  if (args.includes('--list')) {
    for (const b of BENCHMARKS) console.log(`${b.name.padEnd(16)} ${b.description}`);
    return 0;
  }
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const root = repoRoot();
  let ab: AbTrees | undefined;
  if (baseline.dir) {
    try {
      const hint = { nodeModules: join(root, 'node_modules') };
      ab = { old: loadTree(baseline.dir, 'old', hint), new: loadTree(root, 'new', hint) };
    } catch (e) {
      console.error(`--baseline: ${(e as Error).message}`);
      return 2;
    }
    process.stderr.write(
      `A/B: old = ${ab.old.root} (${ab.old.commit ?? 'not git'}), new = ${ab.new.root} (${ab.new.commit ?? 'not git'})\n`,
    );
  }
  // with --baseline and no names: the benchmarks that can compare
  const chosen = (
    names.length ? BENCHMARKS.filter((b) => names.includes(b.name)) : BENCHMARKS.filter((b) => !ab || b.ab)
  ).filter((b) => !noCluster || !b.cluster);
  const startedAt = new Date();
  const results: Result[] = [];
  for (const b of chosen) {
    const t0 = performance.now();
    const progress = (msg: string) =>
      process.stderr.write(`[${b.name} ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
    progress(quick ? 'starting (quick)' : 'starting');
    if (ab && !b.ab) progress('no --baseline support: measures this tree only');
    try {
      const metrics = await b.run({ quick, progress, ...(ab && b.ab && { ab }) });
      results.push({
        benchmark: b.name,
        durationMs: Math.round(performance.now() - t0),
        metrics: metrics.map((m) => judged(m, ab !== undefined)),
      });
    } catch (e) {
      const err = e instanceof Error ? (e.stack ?? e.message) : String(e);
      progress(`crashed: ${err}`);
      results.push({ benchmark: b.name, durationMs: Math.round(performance.now() - t0), metrics: [], error: err });
    }
  }
  await closeSharedLab();
  try {
    closeSharedCluster();
  } catch (e) {
    // what down.sh says is left behind: a crash of the run, not a figure
    results.push({ benchmark: 'test cluster', durationMs: 0, metrics: [], error: (e as Error).message });
  }
  console.log(ab ? abTable(results, quick) : table(results, quick));

  const crashed = results.filter((r) => r.error).length;
  const missed = results.flatMap((r) => r.metrics).filter((m) => m.pass === false || m.ratioPass === false).length;
  const report = {
    startedAt: startedAt.toISOString(),
    quick,
    commit: gitCommit(root),
    ...(ab && {
      baseline: {
        old: { root: ab.old.root, commit: ab.old.commit, nodeFlags: ab.old.nodeFlags },
        new: { root: ab.new.root, commit: ab.new.commit, nodeFlags: ab.new.nodeFlags },
      },
    }),
    host: {
      node: process.version,
      platform: process.platform,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryBytes: totalmem(),
      loadavgAtEnd: loadavg(),
    },
    results,
    summary: { benchmarks: results.length, crashed, targetsMissed: missed },
  };
  const dir = join(root, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(
    dir,
    `${startedAt.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}${ab ? '-ab' : ''}.json`,
  );
  const text = JSON.stringify(report, null, 2) + '\n';
  writeFileSync(file, text);
  writeFileSync(join(dir, 'latest.json'), text);
  console.log(
    `\nresults: ${file}${missed ? `\n${missed} target(s) missed${quick ? ' (quick run: not counted)' : ''}` : ''}`,
  );
  if (crashed) return 1;
  return strict && !quick && missed ? 1 : 0;
}

process.exitCode = await main();
