import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { projectRoot } from '../../../xds-server/src/util/envoy.js';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { DB_FILE, StoreError, open } from '../../../xds-server/src/store/index.js';
import type { Edge, Inventory } from '../../../xds-server/src/model/index.js';
import { edgeId } from '../../../xds-server/src/model/index.js';

// the source tree (also when this test runs compiled from dist/): the writer child runs the .ts sources with tsx
const ROOT = projectRoot();

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
    assert.equal(s.get('k'), undefined);
    s.put('k', 'v1');
    s.put('k', 'v2');
    assert.equal(s.get('k'), 'v2');
    s.close();

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

test('kill -9 while writing: every edge committed before the kill is there and the database is intact', async () => {
  const dir = tmp();
  try {
    const storeUrl = pathToFileURL(join(ROOT, 'xds-server/src/store/index.ts')).href;
    const modelUrl = pathToFileURL(join(ROOT, 'xds-server/src/model/index.ts')).href;
    // The writer does what the serve layer will do: each new edge written at once, evidence updates batched.
    const child = `
      import { open } from ${JSON.stringify(storeUrl)};
      import { edgeId } from ${JSON.stringify(modelUrl)};
      const s = open(${JSON.stringify(dir)});
      const edges = [];
      for (let i = 0; ; i++) {
        const k = { source: { service: 'shop/web' }, destination: { cidr: '198.51.' + (i >> 8) + '.' + (i & 255) + '/32' }, protocol: 'tcp', port: 443 };
        const e = { ...k, id: edgeId(k), evidence: { firstSeen: i, lastSeen: i, count: 1, bytesSent: 0, bytesReceived: 0, exampleWorkloads: [] } };
        edges.push(e);
        s.upsertEdges([e]);
        process.stdout.write(i + '\\n');
        if (i % 50 === 49) {
          for (const x of edges) x.evidence.count++;
          s.upsertEdges(edges);
        }
      }
    `;
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let confirmed = -1;
    let buf = '';
    const exited = new Promise<NodeJS.Signals | null>((res) => proc.on('exit', (_code, sig) => res(sig)));
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) confirmed = Number(l);
      if (confirmed >= 500 && !proc.killed) proc.kill('SIGKILL');
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
    const signal = await exited;
    clearTimeout(timer);
    assert.equal(signal, 'SIGKILL', `writer did not die by SIGKILL: ${stderr}`);
    assert.ok(confirmed >= 500, `writer only confirmed ${confirmed} edges: ${stderr}`);

    const s = open(dir); // runs quick_check: throws if damaged
    const ids = new Set(s.loadEdges().map((e) => e.id));
    for (let i = 0; i <= confirmed; i++) {
      const k = {
        source: { service: 'shop/web' },
        destination: { cidr: `198.51.${i >> 8}.${i & 255}/32` },
        protocol: 'tcp' as const,
        port: 443,
      };
      assert.ok(ids.has(edgeId(k)), `edge ${i} (confirmed before the kill) is missing`);
    }
    s.close();
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
    db.close();
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
    s.close();
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
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
