// What enforcement costs on the request path, in a real lab (own control plane, real Envoys): HTTP from a client pod
// through its sidecar and the server pod's sidecar to a Node HTTP server, in learn mode (RBAC filters present but
// empty) and in enforce mode (the policy learned from the warm-up traffic: RBAC matchers evaluated on both sides),
// plus the same server app reached directly between two externals (no sidecars) as the baseline. Monitor mode (the
// shadow matcher alone) is measured too, as a diagnostic: it tells the cost of evaluating a matcher and carrying its
// result in every access log apart from the cost of enforcing.
//
// Per round, the paths are measured one after another (the order reverses every round; the mode is flipped for
// both services with `nanoseg mode --all`, and a flip that replaced listeners is given Envoy's drain time): an
// open-loop load at a fixed rate (latency, CPU of the sidecars and the control plane per request) and wrk with a
// fixed connection count (max throughput). Ratios are medians of per-round ratios, so drift between rounds on this
// shared 2-core machine cancels out.
import type { Benchmark, CodeTree, Metric } from './types.js';
import { NO_LESS, NO_SLOWER } from './types.js';
import { cpuSeconds } from './child.js';
import { BenchLab, DRAIN_MS, isRoot, median, sleep, type LoadResult } from './lab.js';
import { abCompare } from './trees.js';
import { converged } from './lab-policy.js';

const SERVER_URL = 'http://server.bench:8080/';
const DIRECT_URL = 'http://203.0.113.51:8080/';
/** fixed request rate: well below the sidecar path's saturation (~3,000-4,000 req/s here) */
const RATE = 500;
const WRK_CONNS = 16;

type Path = 'learn' | 'monitor' | 'enforce' | 'direct';

interface Sample {
  load: LoadResult;
  rps?: number;
  wrkErrors: number;
  cpUsPerReq?: number;
  envoyUsPerReq?: number;
}

export const rbacCost: Benchmark = {
  name: 'rbac-cost',
  description: 'lab: HTTP latency/throughput through two sidecars in learn vs enforce mode, and direct (no sidecar)',
  ab: true,
  async run({ quick, progress, ab }) {
    if (!isRoot()) {
      progress('skipped: the lab needs root (network namespaces, nftables)');
      return [];
    }
    // A/B: a lab of its own per run (up against that tree's control plane, measured, torn down), A B B A; two rounds
    // per run, so each side gets as many rounds as a plain run
    if (ab) return abCompare(ab, quick, progress, (tree) => measure({ quick, rounds: 2, progress, tree }));
    return measure({ quick, rounds: quick ? 1 : 4, progress });
  },
};

