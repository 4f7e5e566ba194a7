#!/usr/bin/env node
// `npm run bench`: the benchmarks measure the control plane as shipped, i.e. compiled by tsc (dist/), as
// bin/nanoseg.js runs it — code run through tsx pays a getter on every imported binding and measured 2-3× slower in
// the hot decoders. Builds first when a source is newer than the last build (scripts/build-if-stale.mjs), then runs
// dist/test/bench/run.js with the arguments given. A build removes dist: never while tests run from it.
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildIfStale } from './build-if-stale.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const b = buildIfStale(root);
if (b !== 0) process.exit(b);
const r = spawnSync(process.execPath, [join(root, 'dist', 'test', 'bench', 'run.js'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? (r.signal ? 128 : 1));
