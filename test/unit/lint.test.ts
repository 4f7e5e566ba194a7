// The lint boundaries can fail: each fixture in test/lint/fixtures/ breaks one rule (linted as if it were the file
// its first line names) and must be reported for exactly that rule; a clean fixture must pass. Without this, a
// mistyped glob in eslint.config.mjs would silently turn a boundary off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { projectRoot } from '../../xds-server/src/util/envoy.js';

const ROOT = projectRoot();
const FIXTURES = join(ROOT, 'test', 'lint', 'fixtures');

function header(text: string, key: string): string | undefined {
  return new RegExp(`^// ${key}: (.+)$`, 'm').exec(text)?.[1]?.trim();
}

function ruleIds(results: ESLint.LintResult[]): string[] {
  return [...new Set(results.flatMap((r) => r.messages.map((m) => m.ruleId ?? `fatal: ${m.message}`)))].sort();
}

const files = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.ts'))
  .sort();

test('there is a fixture for every boundary rule', () => {
  const expected = new Set(files.map((f) => header(readFileSync(join(FIXTURES, f), 'utf8'), 'expect')));
  for (const rule of ['no-restricted-imports', 'no-restricted-syntax', 'nothing']) assert.ok(expected.has(rule), rule);
  assert.ok(readdirSync(join(FIXTURES, 'cycle')).length >= 2, 'the cycle fixture');
});

for (const f of files) {
  test(`lint fixture ${f}`, async () => {
    const text = readFileSync(join(FIXTURES, f), 'utf8');
    const as = header(text, 'lint-as');
    const expect = header(text, 'expect');
    assert.ok(as && expect, `${f}: needs "// lint-as: PATH" and "// expect: RULE" lines`);
    const eslint = new ESLint({ cwd: ROOT });
    const results = await eslint.lintText(text, { filePath: join(ROOT, as) });
    assert.deepEqual(ruleIds(results), expect === 'nothing' ? [] : [expect], JSON.stringify(results[0]?.messages));
  });
}

test('an import cycle is reported', async () => {
  const eslint = new ESLint({ cwd: ROOT, ignore: false });
  const results = await eslint.lintFiles([join(FIXTURES, 'cycle', '*.ts')]);
  assert.equal(results.length, 2);
  for (const r of results)
    assert.deepEqual(ruleIds([r]), ['import-x/no-cycle'], `${r.filePath}: ${JSON.stringify(r.messages)}`);
});
