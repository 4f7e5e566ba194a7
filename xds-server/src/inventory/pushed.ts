// Inventories pushed over the API (`PUT /v1/inventory/:source`): the lab's (`nanoseg lab up` registers it under
// "lab"), or anything else that knows who is who. One InventorySource speaking for every pushed key.
import { Subject } from 'rxjs';
import type { Inventory } from '../model/index.js';
import type { InventorySource, InventoryUpdate } from './source.js';

export class PushedInventories implements InventorySource {
  readonly name = 'api';
  private readonly subject = new Subject<InventoryUpdate>();
  readonly updates$ = this.subject.asObservable();

  /** Replaces the inventory under `source`. */
  put(source: string, inventory: Inventory): void {
    this.subject.next({ source, inventory });
  }

  /** Removes the inventory under `source`. */
  delete(source: string): void {
    this.subject.next({ source, inventory: undefined });
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.subject.complete();
  }
}
