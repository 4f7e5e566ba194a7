import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DB_FILE, Store, StoreError } from '../../../xds-server/src/store/index.js';
import { Checkpointer } from '../../../xds-server/src/store/checkpointer.js';

import type { Edge, Inventory } from '../../../xds-server/src/model/index.js';
import { edgeId } from '../../../xds-server/src/model/index.js';

const open = (dir: string): Store => Store.open(dir);

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nanoseg-store-'));
}

function edge(i: number, count = 1): Edge {
  const k = {
    source: { service: 'shop/web' },
    destination: { cidr: `198.51.${i >> 8}.${i & 255}/32`, sni: 'x.example' },
    protocol: 'tcp' as const,
    port: 443,
  };
  return {
    ...k,
    id: edgeId(k),
    evidence: {
      firstSeen: 1000 + i,
      lastSeen: 2000 + i,
      count,
      bytesSent: 10,
      bytesReceived: 20,
      exampleWorkloads: ['web-1'],
    },
  };
}

test('edges round-trip and upserts update evidence', () => {
  const dir = tmp();
  try {
    const s = open(dir);
    assert.equal(s.file, join(dir, DB_FILE));
    s.upsertEdges([edge(1), edge(2)]);
    s.upsertEdges([edge(1, 5)]);
    s.upsertEdges([]);
    const loaded = s.loadEdges();
    assert.equal(loaded.length, 2);
    const one = loaded.find((e) => e.id === edge(1).id)!;
    assert.deepEqual(one, edge(1, 5));
    s.close();
    s.close(); // idempotent
    const again = open(dir);
    assert.deepEqual(again.loadEdges(), loaded);
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inventory, services and kv; WAL journal; audit table exists', () => {
  const dir = tmp();
  try {
    const s = open(dir);
    const inv: Inventory = {
      workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.0.0.11'], ports: [80] }],
      externals: [],
      vips: [],
    };
    assert.equal(s.getInventory('lab'), undefined);
    s.putInventory('lab', inv);
    assert.deepEqual(s.getInventory('lab'), inv);
    s.putService({ name: 'shop/web', mode: 'learn', state: { state: 'learning' } });
    s.putService({ name: 'shop/web', mode: 'monitor', state: { state: 'converged', convergedAt: 5 } });
    s.putService({ name: 'shop/db', mode: 'learn', state: null });
    assert.deepEqual(s.getServiceRows(), [
      { name: 'shop/db', mode: 'learn', state: null },
      { name: 'shop/web', mode: 'monitor', state: { state: 'converged', convergedAt: 5 } },
    ]);
    const id = s.id;
    assert.match(id, /^[0-9a-f]{8}$/);
    assert.equal(s.id, id);
    s.close();
    const reopened = Store.open(dir);
    assert.equal(reopened.id, id, 'the id is kept with the database');
    reopened.close();
    const otherDir = tmp();
    const other = Store.open(otherDir);
    assert.notEqual(other.id, id, 'a new state dir is a new store');
    other.close();
    rmSync(otherDir, { recursive: true, force: true });

    const db = new Database(join(dir, DB_FILE), { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const cols = (db.pragma('table_info(audit)') as { name: string }[]).map((c) => c.name);
    assert.deepEqual(cols, ['id', 'time', 'actor', 'action', 'before', 'after']);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that is not a database gives a clear error naming it', () => {
  const dir = tmp();
  try {
    writeFileSync(join(dir, DB_FILE), 'this is not a database, it is a shopping list: eggs, milk, bread. '.repeat(100));
    assert.throws(
      () => open(dir),
      (err: unknown) => {
        assert.ok(err instanceof StoreError);
        assert.equal(err.code, 'corrupt');
        assert.equal(err.file, join(dir, DB_FILE));
        assert.match(
          err.message,
          new RegExp(`state database ${join(dir, DB_FILE).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupted`),
        );
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged page is caught by the integrity check on open', () => {
  const dir = tmp();
  try {
    const s = open(dir);
    for (let i = 0; i < 50; i++) s.upsertEdges(Array.from({ length: 40 }, (_, j) => edge(i * 40 + j)));
    s.close(); // checkpoints the WAL into the main file
    const file = join(dir, DB_FILE);
    const size = statSync(file).size;
    assert.ok(size > 8 * 4096);
    const fd = openSync(file, 'r+');
    // scribble over a few pages in the middle (headers included), keep the file header intact
    const junk = Buffer.alloc(4096 * 3, 0xa5);
    writeSync(fd, junk, 0, junk.length, 4096 * 3);
    closeSync(fd);
    assert.throws(
      () => open(dir),
      (err: unknown) => err instanceof StoreError && err.code === 'corrupt' && err.message.includes(file),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('background checkpoints move committed evidence into the database file without a checkpoint on the writer', async () => {
  const dir = tmp();
  const s = open(dir);
  const copy = tmp();
  try {
    const failures: string[] = [];
    s.checkpointInBackground(30, (r) => failures.push(r));
    // 30 small transactions: together far below SQLite's automatic checkpoint (1000 pages), so only the worker
    // can have copied them from the WAL into the database file
    for (let round = 1; round <= 30; round++) {
      s.upsertEdges(Array.from({ length: 50 }, (_, j) => edge(j, round)));
      await new Promise((r) => setTimeout(r, 20));
    }
    // the database file alone (no WAL beside it) holds the last commit once a checkpoint has run
    const countInDbFile = (): number | undefined => {
      writeFileSync(join(copy, 'x.db'), readFileSync(s.file));
      const db = new Database(join(copy, 'x.db'), { readonly: true });
      try {
        const row = db.prepare('SELECT evidence FROM edges WHERE id = ?').get(edge(7).id) as
          { evidence: string } | undefined;
        return row && (JSON.parse(row.evidence) as { count: number }).count;
      } finally {
        db.close();
      }
    };
    let count: number | undefined;
    for (let i = 0; i < 100 && count !== 30; i++) {
      count = countInDbFile();
      if (count !== 30) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(count, 30, 'the database file never caught up with the WAL');
    assert.deepEqual(failures, []);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(copy, { recursive: true, force: true });
  }
});

test('when background checkpoints cannot run, the store says why and keeps working', async () => {
  const dir = tmp();
  const s = open(dir);
  try {
    rmSync(s.file); // the worker opens the file by name: it is gone, the open connection still works
    // the worker is unref'd (it never holds the process open): a timer keeps this test's loop alive meanwhile
    let timer: NodeJS.Timeout | undefined;
    const reason = await new Promise<string>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no failure reported in 5 s')), 5000);
      s.checkpointInBackground(30, resolve);
    }).finally(() => clearTimeout(timer));
    assert.match(reason, /unable to open|no such file|SQLITE_CANTOPEN/i);
    s.upsertEdges([edge(1)]);
    assert.equal(s.loadEdges().length, 1);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// The process must not exit while the checkpoint worker is inside SQLite (a statement failing in a thread being
// torn down aborts the process with SIGABRT): stop() resolves only once the worker has exited.
test('stopping background checkpoints waits for the worker to exit', async () => {
  const dir = tmp();
  const s = open(dir);
  try {
    const c = Checkpointer.start({ file: s.file, intervalMs: 1, onFailure: (r) => assert.fail(r) });
    s.upsertEdges([edge(1)]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.running, true);
    await c.stop();
    assert.equal(c.running, false, 'stop() resolved while the worker still ran');
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
