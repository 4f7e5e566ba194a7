#!/usr/bin/env node
// Builds a checkout (`npm run -s build` in it) when one of its sources is newer than its last build (dist/.built).
// Used by `npm run bench` for this tree, and by the benchmarks' A/B runs for both trees (test/bench/trees.ts runs
// `node scripts/build-if-stale.mjs DIR`): both sides are measured compiled, as their bin/nanoseg.js runs them.
// A build removes dist: never while tests run from it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SOURCES = [
  'xds-server/src',
  'ebpf-redirect/src',
  'injector',
  'proto/gen',
  'test',
  'tsconfig.json',
  'tsconfig.base.json',
];

function newest(p) {
  if (!existsSync(p)) return 0;
  const s = statSync(p);
  if (!s.isDirectory()) return p.endsWith('.ts') || p.endsWith('.json') ? s.mtimeMs : 0;
  let m = 0;
  for (const e of readdirSync(p)) m = Math.max(m, newest(join(p, e)));
  return m;
}

/** Builds `root` when stale; returns the build's exit status (0 when nothing was to do). */
export function buildIfStale(root, say = (m) => console.error(m)) {
  const built = join(root, 'dist', '.built');
  const stale = !existsSync(built) || SOURCES.some((s) => newest(join(root, s)) > statSync(built).mtimeMs);
  if (!stale) return 0;
  say(`bench: sources of ${root} changed since its last build: npm run build`);
  const b = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  return b.status ?? 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir || process.argv.length > 3) {
    console.error('usage: node scripts/build-if-stale.mjs DIR');
    process.exit(2);
  }
  process.exit(buildIfStale(resolve(dir)));
}
