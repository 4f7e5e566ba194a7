// What kernel enforcement costs on the data path, in the shared kernel lab (kernel-lab.ts): the nftables pair with
// both services enforced, the server's policy allowing its learned clients plus 10,000 never-contacted /32 peers
// (so its kernel ingress set holds 10,000+ elements, read back with nft before measuring).
//   HTTP   client pod → its sidecar → server sidecar → app at a fixed rate, with the kernel point's rules in force
//          vs no kernel rules at all: for a "none" sample the benchmark saves the point's two tables (nft list),
//          deletes them from the lab's host namespace, measures, checks they are still absent (the point did not
//          re-apply meanwhile), and loads the saved text back, checked equal to what was there. A B B A.
//   UDP    packets/s from the client pod's app straight to the server pod (UDP does not pass Envoy): one socket
//          sending as fast as it can for a few seconds; what arrived is the server namespace's own UDP counters
//          (/proc/net/snmp: delivered + dropped at a full buffer + no port). Both services enforced vs both in
//          learn (no chains: the kernel only observes), the modes flipped through the API and read back from nft.
import type { Benchmark, Metric } from './types.js';
import type { LoadResult } from './lab.js';
import { abba, median, pairedRatio } from './stats.js';
import { parseSnmp, udpArrived } from './kernel-read.js';
import type { BlastResult } from './udp-apps.js';
import {
  ENFORCED,
  EXTRA_PEERS,
  LAB_NETNS,
  QUICK_PEERS,
  UDP_PORT,
  enforcePair,
  inNetns,
  kernelLab,
  procIn,
  sampleSizes,
  serverPeersInKernel,
  setMode,
  waitMode,
  type KernelLab,
} from './kernel-lab.js';

const RATE = 500;
const TABLES = ['table bridge nanoseg', 'table inet nanoseg'] as const;

type Rules = 'rules' | 'none';
type UdpMode = 'enforce' | 'learn';

async function listTables(): Promise<string | undefined> {
  const r = await inNetns(LAB_NETNS, ['sh', '-c', 'for t; do nft list $t || exit 1; done', 'sh', ...TABLES]);
  return r.code === 0 ? r.out : undefined;
}

async function tablesAbsent(): Promise<boolean> {
  const r = await inNetns(LAB_NETNS, ['nft', 'list', 'tables']);
  return !/\bnanoseg\b/.test(r.out);
}

/** Takes the kernel point's tables out (returns their text) and puts them back, both checked. */
class KernelRulesSwitch {
  private saved?: string;

  async remove(): Promise<void> {
    if (this.saved !== undefined) return this.checkStillOut(); // out already (A B B A: two "none" in a row)
    const text = await listTables();
    if (text === undefined) throw new Error('the kernel point has no tables to take out');
    this.saved = text;
    const r = await inNetns(LAB_NETNS, ['nft', '-f', '-'], TABLES.map((t) => `delete ${t}\n`).join(''));
    if (r.code !== 0 || !(await tablesAbsent())) throw new Error(`cannot delete the kernel tables: ${r.err}`);
  }

  /** Throws when the point put its tables back while they were meant to be out (the sample would be wrong). */
  async checkStillOut(): Promise<void> {
    if (!(await tablesAbsent())) throw new Error('the kernel point re-applied its rules during a "no rules" sample');
  }

  async restore(): Promise<void> {
    const text = this.saved;
    if (text === undefined) return;
    this.saved = undefined;
    if (!(await tablesAbsent())) return; // the point re-applied: its own rules are in force
    const r = await inNetns(LAB_NETNS, ['nft', '-f', '-'], text);
    if (r.code !== 0) throw new Error(`cannot restore the kernel tables: ${r.err.slice(0, 500)}`);
    if ((await listTables()) !== text) throw new Error('the restored kernel tables differ from the saved ones');
  }
}

async function udpSample(kl: KernelLab, seconds: number): Promise<{ sent: BlastResult; arrived: number }> {
  const ns = kl.netns.get(ENFORCED.server);
  if (!ns) throw new Error(`no namespace for ${ENFORCED.server}`);
  const before = udpArrived(parseSnmp(await procIn(ns, '/proc/net/snmp'), 'Udp'));
  const argv = ['python3', kl.udpPy, 'blast', ENFORCED.serverAddress, String(UDP_PORT), String(seconds)];
  const r = await kl.lab.exec(ENFORCED.client, argv, (seconds + 60) * 1000);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`UDP blast failed (${r.code}): ${r.stderr.slice(-500)}`);
  const sent = JSON.parse(line) as BlastResult;
  const after = udpArrived(parseSnmp(await procIn(ns, '/proc/net/snmp'), 'Udp'));
  return { sent, arrived: after - before };
}

