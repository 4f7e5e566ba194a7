// Benchmark harness: runs the named benchmarks (all by default), prints one table, writes the results as JSON to
// bench-results/<timestamp>.json and bench-results/latest.json at the repository root.
//
//   node --import tsx test/bench/run.ts [--quick] [--strict] [--list] [name...]
//
// --quick   short runs (CI runs this so the benchmarks keep working); figures are indicative, targets never fail
// --strict  exit 1 when a target is missed (a full run on a quiet machine); without it only crashes fail
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Benchmark, Metric } from './types.js';
import { meets } from './types.js';
import { alsIngest } from './als-ingest.js';
import { adsFanout } from './ads-fanout.js';
import { learnerObserve } from './learner-observe.js';
import { scoping } from './scoping.js';
import { rbacCost } from './rbac-cost.js';
import { rbacScale } from './rbac-scale.js';
import { propagation } from './propagation.js';

const BENCHMARKS: readonly Benchmark[] = [
  learnerObserve,
  alsIngest,
  adsFanout,
  rbacCost,
  rbacScale,
  propagation,
  scoping,
];

interface Result {
  readonly benchmark: string;
  readonly durationMs: number;
  readonly metrics: readonly (Metric & { pass?: boolean })[];
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

function gitCommit(root: string): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && a < 0.01) return v.toExponential(2);
  if (Number.isInteger(v) || a >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(a >= 100 ? 1 : a >= 10 ? 2 : 3);
}

function table(results: readonly Result[], quick: boolean): string {
  const rows: string[][] = [['benchmark', 'metric', 'value', 'unit', 'target', 'result']];
  for (const r of results) {
    if (r.error) rows.push([r.benchmark, '(crashed)', '', '', '', `ERROR: ${r.error.split('\n')[0]}`]);
    for (const m of r.metrics) {
      const target = m.target ? `${m.target.op} ${fmt(m.target.value)}` : '';
      const verdict = m.pass === undefined ? '' : m.pass ? 'pass' : quick ? 'miss (quick)' : 'FAIL';
      rows.push([r.benchmark, m.name, fmt(m.value), m.unit, target, verdict]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const strict = args.includes('--strict');
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
  const chosen = names.length ? BENCHMARKS.filter((b) => names.includes(b.name)) : BENCHMARKS;
  const root = repoRoot();
  const startedAt = new Date();
  const results: Result[] = [];
  for (const b of chosen) {
    const t0 = performance.now();
    const progress = (msg: string) =>
      process.stderr.write(`[${b.name} ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
    progress(quick ? 'starting (quick)' : 'starting');
    try {
      const metrics = await b.run({ quick, progress });
      results.push({
        benchmark: b.name,
        durationMs: Math.round(performance.now() - t0),
        metrics: metrics.map((m) => (m.target ? { ...m, pass: meets(m.value, m.target) } : m)),
      });
    } catch (e) {
      const err = e instanceof Error ? (e.stack ?? e.message) : String(e);
      progress(`crashed: ${err}`);
      results.push({ benchmark: b.name, durationMs: Math.round(performance.now() - t0), metrics: [], error: err });
    }
  }
  console.log(table(results, quick));

  const crashed = results.filter((r) => r.error).length;
  const missed = results.flatMap((r) => r.metrics).filter((m) => m.pass === false).length;
  const report = {
    startedAt: startedAt.toISOString(),
    quick,
    commit: gitCommit(root),
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
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
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
