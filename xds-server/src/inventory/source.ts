// The InventorySource seam: where facts about who is who come from: the lab (pushed over the API), a static file of
// hosts and VMs, and a cluster's informers (kubernetes/source.ts). Sources are level-triggered: every update carries
// a source's whole current inventory (never a delta), so a consumer that sees only the latest value per source is
// always right.
import type { Observable } from 'rxjs';
import type { Inventory } from '../model/index.js';

export interface InventoryUpdate {
  /** Stable key of the (sub)source; the store keeps each one's latest inventory under it: "lab", "file", ... */
  readonly source: string;
  /** The source's whole inventory now; undefined when it has none any more (e.g. `nanoseg lab down`). */
  readonly inventory: Inventory | undefined;
}

export interface InventorySource {
  /** For logs and status. */
  readonly name: string;
  /** Every change, as whole inventories. A source may speak for several keys (the API: one per PUT path). */
  readonly updates$: Observable<InventoryUpdate>;
  /** Starts watching; idempotent. Rejects with an error naming the place (file:line:col, field) when the
   * source's first inventory is invalid, so the control plane does not start on bad input. */
  start(): Promise<void>;
  /** Idempotent. */
  stop(): Promise<void>;
  /** What `nanoseg status` shows of the source (e.g. a file's last load and a pending error). */
  status?(): InventorySourceStatus;
}

export interface InventorySourceStatus {
  /** the file it reads, when it reads one */
  readonly file?: string;
  /** the apiserver it watches, when it watches one */
  readonly server?: string;
  /** when it last loaded a valid inventory (ms) */
  readonly loadedAt?: number;
  /** why the latest change was not taken (the last good inventory stays) */
  readonly error?: string;
}
