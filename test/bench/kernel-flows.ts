// Can the kernel flow source keep up with new UDP flows, in the shared kernel lab (kernel-lab.ts)? An external
// (a host: root, a raw socket; flows.c) sends 50,000 new flows a second for a few seconds to a pod in learn mode, each flow
// one datagram with a 5-tuple of its own (source port, then destination port 9000-9003). Every one is a new
// conntrack entry in the lab's host namespace, logged once (`nsg obs`) to NFLOG, read by the NFLOG reader, parsed
// and handed to the learner by the control plane. Loss is counted, never guessed:
//   observed     the generator's flows as the learner counted them: the evidence count of the server's learned udp
//                ingress edges from the generator (GET /v1/services/…/policy), before → after
//   lost         messages NFLOG could not deliver, from the reader's sequence-gap count (kernel.flows.lost)
//   conntrack    new entries the lab namespace's conntrack refused (/proc/net/stat/nf_conntrack drop, early_drop,
//                insert_failed)
//   unaccounted  sent − observed − lost: dropped before the rules or anywhere else
// Observed flows/s is observed ÷ the sending time; the drain is how long after the last datagram the last
// observation came in.
import type { StatusView } from '../../xds-server/src/api/views.js';
import type { Benchmark, Metric } from './types.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';
import { sleep, type BenchLab } from './lab.js';
import { services } from './lab-policy.js';
import { parseConntrackStat } from './kernel-read.js';
import type { FlowsResult } from './udp-apps.js';
import { FLOW_GEN, LAB_NETNS, PAIRS, UDP_PORT, UDP_PORTS, kernelLab, procIn, setMode, waitMode } from './kernel-lab.js';

const RATE = 50_000;
/** the receiving pod: a learn-mode server (nothing is denied, every flow is an observation) */
const TARGET = PAIRS.ebpf;
/** tuples already used in this process's lab (conntrack remembers a flow for 30 s: never send one twice) */
let nextTuple = 0;

type FlowStats = NonNullable<StatusView['kernel']>['flows'];

async function flowStats(status: () => Promise<StatusView>): Promise<FlowStats> {
  const k = (await status()).kernel;
  if (!k) throw new Error('the control plane hosts no kernel point (serve --kernel-netns)');
  return k.flows;
}

/** Observations of the generator's flows so far: the evidence of TARGET's udp ingress rules from outside the mesh. */
async function generatorEvidence(lab: BenchLab): Promise<number> {
  const doc = await lab.api.call<PolicyDocument>('GET', `/v1/services/${TARGET.serverService}/policy`);
  return doc.ingress
    .filter((r) => r.protocol === 'udp' && !('service' in r.peer))
    .reduce((n, r) => n + (r.evidence?.count ?? 0), 0);
}

async function conntrack(): Promise<Record<string, number>> {
  return parseConntrackStat(await procIn(LAB_NETNS, '/proc/net/stat/nf_conntrack'));
}

export const kernelFlows: Benchmark = {
  name: 'kernel-flows',
  description: 'lab: 50,000 new UDP flows/s to a pod → observed by the kernel flow source; loss counted',
  async run({ quick, progress }) {
    const kl = await kernelLab(progress);
    if (!kl) return [];
    const seconds = quick ? 0.5 : 3;
    const { lab } = kl;
    const views = await services(lab);
    if (views.find((v) => v.name === TARGET.serverService)?.mode !== 'learn') {
      await setMode(kl, TARGET.serverService, 'learn');
      await waitMode(TARGET.serverService, [TARGET.serverAddress], 'learn');
    }

    const before = await flowStats(() => lab.status());
    const ev0 = await generatorEvidence(lab);
    const ct0 = await conntrack();
    const offset = nextTuple;
    nextTuple += Math.ceil(RATE * seconds);
    const argv = [kl.flowsBin, TARGET.serverAddress, String(UDP_PORT), String(UDP_PORTS)];
    argv.push(String(RATE), String(seconds), String(offset));
    const r = await lab.exec(FLOW_GEN.name, argv, (seconds + 60) * 1000);
    const sentAt = performance.now();
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !line.startsWith('{'))
      throw new Error(`flow generator failed (${r.code}): ${r.stderr.slice(-500)} ${r.stdout.slice(-200)}`);
    const gen = JSON.parse(line) as FlowsResult;

    // until every flow is accounted for, or nothing more comes in for 2 s
    let after = before;
    let observed = 0;
    let lastChange = sentAt;
    for (const end = sentAt + 60_000; performance.now() < end;) {
      await sleep(50);
      const s = await flowStats(() => lab.status());
      const ev = (await generatorEvidence(lab)) - ev0;
      if (ev !== observed || s.lost !== after.lost) lastChange = performance.now();
      [after, observed] = [s, ev];
      if (observed + (after.lost - before.lost) >= gen.sent) break;
      if (performance.now() - lastChange > 2000) break;
    }
    const ct1 = await conntrack();
    const lost = after.lost - before.lost;
    const ctRefused = ['drop', 'early_drop', 'insert_failed'].reduce((n, k) => n + (ct1[k] ?? 0) - (ct0[k] ?? 0), 0);
    progress(
      `sent ${gen.sent} flows at ${Math.round(gen.perSecond)}/s; observed ${observed}, lost ${lost}, conntrack refused ${ctRefused}`,
    );
    const note = `${seconds} s from ${FLOW_GEN.name} (flows.c, raw socket) to ${TARGET.server} (learn), one datagram per flow`;
    const m: Metric[] = [
      {
        name: 'new flows/s sent',
        value: gen.perSecond,
        unit: 'flows/s',
        note: `${note}; generator at most ${gen.behindMax} behind its schedule, ${gen.errors} send errors`,
      },
      {
        name: 'new flows/s observed',
        value: observed / gen.seconds,
        unit: 'flows/s',
        target: { op: '>=', value: RATE },
        note: "the generator's flows in the learned edges' evidence ÷ sending time",
      },
      { name: 'flows sent', value: gen.sent, unit: 'count' },
      { name: 'flows observed', value: observed, unit: 'count' },
      {
        name: 'flows not observed',
        value: gen.sent - observed,
        unit: 'count',
        target: { op: '<=', value: 0 },
        note: 'sent − observed: lost + conntrack-refused + unaccounted below',
      },
      {
        name: 'lost in NFLOG',
        value: lost,
        unit: 'count',
        note: "the reader's sequence-gap count (kernel.flows.lost)",
      },
      {
        name: 'NFLOG overflows without a count',
        value: after.overflows - before.overflows,
        unit: 'count',
        note: 'ENOBUFS without sequence numbers to size the gap',
      },
      {
        name: 'conntrack refused',
        value: ctRefused,
        unit: 'count',
        note: 'drop + early_drop + insert_failed in nsg-lab',
      },
      { name: 'unaccounted', value: gen.sent - observed - lost, unit: 'count', note: 'sent − observed − lost' },
      {
        name: 'drain after the last flow',
        value: Math.max(0, lastChange - sentAt),
        unit: 'ms',
        note: "last datagram sent → the source's last new observation (50 ms polls)",
      },
      {
        name: 'kernel flows read',
        value: after.flows - before.flows,
        unit: 'count',
        note: 'every flow the source read in the window (kernel.flows.flows), the lab’s other flows too',
      },
    ];
    return m;
  },
};
