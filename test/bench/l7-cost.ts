// What tracing and L7 enforcement cost on the request path, in a real lab (own control plane, real Envoys): HTTP
// from a client pod through its sidecar and the server pod's sidecar to a Node HTTP server, at a fixed rate, the
// requests spread round robin over 100 REST-style method + path requests (l7-templates.ts). The server is enforced
// with one ingress rule (bench/client, http/8080) listing the 100 templates, applied with `policy apply -f`; the
// client stays in learn mode. Three variants, side by side in every round:
//
//   untraced  `serve --trace-sampling 0`, the server's L7 off: L4 RBAC only (the source address)
//   traced    `serve --trace-sampling 100`: both sidecars trace every request and send OTLP spans to the control plane
//   l7        `--trace-sampling 0`, `mode bench/server enforce --l7`: each request's method and path are matched
//             against the rule's 100 templates (generate/rbac-l7.ts) after its source address
//
// The sampling is a `serve` flag: switching it restarts the control plane on the same state (the sidecars reconnect
// and get listeners with or without the tracer); L7 is switched with `nanoseg mode`. The order is
// untraced, l7, traced and reversed every other round, so one restart per round (the lab starts untraced: a quick
// run of one round restarts once, before its traced sample). Each variant proves itself: the
// traced runs deliver spans (≈ 2 per request), the untraced ones none; with L7 on, the server's Envoy holds the 100
// templates (its config dump) and an unlisted path gets a 403. Ratios are medians of per-round ratios.
import { spawnSync } from 'node:child_process';
import type { Benchmark, Metric } from './types.js';
import { cpuSeconds } from './child.js';
import { BenchLab, DRAIN_MS, isRoot, median, sleep, type LoadResult } from './lab.js';
import { policyFile } from './lab-policy.js';
import { UNLISTED_PATH, templateCases } from './l7-templates.js';

const SERVER = 'bench/server';
const SERVER_URL = 'http://server.bench:8080/';
const RATE = 500;
const TEMPLATES = templateCases();
const REQUESTS = TEMPLATES.map((t) => t.request);

type Variant = 'untraced' | 'traced' | 'l7';

interface Sample {
  load: LoadResult;
  cpUsPerReq: number;
  envoyUsPerReq: number;
  spansPerReq: number;
}

export const l7Cost: Benchmark = {
  name: 'l7-cost',
  description: 'lab: HTTP latency through two sidecars with tracing on vs off, and L7 RBAC (100 templates) vs L4',
  async run({ quick, progress }) {
    if (!isRoot()) {
      progress('skipped: the lab needs root (network namespaces, nftables)');
      return [];
    }
    return measure(quick, progress);
  },
};

const serveArgs = (traced: boolean) => ['--min-observations', '10', '--trace-sampling', traced ? '100' : '0'];

