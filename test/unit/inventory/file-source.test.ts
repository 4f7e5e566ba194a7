// FileInventorySource against a real file in a temporary directory: real fs.watch, real timers (short debounce).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FileInventorySource,
  InventoryFileError,
  type InventoryUpdate,
} from '../../../xds-server/src/inventory/index.js';
import type { Logger } from '../../../xds-server/src/util/logger.js';

interface Line {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

function recordingLogger(): Logger & { lines: Line[]; warns(): Line[] } {
  const lines: Line[] = [];
  const at =
    (level: Line['level']) =>
    (obj: object, msg?: string): void =>
      void lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
  return {
    lines,
    warns: () => lines.filter((l) => l.level === 'warn'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const file = (workloads: string): string =>
  `apiVersion: nanoseg.io/v1alpha1\nkind: Inventory\nworkloads:\n${workloads}`;
const vm = (name: string, ip: string): string => `  - {name: ${name}, service: data/db, addresses: [${ip}]}\n`;

async function tempFile(text: string): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nanoseg-inv-'));
  const path = join(dir, 'hosts.yaml');
  await writeFile(path, text);
  return { dir, path };
}

function names(u: InventoryUpdate | undefined): string[] {
  return (u?.inventory?.workloads ?? []).map((w) => w.name);
}

test('start, change, invalid change, fix, rename-replace, comments, delete, recreate, stop', async () => {
  const { dir, path } = await tempFile(file(vm('db-1', '192.0.2.5')));
  const log = recordingLogger();
  const src = new FileInventorySource({ file: path, logger: log, debounceMs: 50, pollMs: 0, now: () => 42 });
  const seen: InventoryUpdate[] = [];
  let completed = false;
  src.updates$.subscribe({ next: (u) => seen.push(u), complete: () => (completed = true) });
  try {
    assert.equal(src.name, 'file');
    await Promise.all([src.start(), src.start()]);
    await src.start();
    assert.equal(seen.length, 1, 'one emission, however often start is called');
    assert.equal(seen[0]!.source, 'file');
    assert.deepEqual(names(seen[0]), ['db-1']);
    assert.deepEqual(src.status(), { file: path, loadedAt: 42 });

    // a late subscriber gets the inventory in use at once
    const late: InventoryUpdate[] = [];
    src.updates$.subscribe((u) => late.push(u)).unsubscribe();
    assert.deepEqual(names(late[0]), ['db-1']);

    // valid change: emitted
    await writeFile(path, file(vm('db-1', '192.0.2.5') + vm('db-2', '192.0.2.6')));
    await until('the change', () => seen.length === 2);
    assert.deepEqual(names(seen[1]), ['db-1', 'db-2']);

    // invalid change: logged once with file:line:col, shown by status, nothing emitted
    const bad = file(vm('db-1', '192.0.2.5') + vm('db-3', '300.0.0.1'));
    await writeFile(path, bad);
    await until('the error', () => src.status().error !== undefined);
    const expected = `${path}:5:48: workloads[1].addresses[0]: expected an IP address, got "300.0.0.1"`;
    assert.equal(src.status().error, expected);
    assert.equal(log.warns().length, 1);
    assert.deepEqual(log.warns()[0]!.obj['errors'], [expected]);
    assert.equal(seen.length, 2, 'an invalid file is not emitted');
    // the same bad content saved again is not logged again
    await writeFile(path, bad);
    await new Promise((r) => setTimeout(r, 100));

    // fix: emitted, error gone
    await writeFile(path, file(vm('db-1', '192.0.2.5') + vm('db-3', '192.0.2.7')));
    await until('the fix', () => seen.length === 3);
    assert.deepEqual(names(seen[2]), ['db-1', 'db-3']);
    assert.equal(src.status().error, undefined);
    assert.equal(log.warns().length, 1, 'the same problem is logged once');

    // an editor's save: write a temporary file, rename it over the original (a new inode)
    await writeFile(join(dir, '.hosts.yaml.swp'), file(vm('db-4', '192.0.2.8')));
    await rename(join(dir, '.hosts.yaml.swp'), path);
    await until('the rename-replace', () => seen.length === 4);
    assert.deepEqual(names(seen[3]), ['db-4']);

    // the same inventory written differently (a comment) is not emitted again
    await writeFile(path, '# hosts in rack 3\n' + file(vm('db-4', '192.0.2.8')));
    // and another file in the directory changing is not news either
    await writeFile(join(dir, 'other.yaml'), 'x: 1');
    await writeFile(path, file(vm('db-5', '192.0.2.9')));
    await until('the next change', () => seen.length === 5);
    assert.deepEqual(names(seen[4]), ['db-5'], 'the comment-only change emitted nothing');

    // deleted: logged, shown, the last good inventory stays (nothing emitted)
    await unlink(path);
    await until('the deletion', () => src.status().error !== undefined);
    assert.equal(src.status().error, `${path}: deleted (the last good inventory stays in use)`);
    assert.equal(log.warns().length, 2);
    assert.equal(seen.length, 5);
    // recreated with the inventory in use: the error clears, nothing is emitted
    await writeFile(path, file(vm('db-5', '192.0.2.9')));
    await until('the recreation', () => src.status().error === undefined);
    assert.equal(seen.length, 5);
    // recreated again, different: emitted
    await unlink(path);
    await until('the second deletion', () => src.status().error !== undefined);
    await writeFile(path, file(vm('db-6', '192.0.2.10')));
    await until('the new file', () => seen.length === 6);
    assert.deepEqual(names(seen[5]), ['db-6']);
    assert.equal(log.warns().length, 3);
    assert.equal(
      log.lines.filter((l) => l.level === 'error').length,
      0,
      JSON.stringify(log.lines.filter((l) => l.level === 'error')),
    );
  } finally {
    await Promise.all([src.stop(), src.stop()]);
    await src.stop();
  }
  assert.equal(completed, true, 'stop completes updates$');
  await writeFile(path, file(vm('db-7', '192.0.2.11')));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(seen.length, 6, 'nothing after stop');
  await assert.rejects(src.start(), /stopped/);
  await rm(dir, { recursive: true, force: true });
});

test('start rejects an invalid file with every error at its place', async () => {
  const { dir, path } = await tempFile(`apiVersion: nanoseg.io/v1alpha1\nkind: Inventory\nvips: 1\nhosts: []\n`);
  const src = new FileInventorySource({ file: path, logger: recordingLogger(), pollMs: 0 });
  try {
    await assert.rejects(src.start(), (e: unknown) => {
      assert.ok(e instanceof InventoryFileError);
      assert.equal(e.file, path);
      assert.deepEqual(e.errors, [
        `${path}:3:7: vips: expected a list of VIPs, got 1`,
        `${path}:4:1: hosts: unknown field (allowed: apiVersion, kind, workloads, externals, vips)`,
      ]);
      assert.equal(e.message, e.errors.join('\n'));
      return true;
    });
    assert.deepEqual(src.status(), { file: path });
    // fixed, a new start() succeeds
    await writeFile(path, file(vm('db-1', '192.0.2.5')));
    await src.start();
    assert.equal(src.status().error, undefined);
  } finally {
    await src.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('start rejects a file that is missing or not a file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nanoseg-inv-'));
  try {
    const missing = join(dir, 'nope.yaml');
    const a = new FileInventorySource({ file: missing, logger: recordingLogger() });
    await assert.rejects(a.start(), { name: 'InventoryFileError', message: `${missing}: no such file` });
    await a.stop();
    await mkdir(join(dir, 'adir'));
    const b = new FileInventorySource({ file: join(dir, 'adir'), logger: recordingLogger() });
    await assert.rejects(b.start(), { message: `${join(dir, 'adir')}: not a regular file` });
    await b.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without change events, the poll finds a change', async () => {
  const { dir, path } = await tempFile(file(vm('db-1', '192.0.2.5')));
  const src = new FileInventorySource({ file: path, logger: recordingLogger(), watch: false, pollMs: 30 });
  const seen: InventoryUpdate[] = [];
  src.updates$.subscribe((u) => seen.push(u));
  try {
    await src.start();
    await writeFile(path, file(vm('db-2', '192.0.2.6')));
    await until('the polled change', () => seen.length === 2);
    assert.deepEqual(names(seen[1]), ['db-2']);
    await writeFile(path, 'kind: [');
    await until('the polled error', () => src.status().error !== undefined);
    assert.match(src.status().error!, /^.*hosts\.yaml:1:\d+: /);
    assert.equal(seen.length, 2);
  } finally {
    await src.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('stop before start, and stop during start, leave nothing running', async () => {
  const { dir, path } = await tempFile(file(vm('db-1', '192.0.2.5')));
  try {
    const a = new FileInventorySource({ file: path, logger: recordingLogger() });
    await a.stop();
    await assert.rejects(a.start(), /stopped/);
    const b = new FileInventorySource({ file: path, logger: recordingLogger(), debounceMs: 10, pollMs: 20 });
    const seen: InventoryUpdate[] = [];
    b.updates$.subscribe((u) => seen.push(u));
    const started = b.start();
    await b.stop();
    await started; // resolves, without emitting or watching
    await writeFile(path, file(vm('db-2', '192.0.2.6')));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
