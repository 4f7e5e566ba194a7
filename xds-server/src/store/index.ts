// Persistence: one embedded SQLite database, `<stateDir>/nanoseg.db` (better-sqlite3, WAL, synchronous=NORMAL).
//
// Durability contract (the caller's side is in the serve layer):
//  - A new edge is written at once: the caller calls upsertEdges([edge]) synchronously when the learner reports
//    isNew, before acting on it. Each call is one transaction.
//  - Evidence updates (counts, bytes, last seen) are batched by the caller, once a second, from Learner.dirty().
// With WAL, a committed transaction is in the WAL file (in the OS page cache) before the call returns, so a
// `kill -9` of the control plane loses at most the last second of evidence counts and never a learned edge.
// synchronous=NORMAL skips the fsync per commit: a power loss or kernel crash may lose the last commits (never
// corrupt the database); that is the usual WAL trade-off and what we choose for a learning workload.

import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpointer } from './checkpointer.js';
import type { Edge, EdgeKey, Evidence, Inventory, Mode, ServiceName, AuditEvent } from '../model/index.js';

export const DB_FILE = 'nanoseg.db';
/** SQLite's default WAL size that triggers an automatic checkpoint */
const AUTO_CHECKPOINT_PAGES = 1000;
const STORE_ID_KEY = 'store-id';

