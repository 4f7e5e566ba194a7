// Snapshots per node, and one-shot watches that setSnapshot answers (go-control-plane's simple cache idea).
import type { ValidationResult } from '../model/index.js';
import { checkConsistency } from './snapshot.js';
import type { Snapshot } from './snapshot.js';
import { RESPONSE_ORDER } from './types.js';
import type { TypeUrl } from './types.js';

/** Called at most once, with the snapshot whose version for the watched type differs from the one known. */
export type WatchCallback = (snapshot: Snapshot) => void;

interface Watch {
  readonly typeUrl: TypeUrl;
  readonly knownVersion: string;
  readonly cb: WatchCallback;
}

interface NodeEntry {
  snapshot?: Snapshot;
  readonly watches: Set<Watch>;
}

export class SnapshotCache {
  private readonly nodes = new Map<string, NodeEntry>();

  /** Checks consistency first: an inconsistent snapshot is rejected with the errors and the previous one kept. */
  setSnapshot(nodeId: string, snapshot: Snapshot): ValidationResult<Snapshot> {
    const check = checkConsistency(snapshot);
    if (!check.valid) return check;
    const entry = this.entry(nodeId);
    entry.snapshot = snapshot;
    if (entry.watches.size === 0) return check;
    // Answer in RESPONSE_ORDER so a stream watching several types pushes clusters before endpoints, etc.
    for (const t of RESPONSE_ORDER) {
      const version = snapshot.types[t].version;
      for (const w of entry.watches) {
        if (w.typeUrl !== t || w.knownVersion === version) continue;
        entry.watches.delete(w);
        w.cb(snapshot);
      }
    }
    return check;
  }

  getSnapshot(nodeId: string): Snapshot | undefined {
    return this.nodes.get(nodeId)?.snapshot;
  }

  /** Forgets the node's snapshot. Parked watches stay parked and are answered by the next setSnapshot. */
  clear(nodeId: string): void {
    const entry = this.nodes.get(nodeId);
    if (!entry) return;
    delete entry.snapshot;
    if (entry.watches.size === 0) this.nodes.delete(nodeId);
  }

  /**
   * Parks a one-shot watch: `cb` runs once a snapshot whose `typeUrl` version differs from `knownVersion` is set
   * ('' = none known). If the current snapshot already differs, it runs on the next microtask. Returns a canceller.
   */
  watch(nodeId: string, typeUrl: TypeUrl, knownVersion: string, cb: WatchCallback): () => void {
    const entry = this.entry(nodeId);
    const w: Watch = { typeUrl, knownVersion, cb };
    entry.watches.add(w);
    const cancel = (): void => {
      entry.watches.delete(w);
      if (entry.watches.size === 0 && !entry.snapshot && this.nodes.get(nodeId) === entry) this.nodes.delete(nodeId);
    };
    if (entry.snapshot && entry.snapshot.types[typeUrl].version !== knownVersion) {
      queueMicrotask(() => {
        const s = entry.snapshot;
        if (!s || s.types[typeUrl].version === knownVersion || !entry.watches.delete(w)) return;
        cb(s);
      });
    }
    return cancel;
  }

  /** Parked watches, for status pages and tests. */
  watchCount(nodeId?: string): number {
    if (nodeId !== undefined) return this.nodes.get(nodeId)?.watches.size ?? 0;
    let n = 0;
    for (const e of this.nodes.values()) n += e.watches.size;
    return n;
  }

  private entry(nodeId: string): NodeEntry {
    let e = this.nodes.get(nodeId);
    if (!e) this.nodes.set(nodeId, (e = { watches: new Set() }));
    return e;
  }
}
