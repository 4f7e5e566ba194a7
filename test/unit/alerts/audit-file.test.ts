import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlAuditFile } from '../../../xds-server/src/alerts/index.js';
import type { AuditEvent } from '../../../xds-server/src/model/index.js';
import { T0, alertAt } from './fixtures.js';

const audit: AuditEvent = {
  time: new Date(T0).toISOString(),
  actor: 'root',
  action: 'mode',
  target: 'shop/web',
  before: 'learn',
  after: 'monitor',
};

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), 'every line is terminated');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function tmp(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nsg-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('writes one JSON object per line, alerts and audit events, in order', async (t) => {
  const dir = await tmp(t);
  const path = join(dir, 'state', 'audit.jsonl'); // the directory is created
  const f = new JsonlAuditFile(path);
  f.writeAlert(alertAt(T0, { count: 1 }));
  f.writeAudit(audit);
  for (let i = 2; i <= 2500; i++) f.writeAlert(alertAt(T0, { count: i })); // several batches
  await f.flush();
  const got = await lines(path);
  assert.equal(got.length, 2501);
  assert.deepEqual(got[0], { type: 'alert', ...alertAt(T0, { count: 1 }) });
  assert.deepEqual(got[1], { type: 'audit', ...audit });
  assert.deepEqual(
    got.slice(2).map((l) => l['count']),
    Array.from({ length: 2499 }, (_, i) => i + 2),
  );
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.deepEqual(f.stats(), { written: 2501, errors: 0, dropped: 0, queued: 0, reopens: 0 });
  await f.stop();
  await f.stop();
  f.writeAlert(alertAt(T0)); // after stop: dropped, not written
  assert.equal(f.stats().dropped, 1);
  assert.equal((await lines(path)).length, 2501);
});

test('appends to an existing file', async (t) => {
  const path = join(await tmp(t), 'audit.jsonl');
  const a = new JsonlAuditFile(path, { fsync: 'always' });
  a.writeAudit(audit);
  await a.stop();
  const b = new JsonlAuditFile(path, { fsync: 'never' });
  b.writeAlert(alertAt(T0));
  await b.stop();
  assert.deepEqual(
    (await lines(path)).map((l) => l['type']),
    ['audit', 'alert'],
  );
});

test('recovers after the file is deleted, and after it is rotated away', async (t) => {
  const dir = await tmp(t);
  const path = join(dir, 'audit.jsonl');
  const f = new JsonlAuditFile(path);
  t.after(() => f.stop());
  f.writeAlert(alertAt(T0, { count: 1 }));
  await f.flush();
  await rm(path);
  f.writeAlert(alertAt(T0, { count: 2 }));
  await f.flush();
  assert.deepEqual(
    (await lines(path)).map((l) => l['count']),
    [2],
  );
  assert.equal(f.stats().reopens, 1);

  await rename(path, `${path}.1`);
  f.writeAudit(audit);
  await f.flush();
  assert.deepEqual(
    (await lines(path)).map((l) => l['type']),
    ['audit'],
  );
  assert.deepEqual(
    (await lines(`${path}.1`)).map((l) => l['count']),
    [2],
  );
  assert.equal(f.stats().reopens, 2);
  assert.equal(f.stats().errors, 0);
});

test('write errors are counted, never thrown; the lines are kept and written once the path works again', async (t) => {
  const dir = await tmp(t);
  const blocker = join(dir, 'state');
  await writeFile(blocker, ''); // a regular file where the state directory should be: fails even for root
  const path = join(blocker, 'audit.jsonl');
  const f = new JsonlAuditFile(path, { retryMs: 20 });
  t.after(() => f.stop());
  f.writeAlert(alertAt(T0, { count: 1 }));
  f.writeAudit(audit);
  await f.flush();
  assert.ok(f.stats().errors >= 1);
  assert.equal(f.stats().queued, 2);
  await rm(blocker);
  await new Promise((r) => setTimeout(r, 80)); // the retry timer creates the directory and writes
  assert.equal(f.stats().queued, 0);
  assert.deepEqual(
    (await lines(path)).map((l) => l['type']),
    ['alert', 'audit'],
  );
});

test('an unwritable path: errors counted, queue bounded, stop ends promptly and counts what was left', async (t) => {
  const dir = await tmp(t);
  const blocker = join(dir, 'file');
  await writeFile(blocker, '');
  const path = join(blocker, 'audit.jsonl'); // a path under a regular file can never be created, even by root
  const f = new JsonlAuditFile(path, { maxQueuedLines: 10, retryMs: 10 });
  for (let i = 0; i < 25; i++) f.writeAlert(alertAt(T0, { count: i }));
  await f.flush();
  const s = f.stats();
  assert.ok(s.errors >= 1);
  assert.equal(s.queued, 10);
  assert.equal(s.dropped, 15);
  await f.stop();
  assert.equal(f.stats().dropped, 25);
  assert.equal(f.stats().queued, 0);
});

test('an unserialisable audit event is counted and dropped', async (t) => {
  const path = join(await tmp(t), 'audit.jsonl');
  const f = new JsonlAuditFile(path);
  f.writeAudit({ ...audit, after: { n: 1n } });
  f.writeAudit(audit);
  await f.stop();
  assert.equal(f.stats().dropped, 1);
  assert.equal(f.stats().errors, 1);
  assert.equal((await lines(path)).length, 1);
});
