// Whose code a benchmark measures. Without --baseline: this tree, as always. With --baseline DIR (or
// BENCH_BASELINE=DIR), the benchmarks that support it measure the control plane of DIR ("old") and of this tree
// ("new") alternately in one run, A B B A, and report each figure for both and the ratio new/old: on a shared, noisy
// machine a ratio taken in one run is what counts. Each side runs from its own files (its test/bench/cp-child.ts and
// sources, the node flags of its bin/nanoseg.js, its CLI for the lab), compiled by its own build (built first when
// stale, by scripts/build-if-stale.mjs), with its cwd at its root: both run as shipped. (Through tsx every imported
// binding is a getter, and a tree split into more modules pays more for it: the ratio would measure tsx.)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import type { NanosegCommand } from '../support/cli.js';
import type { AbTrees, CodeTree, Metric, TreeLabel } from './types.js';

/** The flags on a `#!/usr/bin/env -S node [--flag ...]` first line. */
export function shebangFlags(bin: string): string[] {
  const first = readFileSync(bin, 'utf8').split('\n')[0] ?? '';
  const m = /^#!.*\bnode((?: --[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  if (!m) throw new Error(`${bin}:1: expected a "#!/usr/bin/env -S node [--flag ...]" line`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}

export function gitCommit(root: string): string | undefined {
  const git = (args: string[]) =>
    execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const head = git(['rev-parse', '--short', 'HEAD']);
    return git(['status', '--porcelain', '--untracked-files=no']) ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

/**
 * Reads what the benchmarks need from a checkout and builds it when its sources are newer than its last build;
 * throws with what is missing and how to fix it.
 */
export function loadTree(dir: string, label: TreeLabel, hint: { nodeModules: string }): CodeTree {
  const root = resolve(dir);
  if (!existsSync(root)) throw new Error(`--baseline ${dir}: no such directory`);
  const bin = join(root, 'bin', 'nanoseg.js');
  const cpSource = join(root, 'test', 'bench', 'cp-child.ts');
  for (const f of [bin, cpSource, join(root, 'package.json')])
    if (!existsSync(f)) throw new Error(`${root} is not a nanoseg checkout: ${f} is missing`);
  if (!existsSync(join(root, 'node_modules', 'typescript', 'package.json')))
    throw new Error(
      `${root} has no node_modules (it is built with its own npm run build); it needs a subset of this tree's ` +
        `packages: ln -s ${hint.nodeModules} ${join(root, 'node_modules')}`,
    );
  const entry = /^\s*import\s+['"]\.\.\/dist\/([^'"]+)\.js['"]/m.exec(readFileSync(bin, 'utf8'));
  if (!entry) throw new Error(`${bin}: expected an \`import '../dist/….js'\` line naming the CLI entry`);
  if (!existsSync(join(root, `${entry[1]!}.ts`)))
    throw new Error(`${bin} runs ${entry[1]!}.js, but ${join(root, `${entry[1]!}.ts`)} does not exist`);
  const b = spawnSync(process.execPath, [join(projectRoot(), 'scripts', 'build-if-stale.mjs'), root], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (b.status !== 0) throw new Error(`${root}: its build failed (npm run build there shows why)`);
  const cliEntry = join(root, 'dist', `${entry[1]!}.js`);
  const cpChild = join(root, 'dist', 'test', 'bench', 'cp-child.js');
  for (const f of [cliEntry, cpChild])
    if (!existsSync(f)) throw new Error(`${root}: its build did not write ${f} (does its tsconfig include test/?)`);
  return { label, root: realpathSync(root), commit: gitCommit(root), nodeFlags: shebangFlags(bin), cliEntry, cpChild };
}

/**
 * The tree's compiled CLI with its bin's node flags: `nanoseg serve` started this way is that tree's control plane,
 * and `nanoseg lab …` that tree's lab (Envoy bootstrap included). Both sides of an A/B run start this way.
 */
export function cliCommand(t: CodeTree): NanosegCommand {
  return { file: process.execPath, args: [...t.nodeFlags, t.cliEntry], cwd: t.root };
}

/**
 * `nanoseg serve` flags for the new side of an A/B lab run only ($BENCH_NEW_SERVE_ARGS, split on spaces): to switch
 * off a feature the old tree lacks, so both sides do the same work (`--trace-sampling 0`: the old tree never traced).
 */
export function newOnlyServeArgs(t: CodeTree): string[] {
  const v = process.env.BENCH_NEW_SERVE_ARGS;
  return t.label === 'new' && v ? v.split(' ').filter(Boolean) : [];
}

/** The order of the measured runs: A B B A (A B when quick), so linear drift cancels out of the means. */
export function abOrder(quick: boolean): TreeLabel[] {
  return quick ? ['old', 'new'] : ['old', 'new', 'new', 'old'];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Runs `once` for each tree in abOrder(quick) and merges the figures by name: `value` is the mean over this tree's
 * runs, `old` the mean over the baseline's. A figure only some runs report (a warning count, say) is the mean over
 * the runs that have it; the note says in how many.
 */
export async function abCompare(
  trees: AbTrees,
  quick: boolean,
  progress: (msg: string) => void,
  once: (tree: CodeTree, run: number) => Promise<Metric[]>,
): Promise<Metric[]> {
  const order = abOrder(quick);
  const got: Record<TreeLabel, Metric[][]> = { old: [], new: [] };
  for (let i = 0; i < order.length; i++) {
    const t = trees[order[i]!];
    progress(`A/B run ${i + 1}/${order.length}: ${t.label} (${t.commit ?? t.root})`);
    got[t.label].push(await once(t, i));
  }
  return mergeAb(got.old, got.new);
}

/** Merges per-run figures of both trees (see abCompare); exported for benchmarks that run their variants apart. */
export function mergeAb(oldRuns: readonly Metric[][], newRuns: readonly Metric[][]): Metric[] {
  const names: string[] = [];
  for (const m of [...newRuns.flat(), ...oldRuns.flat()]) if (!names.includes(m.name)) names.push(m.name);
  const pooled = (runs: readonly Metric[][], name: string) => {
    const hits = runs.flatMap((r) => r.filter((m) => m.name === name));
    return { first: hits[0], value: hits.length ? mean(hits.map((m) => m.value)) : NaN, n: hits.length };
  };
  return names.map((name) => {
    const o = pooled(oldRuns, name),
      n = pooled(newRuns, name);
    const base = (n.first ?? o.first)!;
    const partial =
      n.n < newRuns.length || o.n < oldRuns.length
        ? `reported by ${o.n} of ${oldRuns.length} old and ${n.n} of ${newRuns.length} new runs`
        : undefined;
    return {
      ...base,
      value: n.value,
      old: o.value,
      runs: { old: o.n, new: n.n },
      ...(partial && { note: base.note ? `${base.note}; ${partial}` : partial }),
    };
  });
}
