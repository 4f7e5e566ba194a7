// How the capture mode changes the request path, in the shared kernel lab (kernel-lab.ts: real Envoys, real
// kernel programs and rules): HTTP from a client pod through its sidecar and the server pod's sidecar to a Node HTTP
// server, with both pods captured by nftables REDIRECT, by the eBPF redirect (connect4 + getsockopt, sockmap off),
// or by the eBPF redirect with the sockops/sk_msg fast path on; and the same server app reached directly between two
// externals (no sidecar), the baseline the added latency is taken from. All services are in learn mode (the same
// sidecar config on every path).
//
// Per round the four paths are measured one after another, the order reversed every other round (A B B A): an
// open-loop load at a fixed rate (latency: service time, write → response) and the closed-loop generator with a fixed
// connection count (max throughput; wrk is not installed here, so the generator's own CPU is part of what
// saturates). Ratios are medians of per-round ratios. "Added" latency is a path's figure minus the direct path's in
// the same round: what the two sidecars and their capture add.
import type { Benchmark, Metric } from './types.js';
import { DRAIN_MS, sleep, type LoadResult } from './lab.js';
import { services } from './lab-policy.js';
import { abba, added, addedRatio, median, pairedRatio } from './stats.js';
import { DIRECT, PAIRS, kernelLab, sampleSizes, setMode, type CaptureName, type KernelLab } from './kernel-lab.js';

/** fixed request rate: well below the sidecar path's saturation (~3,000 req/s here) */
const RATE = 500;
const CONNS = 16;

type Path = CaptureName | 'direct';
const PATHS: readonly Path[] = ['nftables', 'ebpf', 'sockmap', 'direct'];

interface Sample {
  open: LoadResult;
  closed: LoadResult;
}

/** All pairs in learn mode, and every pod's capture as the lab file asks (read back from `lab list`). */
async function prepare(kl: KernelLab, progress: (msg: string) => void, quick: boolean): Promise<void> {
  const views = await services(kl.lab);
  const names = Object.values(PAIRS).flatMap((p) => [p.clientService, p.serverService]);
  const flip = names.filter((s) => views.find((v) => v.name === s)?.mode !== 'learn');
  for (const s of flip) await setMode(kl, s, 'learn');
  if (flip.length) {
    await kl.lab.settled(names.length);
    if (!quick) await sleep(DRAIN_MS);
  }
  const listing = JSON.parse(kl.lab.cli(['lab', 'list', '-o', 'json']).stdout) as {
    pods: { name: string; capture?: { mode: string; sockmap?: boolean } }[];
  };
  for (const [name, p] of Object.entries(PAIRS) as [CaptureName, (typeof PAIRS)[CaptureName]][]) {
    const want = name === 'nftables' ? { mode: 'nftables' } : { mode: 'ebpf', sockmap: name === 'sockmap' };
    for (const pod of [p.client, p.server]) {
      const got = listing.pods.find((x) => x.name === pod)?.capture;
      if (JSON.stringify(got) !== JSON.stringify(want))
        throw new Error(`${pod}: capture ${JSON.stringify(got)} in force, expected ${JSON.stringify(want)}`);
    }
  }
  progress(`captures in force as asked; all ${names.length} services in learn${flip.length ? ' (flipped)' : ''}`);
}

