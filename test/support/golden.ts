// Golden files (Istio's REFRESH_GOLDEN idea): expected output lives in test/golden/; REFRESH_GOLDEN=true rewrites it.
// Every file in test/golden/ must be used by some test: test/unit/golden-unused.test.ts checks that.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import assert from 'node:assert/strict';
import { projectRoot } from '../../xds-server/src/util/envoy.js';

export const GOLDEN_DIR = join(projectRoot(), 'test', 'golden');

/** The golden files the tests use, kept in sync by hand with the tests (checked against the folder). */
export const GOLDEN_FILES = [
  'generate/learn-sidecar.json',
  'generate/learn-sidecar-empty.json',
  'generate/enforce-sidecar.json',
  'policy/shop-api-learn.json',
  'policy/shop-api-monitor.json',
  'policy/shop-api-enforce.json',
  'policy/deny-all-enforce.json',
];

export function assertGolden(name: string, actual: unknown): void {
  if (!GOLDEN_FILES.includes(name))
    throw new Error(`golden file ${name} is not listed in test/support/golden.ts GOLDEN_FILES`);
  const file = join(GOLDEN_DIR, name);
  const text = JSON.stringify(actual, null, 2) + '\n';
  if (process.env.REFRESH_GOLDEN === 'true') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  if (!existsSync(file))
    assert.fail(`missing golden file ${file}: run with REFRESH_GOLDEN=true to create it, then review it`);
  assert.equal(
    text,
    readFileSync(file, 'utf8'),
    `${name} differs from the golden file (REFRESH_GOLDEN=true to update after review)`,
  );
}