async function measure(quick: boolean, progress: (msg: string) => void): Promise<Metric[]> {
  const rounds = quick ? 1 : 4;
  const seconds = quick ? 1.5 : 10;
  const warmup = quick ? 0.5 : 2;
  // quick runs skip waiting out the drain of replaced listeners (figures are indicative there)
  const drainMs = quick ? 300 : DRAIN_MS;
  const lab = await BenchLab.start('nanoseg-bench-l7-cost-', serveArgs(false));
  try {
    lab.up('l7cost', [
      { name: 'lc-client', service: 'bench/client', address: '10.213.0.5' },
      {
        name: 'lc-server',
        service: SERVER,
        address: '10.213.0.10',
        ports: [8080],
        run: [`exec node ${lab.serverJs} 8080`],
      },
    ]);
    await lab.settled(2);
    progress(
      `lab up; ${quick ? '' : 'warm-up traffic over the 100 requests, then '}the server enforced with 100 templates`,
    );
    const spec = { mode: 'open' as const, url: SERVER_URL, requests: REQUESTS, rate: RATE, conns: 16 };
    // the server's policy is applied, not learned: quick runs let each sample's own warm-up warm the path
    if (!quick) await lab.load('lc-client', { ...spec, seconds: 3, warmup: 0 });
    const rule = {
      peer: { service: 'bench/client' },
      protocol: 'http',
      port: 8080,
      paths: TEMPLATES.map((t) => t.template),
    };
    const before = await lab.status();
    lab.cli(['policy', 'apply', '-f', policyFile(lab, 'l7-policy.json', SERVER, [rule], [], false)]);
    await lab.waitChanged(before, (e) => e.service === SERVER);
    await sleep(drainMs);

    const listing = JSON.parse(lab.cli(['lab', 'list', '-o', 'json']).stdout) as {
      pods: { name: string; namespace: string; envoy?: { pid: number } }[];
    };
    const envoyPids = listing.pods.flatMap((p) => (p.envoy ? [p.envoy.pid] : []));
    const serverNs = listing.pods.find((p) => p.name === 'lc-server')?.namespace;
    if (serverNs === undefined) throw new Error(`no lc-server in ${JSON.stringify(listing)}`);
    const state = { traced: false, l7: false };
    let l7Checked = false;
    const unlisted = async () =>
      (
        await lab.exec('lc-client', [
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--max-time',
          '5',
          `http://10.213.0.10:8080${UNLISTED_PATH}`,
        ])
      ).stdout.trim();

    const enter = async (v: Variant) => {
      const want = { traced: v === 'traced', l7: v === 'l7' };
      if (want.l7 !== state.l7) {
        const b = await lab.status();
        lab.cli(['mode', SERVER, 'enforce', want.l7 ? '--l7' : '--no-l7']);
        const { types } = await lab.waitChanged(b, (e) => e.service === SERVER);
        state.l7 = want.l7;
        await sleep(types.includes('lds') ? drainMs : 300);
      }
      if (want.traced !== state.traced) {
        const { stopMs, startMs } = await lab.restart(serveArgs(want.traced));
        const t1 = performance.now();
        await lab.settled(2);
        progress(
          `control plane restarted with --trace-sampling ${want.traced ? 100 : 0}: stop ${Math.round(stopMs)} ms, start ${Math.round(startMs)} ms, sidecars ACKed ${Math.round(performance.now() - t1)} ms later`,
        );
        state.traced = want.traced;
        // a fresh control plane is JIT-cold and the sample after it would pay for that: warm it with the same load
        if (!quick) await lab.load('lc-client', { ...spec, seconds: 3, warmup: 0 });
        await sleep(drainMs); // the tracer is part of the HTTP connection managers: listeners were replaced
      }
      if (v === 'l7' && !l7Checked) {
        // the admin listens on the pod's loopback: straight into its network namespace, no CLI start
        const dump = spawnSync(
          'ip',
          ['netns', 'exec', serverNs, 'curl', '-s', 'http://127.0.0.1:15000/config_dump?resource=ecds_filters'],
          { encoding: 'utf8', maxBuffer: 64 << 20 },
        );
        // every template is in force: each request of the load matches one of the path regexes Envoy holds
        const regexes = [...dump.stdout.matchAll(/"regex": ("(?:[^"\\]|\\.)*")/g)].map(
          (m) => new RegExp(JSON.parse(m[1]!) as string),
        );
        const missing = REQUESTS.filter((r) => !regexes.some((re) => re.test(r.path)));
        if (regexes.length === 0 || missing.length > 0)
          throw new Error(
            `the server's Envoy matches no template for ${missing.length} of ${REQUESTS.length} requests`,
          );
        const code = await unlisted();
        if (code !== '403') throw new Error(`GET ${UNLISTED_PATH} with L7 on: expected 403, got "${code}"`);
        l7Checked = true;
      }
    };

    const spans = async () => {
      const st = await lab.status();
      return {
        accepted: st.traces?.spans ?? 0,
        rejected: st.traces?.rejected ?? 0,
        kinds: st.accessLogs.rejectedByKind,
      };
    };
    const sample = async (v: Variant): Promise<Sample> => {
      await enter(v);
      const cpPid = lab.server.proc?.pid;
      if (cpPid === undefined) throw new Error('no control plane process');
      const cpu = () => ({ cp: cpuSeconds(cpPid), envoy: envoyPids.reduce((n, p) => n + cpuSeconds(p), 0) });
      const s0 = await spans();
      const c0 = cpu();
      const load = await lab.load('lc-client', { ...spec, seconds, warmup });
      const c1 = cpu();
      await sleep(v === 'traced' ? 1200 : 0); // the last spans wait for the tracer's 1 s flush
      const sent = RATE * seconds;
      const s1 = await spans();
      const spansPerReq = (s1.accepted - s0.accepted) / sent;
      if (s1.rejected > s0.rejected)
        throw new Error(`${v}: ${s1.rejected - s0.rejected} spans refused (${JSON.stringify(s1.kinds)})`);
      if (load.errors || load.non2xx)
        throw new Error(`${v}: ${load.errors} errors, ${load.non2xx} non-2xx responses at ${RATE} req/s`);
      progress(
        `${v.padEnd(8)} p50 ${(load.p50 / 1000).toFixed(3)} ms  p99 ${(load.p99 / 1000).toFixed(3)} ms  late p99 ${(load.lateP99 / 1000).toFixed(2)} ms  spans/req ${spansPerReq.toFixed(2)}`,
      );
      // untraced after traced (rounds 2, 4, ...): the replaced listeners trace what they carry while they drain
      if (v === 'traced' ? spansPerReq < 1 : spansPerReq > 0.01)
        throw new Error(`${v}: ${spansPerReq.toFixed(2)} spans per request reached the control plane`);
      return {
        load,
        cpUsPerReq: ((c1.cp - c0.cp) * 1e6) / sent,
        envoyUsPerReq: ((c1.envoy - c0.envoy) * 1e6) / sent,
        spansPerReq,
      };
    };

    const samples: Record<Variant, Sample[]> = { untraced: [], traced: [], l7: [] };
    for (let r = 0; r < rounds; r++) {
      const order: Variant[] = r % 2 === 0 ? ['untraced', 'l7', 'traced'] : ['traced', 'l7', 'untraced'];
      for (const v of order) samples[v].push(await sample(v));
    }
    return metrics(samples, { rounds, seconds, warmup });
  } finally {
    await lab.close();
  }
}