export const capture: Benchmark = {
  name: 'capture',
  description:
    'lab: two sidecars, nftables REDIRECT vs eBPF redirect (sockmap off/on) vs direct: added latency, max req/s',
  async run({ quick, progress }) {
    const kl = await kernelLab(progress);
    if (!kl) return [];
    const { rounds, seconds, warmup } = sampleSizes(quick);
    const satSeconds = quick ? 1 : 4;
    const satWarmup = quick ? 0.25 : 0.5;
    await prepare(kl, progress, quick);
    const { lab } = kl;
    const samples: Record<Path, Sample[]> = { nftables: [], ebpf: [], sockmap: [], direct: [] };
    for (const order of abba(PATHS, rounds)) {
      for (const path of order) {
        const [pod, url] = path === 'direct' ? [DIRECT.client, DIRECT.url] : [PAIRS[path].client, PAIRS[path].url];
        const open = await lab.load(pod, { mode: 'open', url, rate: RATE, seconds, warmup, conns: CONNS });
        if (open.errors || open.non2xx)
          throw new Error(`${path}: ${open.errors} errors, ${open.non2xx} non-2xx responses at ${RATE} req/s`);
        const closed = await lab.load(pod, {
          mode: 'closed',
          url,
          conns: CONNS,
          seconds: satSeconds,
          warmup: satWarmup,
        });
        samples[path].push({ open, closed });
        progress(
          `${path.padEnd(8)} p50 ${(open.p50 / 1000).toFixed(3)} ms  p99 ${(open.p99 / 1000).toFixed(3)} ms  max ${Math.round(closed.perSecond)} req/s (${closed.errors + closed.non2xx} errors)`,
        );
      }
    }

    const ms = (p: Path, f: (l: LoadResult) => number) => samples[p].map((s) => f(s.open) / 1000);
    const rps = (p: Path) => samples[p].map((s) => s.closed.perSecond);
    const p50 = (p: Path) => ms(p, (l) => l.p50);
    const p99 = (p: Path) => ms(p, (l) => l.p99);
    const lat = `open loop ${RATE} req/s, ${seconds - warmup} s × ${rounds} rounds, keep-alive, ${CONNS} connections; service time`;
    const addedNote = `minus the direct path's figure of the same round; median of rounds; ${lat}`;
    const sat = `Node closed loop, ${CONNS} connections, ${satSeconds - satWarmup} s × ${rounds} rounds (wrk not installed); median of rounds`;
    const m: Metric[] = [];
    for (const p of ['nftables', 'ebpf', 'sockmap'] as const) {
      m.push(
        { name: `${p} added p50`, value: added(p50(p), p50('direct')), unit: 'ms', note: addedNote },
        { name: `${p} added p99`, value: added(p99(p), p99('direct')), unit: 'ms', note: addedNote },
      );
    }
    const ratioNote = 'per-round ratio of added latencies (path − direct), median of rounds';
    m.push(
      {
        name: 'ebpf / nftables added p50',
        value: addedRatio(p50('ebpf'), p50('nftables'), p50('direct')),
        unit: 'ratio',
        target: { op: '<=', value: 0.85 },
        note: `${ratioNote}; sockmap off`,
      },
      {
        name: 'ebpf / nftables added p99',
        value: addedRatio(p99('ebpf'), p99('nftables'), p99('direct')),
        unit: 'ratio',
        note: ratioNote,
      },
      {
        name: 'ebpf+sockmap / nftables added p50',
        value: addedRatio(p50('sockmap'), p50('nftables'), p50('direct')),
        unit: 'ratio',
        target: { op: '<=', value: 0.85 },
        note: ratioNote,
      },
      {
        name: 'sockmap on / off added p50',
        value: addedRatio(p50('sockmap'), p50('ebpf'), p50('direct')),
        unit: 'ratio',
        note: `${ratioNote}; both eBPF capture`,
      },
      {
        name: 'direct p50 (no sidecar)',
        value: median(p50('direct')),
        unit: 'ms',
        note: `external → external; ${lat}`,
      },
      {
        name: 'direct p99 (no sidecar)',
        value: median(p99('direct')),
        unit: 'ms',
        note: `external → external; ${lat}`,
      },
    );
    for (const p of PATHS) m.push({ name: `${p} max throughput`, value: median(rps(p)), unit: 'req/s', note: sat });
    m.push(
      {
        name: 'ebpf / nftables max throughput',
        value: pairedRatio(rps('ebpf'), rps('nftables')),
        unit: 'ratio',
        target: { op: '>=', value: 1.1 },
        note: 'median of per-round ratios; sockmap off',
      },
      {
        name: 'ebpf+sockmap / nftables max throughput',
        value: pairedRatio(rps('sockmap'), rps('nftables')),
        unit: 'ratio',
        target: { op: '>=', value: 1.1 },
        note: 'median of per-round ratios',
      },
      {
        name: 'sockmap on / off max throughput',
        value: pairedRatio(rps('sockmap'), rps('ebpf')),
        unit: 'ratio',
        note: 'median of per-round ratios; both eBPF capture',
      },
      {
        name: 'saturation errors',
        value: PATHS.reduce((n, p) => n + samples[p].reduce((k, s) => k + s.closed.errors + s.closed.non2xx, 0), 0),
        unit: 'count',
        target: { op: '<=', value: 0 },
      },
    );
    return m;
  },
};