async function measure(o: {
  quick: boolean;
  rounds: number;
  progress: (msg: string) => void;
  tree?: CodeTree;
}): Promise<Metric[]> {
  const { quick, rounds, progress } = o;
  const seconds = quick ? 2 : 12;
  const warmup = quick ? 0.5 : 2;
  const wrkSeconds = quick ? 1 : 5;
  // quick runs (CI: does it still work?) skip what only steadies the figures: Envoy's drain of replaced listeners,
  // the direct path's warm-up, most of the client's (it teaches client → server: 500 req/s for 1 s is plenty)
  const drainMs = quick ? 300 : DRAIN_MS;
  const closedWarmup = quick ? 0.5 : 1;
  const lab = await BenchLab.start('nanoseg-bench-rbac-cost-', ['--min-observations', '10'], o.tree);
  try {
    lab.up('rbaccost', [
      { name: 'rc-client', service: 'bench/client', address: '10.213.0.5' },
      {
        name: 'rc-server',
        service: 'bench/server',
        address: '10.213.0.10',
        ports: [8080],
        run: [`exec node ${lab.serverJs} 8080`],
      },
      { name: 'rc-dclient', address: '203.0.113.50' },
      { name: 'rc-dserver', address: '203.0.113.51', run: [`exec node ${lab.serverJs} 8080`] },
    ]);
    await lab.settled(2);
    progress('lab up; warm-up traffic (learns client → server)');
    const learnSeconds = quick ? 1 : 3;
    await lab.load('rc-client', {
      mode: 'open',
      url: SERVER_URL,
      rate: RATE,
      seconds: learnSeconds,
      warmup: 0,
      conns: 16,
    });
    if (!quick)
      await lab.load('rc-dclient', { mode: 'open', url: DIRECT_URL, rate: RATE, seconds: 2, warmup: 0, conns: 16 });
    // converged services get their config scoped in enforce mode, as in production
    await converged(lab, ['bench/client', 'bench/server'], 30_000, (x) =>
      x.name === 'bench/client' ? x.egress > 0 : x.ingress > 0,
    );

    const cpPid = lab.server.proc?.pid;
    if (cpPid === undefined) throw new Error('no control plane process');
    const listing = JSON.parse(lab.cli(['lab', 'list', '-o', 'json']).stdout) as {
      pods: { envoy?: { pid: number } }[];
    };
    const envoyPids = listing.pods.flatMap((p) => (p.envoy ? [p.envoy.pid] : []));
    let mode: Exclude<Path, 'direct'> = 'learn';
    let hasWrk = false;
    const setMode = async (m: Exclude<Path, 'direct'>) => {
      if (m === mode) return;
      const before = await lab.status();
      lab.cli(['mode', '--all', m]);
      mode = m;
      const { types } = await lab.waitChanged(before, () => true);
      await sleep(types.includes('lds') ? drainMs : 500); // a mode flip replaces listeners: let the old ones drain
    };
    const measure = async (path: Path): Promise<Sample> => {
      const [pod, url] = path === 'direct' ? ['rc-dclient', DIRECT_URL] : ['rc-client', SERVER_URL];
      if (path !== 'direct') await setMode(path);
      const cpu = () => ({ cp: cpuSeconds(cpPid), envoy: envoyPids.reduce((n, p) => n + cpuSeconds(p), 0) });
      const c0 = cpu();
      const load = await lab.load(pod, { mode: 'open', url, rate: RATE, seconds, warmup, conns: 16 });
      const c1 = cpu();
      const perReq = (s: number) => (s * 1e6) / (RATE * seconds);
      if (load.errors || load.non2xx)
        throw new Error(`${path}: ${load.errors} errors, ${load.non2xx} non-2xx responses at ${RATE} req/s`);
      const w = await lab.wrk(pod, url, WRK_CONNS, wrkSeconds);
      hasWrk = w !== undefined;
      let rps = w?.perSecond;
      let wrkErrors = w?.errors ?? 0;
      if (!w) {
        // no wrk here: the Node generator in closed loop (it saturates earlier than wrk would)
        const c = await lab.load(pod, {
          mode: 'closed',
          url,
          conns: WRK_CONNS,
          seconds: wrkSeconds + closedWarmup,
          warmup: closedWarmup,
        });
        rps = c.perSecond;
        wrkErrors = c.errors + c.non2xx;
      }
      progress(
        `${path.padEnd(7)} p50 ${(load.p50 / 1000).toFixed(3)} ms  p99 ${(load.p99 / 1000).toFixed(3)} ms  late p99 ${(load.lateP99 / 1000).toFixed(2)} ms  max ${Math.round(rps ?? NaN)} req/s`,
      );
      return {
        load,
        rps,
        wrkErrors,
        ...(path !== 'direct' && { cpUsPerReq: perReq(c1.cp - c0.cp), envoyUsPerReq: perReq(c1.envoy - c0.envoy) }),
      };
    };

    const samples: Record<Path, Sample[]> = { learn: [], monitor: [], enforce: [], direct: [] };
    for (let r = 0; r < rounds; r++) {
      const order: Path[] =
        r % 2 === 0 ? ['learn', 'direct', 'monitor', 'enforce'] : ['enforce', 'monitor', 'direct', 'learn'];
      for (const p of order) samples[p].push(await measure(p));
    }
    const med = (p: Path, f: (s: Sample) => number) => median(samples[p].map(f));
    const pairRatio = (a: Path, b: Path, f: (s: Sample) => number) =>
      median(samples[a].map((s, i) => f(s) / f(samples[b][i]!)));
    const ms = (us: number) => us / 1000;
    const tool = hasWrk ? `wrk -t1 -c${WRK_CONNS}` : `Node closed loop, ${WRK_CONNS} connections (wrk not installed)`;
    const lat = `open loop ${RATE} req/s, ${seconds - warmup} s × ${rounds} rounds, keep-alive; median of rounds; service time (write → response)`;
    const m: Metric[] = [
      { name: 'learn p50', value: ms(med('learn', (s) => s.load.p50)), unit: 'ms', ratioTarget: NO_SLOWER, note: lat },
      { name: 'learn p99', value: ms(med('learn', (s) => s.load.p99)), unit: 'ms', ratioTarget: NO_SLOWER, note: lat },
      {
        name: 'enforce p50',
        value: ms(med('enforce', (s) => s.load.p50)),
        unit: 'ms',
        ratioTarget: NO_SLOWER,
        note: lat,
      },
      {
        name: 'enforce p99',
        value: ms(med('enforce', (s) => s.load.p99)),
        unit: 'ms',
        ratioTarget: NO_SLOWER,
        note: lat,
      },
      {
        name: 'enforce / learn p50',
        value: pairRatio('enforce', 'learn', (s) => s.load.p50),
        unit: 'ratio',
        target: { op: '<=', value: 1.05 },
        note: 'median of per-round ratios',
      },
      {
        name: 'enforce / learn p99',
        value: pairRatio('enforce', 'learn', (s) => s.load.p99),
        unit: 'ratio',
        note: 'median of per-round ratios',
      },
      {
        name: 'monitor p50',
        value: ms(med('monitor', (s) => s.load.p50)),
        unit: 'ms',
        note: `${lat}; diagnostic: shadow matcher only`,
      },
      {
        name: 'monitor / learn p50',
        value: pairRatio('monitor', 'learn', (s) => s.load.p50),
        unit: 'ratio',
        note: 'diagnostic: the cost of evaluating the shadow matcher (and its metadata in every access log) alone',
      },
      {
        name: 'learn p99 incl. queueing',
        value: ms(med('learn', (s) => s.load.totalP99)),
        unit: 'ms',
        note: 'due time → response: adds generator timer lateness and queueing',
      },
      {
        name: 'enforce p99 incl. queueing',
        value: ms(med('enforce', (s) => s.load.totalP99)),
        unit: 'ms',
        note: 'due time → response: adds generator timer lateness and queueing',
      },
      {
        name: 'learn max throughput',
        value: med('learn', (s) => s.rps ?? NaN),
        unit: 'req/s',
        ratioTarget: NO_LESS,
        note: tool,
      },
      {
        name: 'enforce max throughput',
        value: med('enforce', (s) => s.rps ?? NaN),
        unit: 'req/s',
        ratioTarget: NO_LESS,
        note: tool,
      },
      {
        name: 'enforce / learn throughput',
        value: pairRatio('enforce', 'learn', (s) => s.rps ?? NaN),
        unit: 'ratio',
        note: 'median of per-round ratios',
      },
      {
        name: 'direct p50 (no sidecar)',
        value: ms(med('direct', (s) => s.load.p50)),
        unit: 'ms',
        note: `external → external, ${lat}; no control plane on this path: in an A/B run its new/old is the machine's drift`,
      },
      {
        name: 'direct p99 (no sidecar)',
        value: ms(med('direct', (s) => s.load.p99)),
        unit: 'ms',
        note: `external → external, ${lat}`,
      },
      { name: 'direct max throughput', value: med('direct', (s) => s.rps ?? NaN), unit: 'req/s', note: tool },
      {
        name: 'sidecars (learn) / direct p50',
        value: pairRatio('learn', 'direct', (s) => s.load.p50),
        unit: 'ratio',
        note: 'two sidecar hops vs none; median of per-round ratios',
      },
      {
        name: 'sidecars (enforce) / direct p50',
        value: pairRatio('enforce', 'direct', (s) => s.load.p50),
        unit: 'ratio',
        note: 'median of per-round ratios',
      },
      {
        name: 'learn control plane CPU / request',
        value: med('learn', (s) => s.cpUsPerReq ?? NaN),
        unit: 'µs',
        ratioTarget: NO_SLOWER,
        note: `during the ${RATE} req/s runs (access logs of both sidecars); /proc, 10 ms ticks`,
      },
      {
        name: 'monitor control plane CPU / request',
        value: med('monitor', (s) => s.cpUsPerReq ?? NaN),
        unit: 'µs',
        note: 'diagnostic',
      },
      {
        name: 'enforce control plane CPU / request',
        value: med('enforce', (s) => s.cpUsPerReq ?? NaN),
        unit: 'µs',
        ratioTarget: NO_SLOWER,
        note: `during the ${RATE} req/s runs (access logs of both sidecars); /proc, 10 ms ticks`,
      },
      {
        name: 'learn sidecars CPU / request',
        value: med('learn', (s) => s.envoyUsPerReq ?? NaN),
        unit: 'µs',
        ratioTarget: NO_SLOWER,
        note: 'both Envoys together',
      },
      {
        name: 'monitor sidecars CPU / request',
        value: med('monitor', (s) => s.envoyUsPerReq ?? NaN),
        unit: 'µs',
        note: 'diagnostic',
      },
      {
        name: 'enforce sidecars CPU / request',
        value: med('enforce', (s) => s.envoyUsPerReq ?? NaN),
        unit: 'µs',
        ratioTarget: NO_SLOWER,
        note: 'both Envoys together',
      },
      {
        name: 'throughput-run errors',
        value: (['learn', 'monitor', 'enforce', 'direct'] as const).reduce(
          (n, p) => n + samples[p].reduce((k, s) => k + s.wrkErrors, 0),
          0,
        ),
        unit: 'count',
        target: { op: '<=', value: 0 },
      },
    ];
    return m;
  } finally {
    await lab.close();
  }
}
