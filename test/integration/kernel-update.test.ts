// The kernel point's updates against the real nft: for each step of a lab's life (services enforced, a mode flip,
// a replica joining and leaving, a service back to learn, 2,000 peers added and removed, a port rebound), the
// update applied on top of the rules in force leaves exactly what the full ruleset of the new state leaves in a
// second, fresh namespace (compared as `nft -j list ruleset`, elements as sets: a hash set lists in its own order).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { kernelRules, renderRuleset, type KernelService } from '../../xds-server/src/generate/kernel.js';
import { rulesetUpdate } from '../../xds-server/src/generate/kernel-update.js';
import { nftApply } from '../../xds-server/src/kernel/nft.js';
import { run, runOk } from '../../xds-server/src/lab/sys.js';
import { compilePolicy } from '../../xds-server/src/policy/compile.js';
import type { Inventory, Mode, PolicyRule } from '../../xds-server/src/model/index.js';

const isRoot = process.getuid?.() === 0;
const A = 'nsgt-kupd-a';
const B = 'nsgt-kupd-b';

const web = (n: number) => ({
  name: `web-${n}`,
  service: 'shop/web',
  addresses: [`10.213.0.${10 + n}`, `fd6e::${10 + n}`],
  ports: [8080],
  interface: `vh-web-${n}`,
});
const BASE: Inventory = {
  workloads: [
    web(1),
    web(2),
    { name: 'db-1', service: 'data/db', addresses: ['10.213.0.31'], ports: [5432], interface: 'vh-db-1' },
  ],
  externals: [{ name: 'payments', address: '203.0.113.10', interface: 'vh-payments' }],
  vips: [{ service: 'data/db', address: '10.213.255.1' }],
};

