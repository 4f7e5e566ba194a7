#!/usr/bin/env node
// Runs node's built-in test runner over the compiled tests (dist/test/**/*.test.js), one file at a time so
// tests that build network namespaces never race each other. Extra args filter files by substring.
//   --only GROUPS / --skip GROUPS: comma-separated top folders of test/ (unit, integration, e2e), so that
//   scripts/test.sh can run the groups that never touch the lab next to the benchmark smoke run.
// The golden-file check (test/unit/golden-unused.test.ts) runs last, over what the suite asserted, when no filter
// and no --only is given (after --skip only with NANOSEG_GOLDEN_RECORD, a folder that collects what several runs
// asserted).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
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

function usage(msg) {
  console.error(`run-tests: ${msg}\nusage: run-tests.mjs [--only GROUPS | --skip GROUPS] [FILTER...]`);
  process.exit(2);
}

const GROUPS = ['unit', 'integration', 'e2e'];
const args = process.argv.slice(2);
let only;
let skip = [];
const filters = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--only' || a === '--skip') {
    const v = args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    const list = v.split(',');
    const bad = list.find((g) => !GROUPS.includes(g));
    if (bad !== undefined) usage(`${a}: unknown group "${bad}" (groups: ${GROUPS.join(', ')})`);
    if (a === '--only') only = list;
    else skip = list;
  } else filters.push(a);
}
if (only && skip.length > 0) usage('--only and --skip exclude each other');

const group = (f) => f.split(sep)[2];
const GOLDEN_CHECK = join('dist', 'test', 'unit', 'golden-unused.test.js');
const files = walk('dist/test')
  .sort()
  .filter((f) => f !== GOLDEN_CHECK)
  .filter((f) => (only ? only.includes(group(f)) : !skip.includes(group(f))))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const shared = process.env.NANOSEG_GOLDEN_RECORD;
const record = shared ?? mkdtempSync(join(tmpdir(), 'nanoseg-golden-'));
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
// The cluster test in a run of its own, after the rest (node --test orders the files it is given by itself): its
// binaries may still be building (scripts/test.sh builds them in the background while the rest runs).
const last = (f) => f.includes(`${sep}e2e${sep}kubernetes`);
const first = files.filter((f) => !last(f));
let status = first.length > 0 ? run(first) : 0;
if (files.some(last)) status = run(files.filter(last)) || status;
// after a --skip run the check needs the skipped groups' record too: only with a shared record
if (filters.length === 0 && !only && (skip.length === 0 || shared)) status = run([GOLDEN_CHECK]) || status;
if (!shared) rmSync(record, { recursive: true, force: true });
process.exit(status);
