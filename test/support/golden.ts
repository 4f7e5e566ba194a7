// Golden files (Istio's REFRESH_GOLDEN idea): expected output lives in test/golden/; REFRESH_GOLDEN=true rewrites it.
// Every file in test/golden/ must be asserted by some test: assertGolden records each name it checks (in the folder
// scripts/run-tests.mjs passes as NANOSEG_GOLDEN_RECORD), and test/unit/golden-unused.test.ts, run after the suite,
// fails on any golden file no test asserted.
import { appendFileSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import assert from 'node:assert/strict';
import { projectRoot } from '../../xds-server/src/util/envoy.js';

export const GOLDEN_DIR = join(projectRoot(), 'test', 'golden');
/** The file (in the run's record folder) that lists the golden files asserted, one name per line. */
export const GOLDEN_RECORD_FILE = 'golden-used.txt';

export function assertGolden(name: string, actual: unknown): void {
  assertGoldenText(name, JSON.stringify(actual, null, 2) + '\n');
}

/** The same for text that is not JSON (an nftables ruleset), compared byte for byte. */
export function assertGoldenText(name: string, text: string): void {
  const record = process.env.NANOSEG_GOLDEN_RECORD;
  if (record) appendFileSync(join(record, GOLDEN_RECORD_FILE), `${name}\n`);
  const file = join(GOLDEN_DIR, name);
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