const peers = (n: number): PolicyRule[] =>
  Array.from({ length: n }, (_, i) => ({
    peer: { cidr: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32` },
    protocol: 'tcp' as const,
    port: 8080,
  }));

function state(inv: Inventory, webMode: Mode, dbMode: Mode, extra = 0) {
  const WEB = {
    service: 'shop/web',
    origin: 'applied' as const,
    updatedAt: 0,
    ingress: [{ peer: { cidr: '203.0.113.10/32' }, protocol: 'icmp' as const, port: 0 }, ...peers(extra)],
    egress: [
      { peer: { service: 'data/db' }, protocol: 'tcp' as const, port: 5432 },
      { peer: { cidr: '10.50.0.0/16' }, protocol: 'udp' as const, port: 53 },
    ],
  };
  const DB = {
    service: 'data/db',
    origin: 'applied' as const,
    updatedAt: 0,
    ingress: [{ peer: { service: 'shop/web' }, protocol: 'tcp' as const, port: 5432 }],
    egress: [],
  };
  const services: KernelService[] = [
    { service: 'shop/web', mode: webMode, compiled: compilePolicy(WEB, inv) },
    { service: 'data/db', mode: dbMode, compiled: compilePolicy(DB, inv) },
  ];
  return kernelRules({ services, inventory: inv });
}

/**
 * The ruleset of a namespace as a map from each object (rules: their chain and place in it) to its JSON, without
 * handles and with each set's elements sorted: what was created later lists later, and hash sets list in their
 * own order.
 */
async function listing(ns: string): Promise<Map<string, string>> {
  const strip = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(strip);
    if (x && typeof x === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(x)) {
        if (k === 'handle') continue;
        const sv = strip(v);
        o[k] = k === 'elem' && Array.isArray(sv) ? sv.map((e) => JSON.stringify(e)).sort() : sv;
      }
      return o;
    }
    return x;
  };
  const items = (
    JSON.parse(await runOk(['ip', 'netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset'])) as {
      nftables: Record<string, { family?: string; table?: string; name?: string; chain?: string }>[];
    }
  ).nftables;
  const out = new Map<string, string>();
  const place = new Map<string, number>();
  for (const item of items) {
    const [kind, o] = Object.entries(item)[0]!;
    if (kind === 'metainfo') continue;
    let k = `${kind} ${o.family} ${o.table ?? ''} ${o.name ?? ''}`;
    if (kind === 'rule') {
      const c = `${o.family} ${o.table} ${o.chain}`;
      const n = place.get(c) ?? 0;
      place.set(c, n + 1);
      k = `rule ${c} #${n}`;
    }
    out.set(k, JSON.stringify(strip(o)));
  }
  return out;
}

async function applyOk(ns: string, text: string, what: string): Promise<void> {
  const r = await nftApply(ns, text);
  assert.equal(r.code, 0, `${what} in ${ns}: ${r.stderr}\n${text.slice(0, 2000)}`);
}

test(
  'each update leaves exactly what the full ruleset of the new state leaves',
  { skip: !isRoot && 'needs root (network namespaces, nft)' },
  async (t) => {
    after(async () => {
      await run(['ip', 'netns', 'del', A]);
      await run(['ip', 'netns', 'del', B]);
    });
    for (const ns of [A, B]) {
      await run(['ip', 'netns', 'del', ns]);
      await runOk(['ip', 'netns', 'add', ns]);
    }
    const joined: Inventory = { ...BASE, workloads: [...BASE.workloads, web(3)] };
    const left: Inventory = { ...joined, workloads: joined.workloads.filter((w) => w.name !== 'web-2') };
    const rebound: Inventory = {
      ...left,
      workloads: left.workloads.map((w) => (w.name === 'db-1' ? { ...w, interface: 'vh-db-1b' } : w)),
    };
    const steps: [string, ReturnType<typeof state>][] = [
      ['every service in learn', state(BASE, 'learn', 'learn')],
      ['web enforced, db monitored (new chains and sets)', state(BASE, 'enforce', 'monitor')],
      ['mode flip: web to monitor', state(BASE, 'monitor', 'monitor')],
      ['a web replica joins', state(joined, 'monitor', 'monitor')],
      ['2,000 more peers of web', state(joined, 'enforce', 'monitor', 2000)],
      ['mode flip with 2,000 peers', state(joined, 'monitor', 'monitor', 2000)],
      ['a replica leaves, db back to learn (its chains and sets go)', state(left, 'monitor', 'learn', 2000)],
      ['the peers go again', state(left, 'enforce', 'learn')],
      ['a port rebound', state(rebound, 'enforce', 'enforce')],
    ];
    let prev = steps[0]![1];
    await applyOk(A, renderRuleset(prev), 'the first full ruleset');
    for (const [what, next] of steps.slice(1)) {
      const update = rulesetUpdate(prev, next);
      assert.ok(update !== undefined, `${what}: an update, not a full apply`);
      const full = renderRuleset(next);
      await applyOk(A, update, what);
      await run(['ip', 'netns', 'exec', B, 'nft', 'flush', 'ruleset']);
      await applyOk(B, full, `${what} (full)`);
      const [a, b] = [await listing(A), await listing(B)];
      const differ = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
      assert.deepEqual(
        differ.map((k) => `${k}: ${a.get(k)?.slice(0, 300)} != ${b.get(k)?.slice(0, 300)}`),
        [],
        `${what}: the updated ruleset differs from the full one`,
      );
      assert.ok(a.size > 10, `${what}: ${a.size} objects listed`);
      t.diagnostic(`${what}: update ${update.length} B, full ${full.length} B`);
      prev = next;
    }
    // with 2,000 peers in force, a mode flip rewrites two rules, not 2,000 elements, and a replica joining is a few
    // elements (the point applies the whole ruleset when that is the shorter text: the peers going, here)
    const flip = rulesetUpdate(steps[4]![1], steps[5]![1])!;
    assert.doesNotMatch(flip, /element/);
    assert.equal(flip.match(/^flush chain/gm)?.length, 2, flip);
    const join = rulesetUpdate(steps[2]![1], steps[3]![1])!;
    assert.ok(join.length < 1000, join);
  },
);
