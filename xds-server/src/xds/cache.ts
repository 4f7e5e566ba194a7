// Snapshots per group, one-shot watches per node that setSnapshot answers (go-control-plane's simple cache with its
// node hash: every node of a group — the replicas of one service — shares one snapshot, checked once).
// A node belongs to at most one group; a node in no group (held by fail-static) is never answered.
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
  group: string | undefined;
  readonly watches: Set<Watch>;
}

interface GroupEntry {
  snapshot?: Snapshot;
  readonly members: Set<string>;
}

export class SnapshotCache {
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly groups = new Map<string, GroupEntry>();

  /**
   * Checks consistency once for the whole group: an inconsistent snapshot is rejected with the errors and the
   * previous one kept. Then answers the parked watches of the group's nodes, in RESPONSE_ORDER (clusters before
   * endpoints, ...), type by type.
   */
  setSnapshot(group: string, snapshot: Snapshot): ValidationResult<Snapshot> {
    const check = checkConsistency(snapshot);
    if (!check.valid) return check;
    const g = this.group(group);
    g.snapshot = snapshot;
    if (g.members.size === 0) return check;
    for (const t of RESPONSE_ORDER) {
      const version = snapshot.types[t].version;
      for (const id of g.members) {
        const n = this.nodes.get(id);
        if (n) this.answer(n, snapshot, t, version);
      }
    }
    return check;
  }

  getSnapshot(group: string): Snapshot | undefined {
    return this.groups.get(group)?.snapshot;
  }

  /** The snapshot a node is served: its group's (none while it is in no group). */
  snapshotOf(nodeId: string): Snapshot | undefined {
    const g = this.nodes.get(nodeId)?.group;
    return g === undefined ? undefined : this.groups.get(g)?.snapshot;
  }

  /** The node's group; a node never assigned is its own group (one snapshot per node, the cache's default). */
  groupOf(nodeId: string): string | undefined {
    const n = this.nodes.get(nodeId);
    return n ? n.group : nodeId;
  }

  /**
   * Puts a node in a group (undefined: in none, so nothing answers it). When the group changes, its parked watches
   * are checked against the new group's snapshot at once.
   */
  assign(nodeId: string, group: string | undefined): void {
    const n = this.entry(nodeId);
    if (n.group === group) return;
    if (n.group !== undefined) this.leave(nodeId, n.group);
    n.group = group;
    if (group === undefined) return;
    const g = this.group(group);
    g.members.add(nodeId);
    const s = g.snapshot;
    if (!s) return;
    for (const t of RESPONSE_ORDER) this.answer(n, s, t, s.types[t].version);
  }

  /** Forgets a group's snapshot (its nodes stay; their watches wait for the next setSnapshot). */
  clearGroup(group: string): void {
    const g = this.groups.get(group);
    if (!g) return;
    delete g.snapshot;
    if (g.members.size === 0) this.groups.delete(group);
  }

  /** Groups that have a snapshot or members. */
  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  /** Nodes in a group. */
  members(group: string): readonly string[] {
    return [...(this.groups.get(group)?.members ?? [])];
  }

  /** Forgets a node (its stream ended); its watches are dropped. */
  forget(nodeId: string): void {
    const n = this.nodes.get(nodeId);
    if (!n) return;
    if (n.group !== undefined) this.leave(nodeId, n.group);
    this.nodes.delete(nodeId);
  }

  /**
   * Parks a one-shot watch: `cb` runs once the node's snapshot has a `typeUrl` version other than `knownVersion`
   * ('' = none known). If the current snapshot already differs, it runs on the next microtask. Returns a canceller.
   */
  watch(nodeId: string, typeUrl: TypeUrl, knownVersion: string, cb: WatchCallback): () => void {
    const n = this.entry(nodeId);
    const w: Watch = { typeUrl, knownVersion, cb };
    n.watches.add(w);
    const cancel = (): void => {
      n.watches.delete(w);
    };
    const current = this.snapshotOf(nodeId);
    if (current && current.types[typeUrl].version !== knownVersion) {
      queueMicrotask(() => {
        const s = this.snapshotOf(nodeId);
        if (!s || s.types[typeUrl].version === knownVersion || !n.watches.delete(w)) return;
        cb(s);
      });
    }
    return cancel;
  }

  /** Parked watches, for status pages and tests. */
  watchCount(nodeId?: string): number {
    if (nodeId !== undefined) return this.nodes.get(nodeId)?.watches.size ?? 0;
    let count = 0;
    for (const e of this.nodes.values()) count += e.watches.size;
    return count;
  }

  private answer(n: NodeEntry, s: Snapshot, t: TypeUrl, version: string): void {
    for (const w of n.watches) {
      if (w.typeUrl !== t || w.knownVersion === version) continue;
      n.watches.delete(w);
      w.cb(s);
    }
  }

  private leave(nodeId: string, group: string): void {
    const g = this.groups.get(group);
    if (!g) return;
    g.members.delete(nodeId);
    if (g.members.size === 0 && !g.snapshot) this.groups.delete(group);
  }

  private group(name: string): GroupEntry {
    let g = this.groups.get(name);
    if (!g) this.groups.set(name, (g = { members: new Set() }));
    return g;
  }

  /** A node seen for the first time is its own group until assigned elsewhere. */
  private entry(nodeId: string): NodeEntry {
    let n = this.nodes.get(nodeId);
    if (!n) {
      this.nodes.set(nodeId, (n = { group: nodeId, watches: new Set() }));
      this.group(nodeId).members.add(nodeId);
    }
    return n;
  }
}
