// Merging the inventories of several sources into one: sources in name order, each one's entries in its own order,
// so the merged inventory (and everything generated from it) is the same whatever order updates came in. Pure.
import type { Inventory } from '../model/index.js';

export function mergeInventories(bySource: ReadonlyMap<string, Inventory>): Inventory {
  const names = [...bySource.keys()].sort();
  return {
    workloads: names.flatMap((n) => bySource.get(n)!.workloads),
    externals: names.flatMap((n) => bySource.get(n)!.externals),
    vips: names.flatMap((n) => bySource.get(n)!.vips),
  };
}