export type StoreErrorCode = 'corrupt' | 'open-failed';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** One row of the services table: the user's mode and opaque per-service state (e.g. convergence memory). */
export interface ServiceRow {
  readonly name: ServiceName;
  readonly mode: Mode;
  readonly state: unknown;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS edges (
  id       TEXT PRIMARY KEY,
  key      TEXT NOT NULL,   -- JSON EdgeKey {source, destination, protocol, port}
  evidence TEXT NOT NULL    -- JSON Evidence
);
CREATE TABLE IF NOT EXISTS services (
  name  TEXT PRIMARY KEY,
  mode  TEXT NOT NULL,
  state TEXT NOT NULL       -- JSON
);
CREATE TABLE IF NOT EXISTS inventory (
  source TEXT PRIMARY KEY,  -- inventory source name (lab, workload file path, kubernetes)
  json   TEXT NOT NULL      -- JSON Inventory
);
CREATE TABLE IF NOT EXISTS kv (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  time   INTEGER NOT NULL,  -- ms since epoch
  actor  TEXT NOT NULL,
  action TEXT NOT NULL,
  before TEXT,              -- JSON or NULL
  after  TEXT               -- JSON or NULL
);
`;

interface EdgeRow {
  id: string;
  key: string;
  evidence: string;
}

export class Store {
  private readonly db: Database.Database;
  private readonly upsertEdge: Database.Statement<[string, string, string]>;
  private readonly updateEvidence: Database.Statement<[string, string]>;
  private readonly upsertMany: (edges: readonly Edge[]) => void;
  private readonly selectEdges: Database.Statement<[], EdgeRow>;
  private readonly selectInventory: Database.Statement<[string], { json: string }>;
  private readonly upsertInventory: Database.Statement<[string, string]>;
  private readonly selectServices: Database.Statement<[], { name: string; mode: string; state: string }>;
  private readonly upsertService: Database.Statement<[string, string, string]>;
  private readonly selectKv: Database.Statement<[string], { value: string }>;
  private readonly upsertKv: Database.Statement<[string, string]>;
  private checkpointer: Checkpointer | undefined;
  private storeId: string | undefined;

  private constructor(
    db: Database.Database,
    /** absolute or caller-relative path of the database file */
    readonly file: string,
  ) {
    this.db = db;
    this.upsertEdge = db.prepare(
      'INSERT INTO edges (id, key, evidence) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET evidence = excluded.evidence',
    );
    this.updateEvidence = db.prepare('UPDATE edges SET evidence = ? WHERE id = ?');
    // Most writes are evidence of known edges (the periodic flush): update the evidence alone, and write the key
    // only for an edge that has no row yet.
    this.upsertMany = db.transaction((edges: readonly Edge[]) => {
      for (const e of edges) {
        const evidence = JSON.stringify(e.evidence);
        if (this.updateEvidence.run(evidence, e.id).changes > 0) continue;
        const key: EdgeKey = { source: e.source, destination: e.destination, protocol: e.protocol, port: e.port };
        this.upsertEdge.run(e.id, JSON.stringify(key), evidence);
      }
    });
    this.selectEdges = db.prepare('SELECT id, key, evidence FROM edges ORDER BY id');
    this.selectInventory = db.prepare('SELECT json FROM inventory WHERE source = ?');
    this.upsertInventory = db.prepare(
      'INSERT INTO inventory (source, json) VALUES (?, ?) ON CONFLICT(source) DO UPDATE SET json = excluded.json',
    );
    this.selectServices = db.prepare('SELECT name, mode, state FROM services ORDER BY name');
    this.upsertService = db.prepare(
      'INSERT INTO services (name, mode, state) VALUES (?, ?, ?) ' +
        'ON CONFLICT(name) DO UPDATE SET mode = excluded.mode, state = excluded.state',
    );
    this.selectKv = db.prepare('SELECT value FROM kv WHERE key = ?');
    this.upsertKv = db.prepare(
      'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
  }

  /**
   * Opens (creating if needed) `<stateDir>/nanoseg.db`, checks its integrity with `PRAGMA quick_check` and
   * creates missing tables. Throws StoreError('corrupt') naming the file when the database is damaged.
   */
  static open(stateDir: string): Store {
    const file = join(stateDir, DB_FILE);
    try {
      mkdirSync(stateDir, { recursive: true });
    } catch (err) {
      throw new StoreError('open-failed', file, `cannot create state directory ${stateDir}: ${String(err)}`, {
        cause: err,
      });
    }
    let db: Database.Database;
    try {
      db = new Database(file);
    } catch (err) {
      throw new StoreError('open-failed', file, `cannot open state database ${file}: ${errMsg(err)}`, { cause: err });
    }
    try {
      // Reading the header happens on the first statement: a non-database file fails here (SQLITE_NOTADB).
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      const rows = db.pragma('quick_check') as { quick_check: string }[];
      const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
      if (problems.length > 0) {
        throw new Error(problems.slice(0, 5).join('; '));
      }
      db.exec(SCHEMA);
      return new Store(db, file);
    } catch (err) {
      db.close();
      throw new StoreError(
        'corrupt',
        file,
        `state database ${file} is corrupted (${errMsg(err)}); move it aside to start over, or restore a backup`,
        { cause: err },
      );
    }
  }

  /** All edges, ordered by id. */
  loadEdges(): Edge[] {
    const out: Edge[] = [];
    for (const r of this.selectEdges.iterate()) {
      const key = JSON.parse(r.key) as EdgeKey;
      const evidence = JSON.parse(r.evidence) as Evidence;
      out.push({
        id: r.id,
        source: key.source,
        destination: key.destination,
        protocol: key.protocol,
        port: key.port,
        evidence,
      });
    }
    return out;
  }

  /** Inserts or updates edges in one transaction (the key of an existing edge never changes). */
  upsertEdges(edges: readonly Edge[]): void {
    if (edges.length === 0) return;
    this.upsertMany(edges);
  }

  getInventory(source: string): Inventory | undefined {
    const r = this.selectInventory.get(source);
    return r === undefined ? undefined : (JSON.parse(r.json) as Inventory);
  }

  putInventory(source: string, inv: Inventory): void {
    this.upsertInventory.run(source, JSON.stringify(inv));
  }

  /** Appends a person's change to the audit table. */
  appendAudit(e: AuditEvent): void {
    this.db
      .prepare('INSERT INTO audit (time, actor, action, before, after) VALUES (?, ?, ?, ?, ?)')
      .run(
        Date.parse(e.time),
        e.actor,
        `${e.action} ${e.target}`,
        JSON.stringify(e.before ?? null),
        JSON.stringify(e.after ?? null),
      );
  }

  /** Audit events since a time (ms), oldest first. */
  listAudit(sinceMs = 0): AuditEvent[] {
    const rows = this.db
      .prepare('SELECT time, actor, action, before, after FROM audit WHERE time >= ? ORDER BY id')
      .all(sinceMs) as { time: number; actor: string; action: string; before: string | null; after: string | null }[];
    return rows.map((r) => {
      const [action, ...target] = r.action.split(' ');
      return {
        time: new Date(r.time).toISOString(),
        actor: r.actor,
        action: action as AuditEvent['action'],
        target: target.join(' '),
        before: r.before === null ? null : JSON.parse(r.before),
        after: r.after === null ? null : JSON.parse(r.after),
      };
    });
  }

  deleteInventory(source: string): void {
    this.db.prepare('DELETE FROM inventory WHERE source = ?').run(source);
  }

  /** Names of the stored inventory sources, sorted. */
  inventorySources(): string[] {
    return this.db.prepare('SELECT source FROM inventory ORDER BY source').pluck().all() as string[];
  }

  /** A small named value of a component (JSON text), e.g. which NanoSegment generations were applied. */
  getValue(key: string): string | undefined {
    return this.selectKv.get(key)?.value;
  }

  putValue(key: string, value: string): void {
    this.upsertKv.run(key, value);
  }

  getServiceRows(): ServiceRow[] {
    return this.selectServices
      .all()
      .map((r) => ({ name: r.name, mode: r.mode as Mode, state: JSON.parse(r.state) as unknown }));
  }

  putService(row: ServiceRow): void {
    this.upsertService.run(row.name, row.mode, JSON.stringify(row.state ?? null));
  }

  /**
   * This store's id: made once when the database is created and kept with it. Every version the control plane
   * serves carries it, so a reconnecting sidecar's versions say whether this store's control plane configured it
   * (fail-static: xds/fail-static.ts). A lost or replaced state dir means a new id.
   */
  get id(): string {
    if (this.storeId === undefined) {
      let id = this.selectKv.get(STORE_ID_KEY)?.value;
      if (id === undefined) {
        id = randomBytes(4).toString('hex');
        this.upsertKv.run(STORE_ID_KEY, id);
      }
      this.storeId = id;
    }
    return this.storeId;
  }

  /**
   * Moves WAL checkpoints to a worker thread (see checkpointer.ts) so no commit on the event loop pays for one.
   * If the worker cannot run, SQLite's automatic checkpoints come back and `onFailure` says why.
   */
  checkpointInBackground(intervalMs: number, onFailure: (reason: string) => void): void {
    if (this.checkpointer || !this.db.open) return;
    const fallBack = (reason: string): void => {
      this.checkpointer = undefined;
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
      onFailure(reason);
    };
    this.db.pragma('wal_autocheckpoint = 0');
    try {
      this.checkpointer = Checkpointer.start({ file: this.file, intervalMs, onFailure: fallBack });
    } catch (err) {
      fallBack(errMsg(err));
    }
  }

  /**
   * Idempotent. The WAL is checkpointed on the way out (by the background worker, or by SQLite when this is the
   * last connection); a WAL left behind is safe: the next open replays it. The connection is closed on return;
   * the promise resolves once the background worker has exited too (await it before the process exits or the
   * files are removed).
   */
  close(): Promise<void> {
    if (!this.db.open) return Promise.resolve();
    const worker = this.checkpointer?.stop();
    this.checkpointer = undefined;
    this.db.close();
    return worker ?? Promise.resolve();
  }
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
