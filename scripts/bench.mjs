#!/usr/bin/env node
// `npm run bench`: the benchmarks measure the control plane as shipped, i.e. compiled by tsc (dist/), as
// bin/nanoseg.js runs it — code run through tsx pays a getter on every imported binding and measured 2-3× slower in
// the hot decoders. Builds first when a source is newer than the last build (dist/.built), then runs
// dist/test/bench/run.js with the arguments given. A build removes dist: never while tests run from it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
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

const built = join(root, 'dist', '.built');
const stale = !existsSync(built) || SOURCES.some((s) => newest(join(root, s)) > statSync(built).mtimeMs);
if (stale) {
  console.error('bench: sources changed since the last build: npm run build');
  const b = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const r = spawnSync(process.execPath, [join(root, 'dist', 'test', 'bench', 'run.js'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? (r.signal ? 128 : 1));