function metrics(samples: Record<Variant, Sample[]>, o: { rounds: number; seconds: number; warmup: number }): Metric[] {
  const med = (v: Variant, f: (s: Sample) => number) => median(samples[v].map(f));
  const pair = (a: Variant, f: (s: Sample) => number) =>
    median(samples[a].map((s, i) => f(s) / f(samples.untraced[i]!)));
  const ms = (us: number) => us / 1000;
  const lat = `open loop ${RATE} req/s over 100 requests round robin, ${o.seconds - o.warmup} s × ${o.rounds} rounds; median of rounds; service time`;
  const perRound = 'median of per-round ratios';
  return [
    { name: 'untraced L4 p50', value: ms(med('untraced', (s) => s.load.p50)), unit: 'ms', note: lat },
    { name: 'untraced L4 p99', value: ms(med('untraced', (s) => s.load.p99)), unit: 'ms', note: lat },
    { name: 'traced p50', value: ms(med('traced', (s) => s.load.p50)), unit: 'ms', note: lat },
    { name: 'traced p99', value: ms(med('traced', (s) => s.load.p99)), unit: 'ms', note: lat },
    {
      name: 'traced / untraced p50',
      value: pair('traced', (s) => s.load.p50),
      unit: 'ratio',
      target: { op: '<=', value: 1.1 },
      note: `${perRound}; --trace-sampling 100 vs 0, both sidecars`,
    },
    { name: 'traced / untraced p99', value: pair('traced', (s) => s.load.p99), unit: 'ratio', note: perRound },
    {
      name: 'spans / request (traced)',
      value: med('traced', (s) => s.spansPerReq),
      unit: 'count',
      note: 'accepted by the control plane (/v1/status traces.spans); client and server span: 2',
    },
    {
      name: 'untraced control plane CPU / request',
      value: med('untraced', (s) => s.cpUsPerReq),
      unit: 'µs',
      note: 'access logs of both sidecars; /proc, 10 ms ticks',
    },
    {
      name: 'traced control plane CPU / request',
      value: med('traced', (s) => s.cpUsPerReq),
      unit: 'µs',
      note: 'access logs and OTLP spans of both sidecars; /proc, 10 ms ticks',
    },
    { name: 'untraced sidecars CPU / request', value: med('untraced', (s) => s.envoyUsPerReq), unit: 'µs' },
    { name: 'traced sidecars CPU / request', value: med('traced', (s) => s.envoyUsPerReq), unit: 'µs' },
    { name: 'L7 p50', value: ms(med('l7', (s) => s.load.p50)), unit: 'ms', note: lat },
    { name: 'L7 p99', value: ms(med('l7', (s) => s.load.p99)), unit: 'ms', note: lat },
    {
      name: 'L7 / L4 p50',
      value: pair('l7', (s) => s.load.p50),
      unit: 'ratio',
      target: { op: '<=', value: 1.05 },
      note: `${perRound}; 100 templates on the edge, requests spread over all of them; both untraced`,
    },
    { name: 'L7 / L4 p99', value: pair('l7', (s) => s.load.p99), unit: 'ratio', note: perRound },
    { name: 'L7 sidecars CPU / request', value: med('l7', (s) => s.envoyUsPerReq), unit: 'µs' },
    { name: 'L7 control plane CPU / request', value: med('l7', (s) => s.cpUsPerReq), unit: 'µs' },
  ];
}
