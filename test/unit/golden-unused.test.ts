import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GOLDEN_DIR, GOLDEN_FILES } from '../support/golden.js';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [relative(GOLDEN_DIR, p)];
  });
}

test('every golden file is used by a test (unused golden files fail the run)', () => {
  const unused = walk(GOLDEN_DIR).filter((f) => !GOLDEN_FILES.includes(f));
  assert.deepEqual(unused, [], `unused golden files: ${unused.join(', ')}`);
});
