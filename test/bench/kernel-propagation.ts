// How fast a change is in force in the kernel, in the shared kernel lab (kernel-lab.ts), with the enforced pair's
// server allowing its learned clients only, then also 10,000 more peers (each apply replaces the whole ruleset,
// that set included). Timed from the API call until the kernel shows the change, never the API's answer:
//   mode flips  the server's mode enforce ↔ monitor (PUT /v1/services/…/mode), until `nft monitor rules` in the lab's
//               host namespace reports the rule that makes both of its chains drop (enforce) or return (monitor):
//               the kernel's own notification, sent once the transaction committed. (Polling `nft list chain` would
//               cost 0.1-0.3 s a poll with a 10,000-element set in the table: nft loads every set to list a chain.)
//               Each flip is then checked with a full listing (chains and maps), outside the timing.
//   replica     while enforced, one more server replica joins: the lab inventory with the new workload PUT to
//               /v1/inventory/lab (what `lab up` sends before it creates the pod), until `nft list` of the client's
//               egress set, both maps and the bridge binding (cheap to list: no rules) shows the new address allowed,
//               sent to the server's chains and bound to its port (polled every 10 ms). Then it leaves again.
import type { Inventory, Workload } from '../../xds-server/src/model/index.js';
import { hostVethName, namespaceName } from '../../xds-server/src/lab/index.js';
import type { Benchmark, Metric } from './types.js';
import { sleep } from './lab.js';
import { median, percentile } from './stats.js';
import { isVerdictRuleAdded, modeNotInForce, replicaNotInForce } from './kernel-read.js';
import {
  ENFORCED,
  EXTRA_PEERS,
  NftMonitor,
  enforcePair,
  kernelLab,
  modeObjects,
  setMode,
  waitKernel,
  type KernelLab,
} from './kernel-lab.js';

const REPLICA_OBJECTS = [
  `set inet nanoseg egress/${ENFORCED.clientService}/ports`,
  'map inet nanoseg ingress',
  'map inet nanoseg egress',
  'set bridge nanoseg bound',
];
const gap = () => sleep(200 + Math.random() * 300); // apart from the debounce windows

async function flipsMs(kl: KernelLab, flips: number): Promise<number[]> {
  const server = ENFORCED.serverService;
  const mon = new NftMonitor();
  await mon.start();
  const out: number[] = [];
  let mode: 'enforce' | 'monitor' = 'enforce';
  try {
    for (let i = 0; i < flips; i++) {
      mode = mode === 'enforce' ? 'monitor' : 'enforce';
      const m = mode;
      const t0 = performance.now();
      await setMode(kl, server, m);
      let at = t0;
      for (const side of ['egress', 'ingress'] as const)
        at = Math.max(at, await mon.waitFor((l) => isVerdictRuleAdded(l, server, side, m), t0));
      out.push(at - t0);
      // and the listing agrees (maps included); throws when it never does
      await waitKernel(modeObjects(server, m), (x) => modeNotInForce(x, server, [ENFORCED.serverAddress], m));
      await gap();
    }
  } finally {
    mon.stop();
    if (mode !== 'enforce') await setMode(kl, server, 'enforce');
  }
  return out;
}

async function joinsMs(kl: KernelLab, joins: number): Promise<{ join: number[]; leave: number[] }> {
  const inventory = await kl.lab.api.call<Inventory>('GET', '/v1/inventory');
  const name = 'cap-nft-s2';
  const iface = hostVethName(namespaceName(name));
  const address = '10.213.0.23';
  const joiner: Workload = {
    name,
    service: ENFORCED.serverService,
    addresses: [address],
    ports: [8080],
    interface: iface,
  };
  const replica = { client: ENFORCED.clientService, server: ENFORCED.serverService, address, port: 8080, iface };
  const join: number[] = [],
    leave: number[] = [];
  try {
    for (let j = 0; j < joins; j++) {
      const t0 = performance.now();
      await kl.lab.api.call('PUT', '/v1/inventory/lab', { ...inventory, workloads: [...inventory.workloads, joiner] });
      join.push((await waitKernel(REPLICA_OBJECTS, (l) => replicaNotInForce(l, replica, true))).at - t0);
      await gap();
      const t1 = performance.now();
      await kl.lab.api.call('PUT', '/v1/inventory/lab', inventory);
      leave.push((await waitKernel(REPLICA_OBJECTS, (l) => replicaNotInForce(l, replica, false))).at - t1);
      await gap();
    }
  } finally {
    await kl.lab.api.call('PUT', '/v1/inventory/lab', inventory);
  }
  return { join, leave };
}

export const kernelPropagation: Benchmark = {
  name: 'kernel-propagation',
  description: 'lab: mode flip, replica join while enforced → kernel rules in force (nft monitor / nft list), p99',
  async run({ quick, progress }) {
    const kl = await kernelLab(progress);
    if (!kl) return [];
    const m: Metric[] = [];
    const sizes = quick
      ? ([[0, 2, 1]] as const)
      : ([
          [0, 20, 8],
          [EXTRA_PEERS, 10, 4],
        ] as const);
    for (const [extra, flips, joins] of sizes) {
      await enforcePair(kl, progress, extra, false);
      const f = await flipsMs(kl, flips);
      const r = await joinsMs(kl, joins);
      const status = await kl.lab.status();
      const k = status.kernel;
      const tag = extra ? `, ${EXTRA_PEERS / 1000}k peers` : '';
      progress(`${extra} extra peers: flips p50 ${median(f).toFixed(0)} ms, joins p50 ${median(r.join).toFixed(0)} ms`);
      m.push(
        {
          name: `mode flip → in the kernel p50${tag}`,
          value: median(f),
          unit: 'ms',
          note: `${flips} flips enforce ↔ monitor of ${ENFORCED.serverService}: API call → nft monitor's event`,
        },
        {
          name: `mode flip → in the kernel p99${tag}`,
          value: percentile(f, 99),
          unit: 'ms',
          ...(extra === 0 && { target: { op: '<=', value: 1000 } as const }),
          note: `max of ${flips} when fewer than 100`,
        },
        {
          name: `replica join → in the kernel p50${tag}`,
          value: median(r.join),
          unit: 'ms',
          note: `${joins} joins: PUT /v1/inventory/lab → nft list shows the client allowed, both maps, the binding`,
        },
        {
          name: `replica join → in the kernel p99${tag}`,
          value: percentile(r.join, 99),
          unit: 'ms',
          ...(extra === 0 && { target: { op: '<=', value: 1000 } as const }),
          note: `max of ${joins}`,
        },
        { name: `replica leave → out of the kernel p50${tag}`, value: median(r.leave), unit: 'ms' },
        {
          name: `kernel apply (last)${tag}`,
          value: k?.lastUpdateMs ?? NaN,
          unit: 'ms',
          note: `the point's own figure for its last nft -f: ${k?.rulesBytes ?? '?'} bytes of rules`,
        },
      );
    }
    return m;
  },
};
