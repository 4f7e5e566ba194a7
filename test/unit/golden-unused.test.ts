// Unused golden files fail the run: scripts/run-tests.mjs runs this file after the rest of the suite, and every
// golden file must appear in what the suite's assertGolden calls recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GOLDEN_DIR, GOLDEN_RECORD_FILE } from '../support/golden.js';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [relative(GOLDEN_DIR, p)];
  });
}

test('every golden file is asserted by a test (unused golden files fail the run)', () => {
  const record = process.env.NANOSEG_GOLDEN_RECORD;
  assert.ok(record, 'run through scripts/run-tests.mjs (no filter): it runs this check after the whole suite');
  const file = join(record, GOLDEN_RECORD_FILE);
  const used = new Set(existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  assert.ok(used.size > 0, 'no test asserted any golden file');
  const unused = walk(GOLDEN_DIR).filter((f) => !used.has(f));
  assert.deepEqual(unused, [], `unused golden files: ${unused.join(', ')}`);
});
