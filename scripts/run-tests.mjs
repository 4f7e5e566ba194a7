#!/usr/bin/env node
// Runs node's built-in test runner over the compiled tests (dist/test/**/*.test.js), one file at a time so
// tests that build network namespaces never race each other. Extra args filter files by substring. Without a
// filter, the golden-file check (test/unit/golden-unused.test.ts) runs last, over what the suite asserted.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const GOLDEN_CHECK = join('dist', 'test', 'unit', 'golden-unused.test.js');
const filters = process.argv.slice(2);
const all = walk('dist/test').sort();
const files = all.filter((f) => f !== GOLDEN_CHECK && (filters.length === 0 || filters.some((x) => f.includes(x))));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const record = mkdtempSync(join(tmpdir(), 'nanoseg-golden-'));
const env = { ...process.env, NANOSEG_GOLDEN_RECORD: record };
const run = (list) =>
  spawnSync(
    process.execPath,
    ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-reporter=spec', ...list],
    {
      stdio: 'inherit',
      env,
    },
  ).status ?? 1;
let status = run(files);
if (filters.length === 0) status = run([GOLDEN_CHECK]) || status;
rmSync(record, { recursive: true, force: true });
process.exit(status);