export const kernelCost: Benchmark = {
  name: 'kernel-cost',
  description: 'lab, enforce: HTTP p50 with 10,000 peers in the kernel rules vs none; UDP packets/s enforce vs learn',
  async run({ quick, progress }) {
    const kl = await kernelLab(progress);
    if (!kl) return [];
    const { rounds, seconds, warmup } = sampleSizes(quick);
    const udpRounds = quick ? 1 : 2;
    const udpSeconds = quick ? 0.5 : 3;
    const { clientService: client, serverService: server } = ENFORCED;
    const extra = quick ? QUICK_PEERS : EXTRA_PEERS;
    await enforcePair(kl, progress, extra, !quick);
    const peers = await serverPeersInKernel();

    // ---- HTTP: the kernel point's rules vs none ------------------------------------------------------------------
    const http: Record<Rules, LoadResult[]> = { rules: [], none: [] };
    const sw = new KernelRulesSwitch();
    try {
      for (const order of abba<Rules>(['rules', 'none'], rounds)) {
        for (const v of order) {
          if (v === 'none') await sw.remove();
          else await sw.restore();
          const l = await kl.lab.load(ENFORCED.client, {
            mode: 'open',
            url: ENFORCED.url,
            rate: RATE,
            seconds,
            warmup,
            conns: 16,
          });
          if (v === 'none') await sw.checkStillOut();
          if (l.errors || l.non2xx) throw new Error(`${v}: ${l.errors} errors, ${l.non2xx} non-2xx responses`);
          http[v].push(l);
          progress(`HTTP ${v.padEnd(5)} p50 ${(l.p50 / 1000).toFixed(3)} ms  p99 ${(l.p99 / 1000).toFixed(3)} ms`);
        }
      }
    } finally {
      await sw.restore();
    }

    // ---- UDP packets/s: enforce vs learn -------------------------------------------------------------------------
    const udp: Record<UdpMode, { sent: BlastResult; arrived: number }[]> = { enforce: [], learn: [] };
    const flipMode = async (mode: UdpMode) => {
      for (const [s, a] of [
        [client, ENFORCED.clientAddress],
        [server, ENFORCED.serverAddress],
      ] as const) {
        await setMode(kl, s, mode);
        await waitMode(s, [a], mode);
      }
    };
    try {
      let current: UdpMode = 'enforce';
      for (const order of abba<UdpMode>(['enforce', 'learn'], udpRounds)) {
        for (const mode of order) {
          if (mode !== current) await flipMode((current = mode));
          const s = await udpSample(kl, udpSeconds);
          udp[mode].push(s);
          progress(
            `UDP ${mode.padEnd(7)} sent ${Math.round(s.sent.perSecond)}/s, arrived ${Math.round(s.arrived / s.sent.seconds)}/s`,
          );
        }
      }
    } finally {
      await flipMode('enforce').catch(() => undefined);
    }

    const p = (v: Rules, f: (l: LoadResult) => number) => http[v].map((l) => f(l) / 1000);
    const arrivedPerS = (m: UdpMode) => udp[m].map((s) => s.arrived / s.sent.seconds);
    const note = `enforce, open loop ${RATE} req/s, ${seconds - warmup} s × ${rounds} rounds; service time; median of rounds`;
    const udpNote = `one socket, 64-byte datagrams, ${udpSeconds} s × ${udpRounds} rounds; arrived = the server namespace's UDP counters; median of rounds`;
    const m: Metric[] = [
      {
        name: 'p50, kernel rules',
        value: median(p('rules', (l) => l.p50)),
        unit: 'ms',
        note: `${note}; ${peers} elements in ${server}'s kernel ingress set (${extra} extra peers)`,
      },
      { name: 'p50, no kernel rules', value: median(p('none', (l) => l.p50)), unit: 'ms', note },
      {
        name: 'rules / none p50',
        value: pairedRatio(
          p('rules', (l) => l.p50),
          p('none', (l) => l.p50),
        ),
        unit: 'ratio',
        target: { op: '<=', value: 1.05 },
        note: 'median of per-round ratios',
      },
      { name: 'p99, kernel rules', value: median(p('rules', (l) => l.p99)), unit: 'ms', note },
      { name: 'p99, no kernel rules', value: median(p('none', (l) => l.p99)), unit: 'ms', note },
      {
        name: 'rules / none p99',
        value: pairedRatio(
          p('rules', (l) => l.p99),
          p('none', (l) => l.p99),
        ),
        unit: 'ratio',
        note: 'median of per-round ratios',
      },
      { name: 'UDP packets/s, enforce', value: median(arrivedPerS('enforce')), unit: 'pkt/s', note: udpNote },
      { name: 'UDP packets/s, learn', value: median(arrivedPerS('learn')), unit: 'pkt/s', note: udpNote },
      {
        name: 'UDP enforce / learn packets/s',
        value: pairedRatio(arrivedPerS('enforce'), arrivedPerS('learn')),
        unit: 'ratio',
        note: 'median of per-round ratios',
      },
      {
        name: 'UDP sent, not arrived',
        value: (['enforce', 'learn'] as const).reduce(
          (n, mode) => n + udp[mode].reduce((k, s) => k + Math.max(0, s.sent.sent - s.arrived), 0),
          0,
        ),
        unit: 'count',
        note: 'datagrams the sender sent that the server namespace never counted (dropped on the way)',
      },
      {
        name: 'kernel ingress set elements',
        value: peers,
        unit: 'count',
        target: { op: '>=', value: EXTRA_PEERS, why: 'quick runs use 1,000' },
      },
    ];
    return m;
  },
};
