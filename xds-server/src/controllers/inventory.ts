// The inventory controller: every InventorySource's updates, merged into one inventory and one identity index
// (swapped whole), each source's latest inventory kept in the store so a restarted control plane knows who is who
// before any source speaks again. Level-triggered: an update replaces a source's whole inventory.
import { merge, type Subscription } from 'rxjs';
import { IdentityIndex } from '../inventory/identity.js';
import { mergeInventories } from '../inventory/merge.js';
import type { InventorySource, InventorySourceStatus, InventoryUpdate } from '../inventory/source.js';
import type { Inventory } from '../model/index.js';
import { OncePerKind, type Logger } from '../util/logger.js';

export interface InventoryStore {
  inventorySources(): string[];
  getInventory(source: string): Inventory | undefined;
  putInventory(source: string, inv: Inventory): void;
  deleteInventory(source: string): void;
}

export interface InventoryControllerOptions {
  readonly store: InventoryStore;
  readonly logger: Logger;
  /** the merged inventory changed (every sidecar's config may have) */
  readonly onChange: (index: IdentityIndex, reason: string) => void;
}

export class InventoryController {
  private readonly bySource = new Map<string, Inventory>();
  private current = IdentityIndex.EMPTY;
  private readonly sources: InventorySource[] = [];
  private subscription: Subscription | undefined;
  private readonly once: OncePerKind;

  constructor(private readonly opts: InventoryControllerOptions) {
    this.once = new OncePerKind(opts.logger, 60_000);
  }

  /** The identity index of the merged inventory (replaced whole on every change). */
  get index(): IdentityIndex {
    return this.current;
  }

  /** Loads what the store kept from every source (no change is announced). */
  restore(): void {
    for (const source of this.opts.store.inventorySources()) {
      const inv = this.opts.store.getInventory(source);
      if (inv) this.bySource.set(source, inv);
    }
    this.rebuild();
  }

  /** Sources to follow once started. */
  add(source: InventorySource): this {
    this.sources.push(source);
    return this;
  }

  /** Each source's own status (what it loaded, a pending error). */
  sourceStatus(): ({ name: string } & InventorySourceStatus)[] {
    return this.sources.flatMap((s) => (s.status ? [{ name: s.name, ...s.status() }] : []));
  }

  /** Starts every source and follows their updates; rejects (naming the source's problem) when one cannot start. */
  async start(): Promise<void> {
    if (this.subscription) return;
    this.subscription = merge(...this.sources.map((s) => s.updates$)).subscribe((u) => this.apply(u));
    for (const s of this.sources) await s.start();
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    for (const s of this.sources) await s.stop();
  }

  /** Replaces one source's inventory, keeps it in the store, and announces the change. */
  apply(u: InventoryUpdate): void {
    try {
      if (u.inventory) this.opts.store.putInventory(u.source, u.inventory);
      else this.opts.store.deleteInventory(u.source);
    } catch (e) {
      this.once.warn('store-inventory', { err: (e as Error).message, source: u.source }, 'cannot persist an inventory');
    }
    if (u.inventory) this.bySource.set(u.source, u.inventory);
    else if (!this.bySource.delete(u.source)) return;
    this.rebuild();
    this.opts.onChange(this.current, `inventory ${u.source} changed`);
  }

  private rebuild(): void {
    this.current = IdentityIndex.build(mergeInventories(this.bySource));
    if (this.current.conflicts.length) {
      this.opts.logger.warn(
        { addresses: this.current.conflicts },
        'addresses claimed by more than one workload; the first claim wins',
      );
    }
  }
}
