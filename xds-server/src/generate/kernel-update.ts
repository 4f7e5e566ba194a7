// Pure: the `nft -f` transaction that turns the kernel rules in force into the desired ones, touching only what
// differs — like kube-proxy's nftables proxier, which rewrites only the chains and elements that changed between
// its full syncs. Replacing the whole ruleset re-adds every element of every set (10,000 peers are 10,000 elements
// the kernel rebuilds and announces to every `nft monitor`) for what is usually one verdict rule or one address.
//
// One transaction, in an order the kernel accepts (it checks references as it goes):
//   1. new sets and maps (declared, empty) and new chains (empty);
//   2. elements: the ones gone deleted, then the new ones added (a verdict map's element that jumps to a chain that
//      goes away is gone before that chain is deleted);
//   3. chains whose rules differ: flushed and written again (new chains: written);
//   4. chains that go away: flushed, then deleted; then the sets and maps that go away (no rule refers to them).
// Returns undefined when the change is one this does not cover — a table added or removed, an object whose type,
// flags or hook changed, a new hooked chain — and then the caller applies the full ruleset.
import type { KernelRules, NftObject, NftTable } from './kernel.js';

const key = (o: NftObject): string => `${o.kind} ${o.name}`;

function sameHead(a: NftObject, b: NftObject): boolean {
  return a.head.length === b.head.length && a.head.every((h, i) => h === b.head[i]);
}

function sameItems(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

interface Steps {
  readonly add: string[];
  readonly elements: string[];
  readonly rules: string[];
  readonly remove: string[];
  readonly removeSets: string[];
}

function tableSteps(prev: NftTable, next: NftTable, out: Steps): boolean {
  const t = `${next.family} ${next.name}`;
  const before = new Map(prev.objects.map((o) => [key(o), o]));
  const after = new Set(next.objects.map(key));
  const list = (xs: readonly string[]) => `{ ${xs.join(', ')} }`;
  for (const o of next.objects) {
    const old = before.get(key(o));
    if (old !== undefined && !sameHead(old, o)) return false;
    if (o.kind === 'chain') {
      if (old === undefined) {
        if (o.head.length > 0) return false;
        out.add.push(`add chain ${t} ${o.name}`);
      }
      if (old === undefined || !sameItems(old.items, o.items)) {
        if (old !== undefined) out.rules.push(`flush chain ${t} ${o.name}`);
        for (const r of o.items) out.rules.push(`add rule ${t} ${o.name} ${r}`);
      }
      continue;
    }
    if (old === undefined) out.add.push(`add ${o.kind} ${t} ${o.name} { ${o.head.join(' ')} }`);
    const had = new Set(old?.items ?? []);
    const has = new Set(o.items);
    // a map's element is deleted by its key (`10.0.0.1`, not `10.0.0.1 : jump …`); a changed verdict is a delete and
    // an add of the same key
    const gone = [...had].filter((x) => !has.has(x)).map((x) => (o.kind === 'map' ? x.split(' : ')[0]! : x));
    const added = o.items.filter((x) => !had.has(x));
    if (gone.length > 0) out.elements.push(`delete element ${t} ${o.name} ${list(gone)}`);
    if (added.length > 0) out.elements.push(`add element ${t} ${o.name} ${list(added)}`);
  }
  for (const o of prev.objects) {
    if (after.has(key(o))) continue;
    if (o.kind === 'chain') out.remove.push(`flush chain ${t} ${o.name}`, `delete chain ${t} ${o.name}`);
    else out.removeSets.push(`delete ${o.kind} ${t} ${o.name}`);
  }
  return true;
}

/** The update from `prev` (in force) to `next` as `nft -f` text ('' when nothing differs), or undefined. */
export function rulesetUpdate(prev: KernelRules, next: KernelRules): string | undefined {
  if (prev.tables.length !== next.tables.length) return undefined;
  const steps: Steps = { add: [], elements: [], rules: [], remove: [], removeSets: [] };
  for (const [i, n] of next.tables.entries()) {
    const p = prev.tables[i]!;
    if (p.family !== n.family || p.name !== n.name) return undefined;
    if (!tableSteps(p, n, steps)) return undefined;
  }
  const { add, elements, rules, remove, removeSets } = steps;
  const all = [...add, ...elements, ...rules, ...remove, ...removeSets];
  if (all.length === 0) return '';
  return ['# nanoseg (kernel enforcement point): an update of the rules in force, one transaction', ...all, ''].join(
    '\n',
  );
}
