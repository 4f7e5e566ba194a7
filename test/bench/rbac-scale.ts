// Does the size of a policy change the request path? In a real lab (own control plane, real Envoys), enforce mode:
// the server's ingress policy allows either its one real client (the rule learned from warm-up traffic) or that
// rule plus 9,999 more /32 sources (198.18.0.0/15, never contacted), applied with `nanoseg policy apply -f`. The
// same fixed-rate HTTP load (client pod → its sidecar → server sidecar → app) runs under each, alternating
// A B B A ... so drift cancels; ratios are medians of per-round ratios. Envoy's RBAC matcher is a port hash plus an
// IP trie, so 10,000 addresses should cost what 1 does. Also reported: the ECDS config size of both policies (the
// same generator the control plane uses, fed the control plane's inventory) and policy apply → all ACKed.
import { generateProxy, DEFAULT_SETTINGS } from '../../xds-server/src/generate/index.js';
import type { Inventory, PolicyRule, ServicePolicy } from '../../xds-server/src/model/index.js';
import type { Benchmark, Metric } from './types.js';
import { BenchLab, DRAIN_MS, isRoot, median, sleep, type LoadResult } from './lab.js';
import { benchPeerRules } from './peers.js';
import { learnedIngress, policyFile } from './lab-policy.js';

const SERVER_URL = 'http://server.bench:8080/';
const SERVER = 'bench/server';
const RATE = 500;
const EXTRA = 9_999;

type Size = 'one' | 'tenk';

function ecdsBytes(rules: readonly PolicyRule[], inventory: Inventory): { all: number; inboundHttp: number } {
  const policy: ServicePolicy = { service: SERVER, ingress: rules, egress: [], origin: 'applied', updatedAt: 0 };
  const rs = generateProxy(
    {
      identity: { service: SERVER },
      inventory,
      mode: 'enforce',
      policy,
    },
    { ...DEFAULT_SETTINGS },
  ).filter((r) => r.kind === 'extension');
  return {
    all: rs.reduce((n, r) => n + r.body.length, 0),
    inboundHttp: rs.find((r) => r.name === 'nanoseg.rbac.inbound-http')?.body.length ?? NaN,
  };
}

export const rbacScale: Benchmark = {
  name: 'rbac-scale',
  description: 'lab, enforce: HTTP p99 with a server policy allowing 10,000 source addresses vs 1',
  async run({ quick, progress }) {
    const rounds = quick ? 1 : 6;
    const seconds = quick ? 2 : 12;
    const warmup = quick ? 0.5 : 2;
    if (!isRoot()) {
      progress('skipped: the lab needs root (network namespaces, nftables)');
      return [];
    }
    const lab = await BenchLab.start('nanoseg-bench-rbac-scale-', ['--min-observations', '10']);
    try {
      lab.up('rbacscale', [
        { name: 'rs-client', service: 'bench/client', address: '10.213.0.5' },
        {
          name: 'rs-server',
          service: SERVER,
          address: '10.213.0.10',
          ports: [8080],
          run: [`exec node ${lab.serverJs} 8080`],
        },
        { name: 'rs-stranger', address: '203.0.113.60' },
      ]);
      await lab.settled(2);
      progress('lab up; warm-up traffic (learns client → server), then enforce');
      await lab.load('rs-client', { mode: 'open', url: SERVER_URL, rate: RATE, seconds: 3, warmup: 0, conns: 16 });
      lab.cli(['mode', '--all', 'enforce']);
      await lab.settled(2);

      const real = learnedIngress(lab, SERVER);
      if (!real.some((r) => 'service' in r.peer && r.peer.service === 'bench/client'))
        throw new Error(`no learned rule for bench/client in ${JSON.stringify(real)}`);
      progress(
        `learned ingress of ${SERVER}: ${real.map((r) => `${JSON.stringify(r.peer)} ${r.protocol}/${r.port}`).join('; ')}`,
      );
      const port = real[0]!.port;
      const extra = benchPeerRules(EXTRA, real[0]!.protocol, port);
      const files: Record<Size, string> = {
        one: policyFile(lab, 'policy-1.json', SERVER, real),
        tenk: policyFile(lab, 'policy-10k.json', SERVER, [...real, ...extra]),
      };
      const addresses = { one: real.length, tenk: real.length + EXTRA };

      const inventory = await lab.api.call<Inventory>('GET', '/v1/inventory');
      const size = {
        one: ecdsBytes(real as PolicyRule[], inventory),
        tenk: ecdsBytes([...real, ...extra] as PolicyRule[], inventory),
      };

      const applyMs: Record<Size, number[]> = { one: [], tenk: [] };
      const samples: Record<Size, LoadResult[]> = { one: [], tenk: [] };
      let strangerChecked = false;
      let current: Size | undefined;
      const measure = async (s: Size) => {
        if (current !== s) {
          const before = await lab.status();
          const t0 = performance.now();
          const out = lab.cli(['policy', 'apply', '-f', files[s]]).stdout;
          if (!/unchanged/.test(out)) {
            // the 1-address policy is the learned one: the first apply changes nothing
            const { at, types } = await lab.waitChanged(before, (e) => e.service === SERVER);
            applyMs[s].push(at - t0);
            // revoking ingress while enforced re-creates the inbound chains: let the old ones drain
            if (types.includes('lds')) await sleep(DRAIN_MS);
          }
          current = s;
          await sleep(500);
        }
        if (s === 'tenk' && !strangerChecked) {
          // the big policy is really in force: an address it does not list gets a 403 from the server's sidecar
          const r = await lab.exec('rs-stranger', [
            'curl',
            '-s',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code}',
            '--max-time',
            '5',
            'http://10.213.0.10:8080/',
          ]);
          if (r.stdout.trim() !== '403')
            throw new Error(
              `stranger → server under the 10,000-address policy: expected 403, got "${r.stdout.trim()}" (${r.stderr.trim()})`,
            );
          strangerChecked = true;
        }
        const load = await lab.load('rs-client', {
          mode: 'open',
          url: SERVER_URL,
          rate: RATE,
          seconds,
          warmup,
          conns: 16,
        });
        if (load.errors || load.non2xx)
          throw new Error(`${addresses[s]} addresses: ${load.errors} errors, ${load.non2xx} non-2xx responses`);
        samples[s].push(load);
        progress(
          `${String(addresses[s]).padStart(5)} address${addresses[s] === 1 ? '' : 'es'}: p50 ${(load.p50 / 1000).toFixed(3)} ms  p99 ${(load.p99 / 1000).toFixed(3)} ms  late p99 ${(load.lateP99 / 1000).toFixed(2)} ms`,
        );
      };
      for (let r = 0; r < rounds; r++) {
        for (const s of (r % 2 === 0 ? ['one', 'tenk'] : ['tenk', 'one']) as Size[]) await measure(s);
      }

      const med = (s: Size, f: (l: LoadResult) => number) => median(samples[s].map(f));
      const pair = (f: (l: LoadResult) => number) => median(samples.tenk.map((l, i) => f(l) / f(samples.one[i]!)));
      const note = `enforce, open loop ${RATE} req/s, ${seconds - warmup} s × ${rounds} rounds; median of rounds; service time`;
      const m: Metric[] = [
        { name: 'p99, 1 address', value: med('one', (l) => l.p99) / 1000, unit: 'ms', note },
        { name: 'p99, 10,000 addresses', value: med('tenk', (l) => l.p99) / 1000, unit: 'ms', note },
        {
          name: '10k / 1 p99',
          value: pair((l) => l.p99),
          unit: 'ratio',
          target: { op: '<=', value: 1.1 },
          note: 'median of per-round ratios',
        },
        { name: 'p50, 1 address', value: med('one', (l) => l.p50) / 1000, unit: 'ms', note },
        { name: 'p50, 10,000 addresses', value: med('tenk', (l) => l.p50) / 1000, unit: 'ms', note },
        { name: '10k / 1 p50', value: pair((l) => l.p50), unit: 'ratio', note: 'median of per-round ratios' },
        {
          name: 'ECDS bytes, 1 address',
          value: size.one.all,
          unit: 'B',
          note: `3 RBAC configs; inbound HTTP RBAC ${size.one.inboundHttp} B`,
        },
        {
          name: 'ECDS bytes, 10,000 addresses',
          value: size.tenk.all,
          unit: 'B',
          note: `3 RBAC configs; inbound HTTP RBAC ${size.tenk.inboundHttp} B`,
        },
        { name: 'ECDS bytes per extra address', value: (size.tenk.all - size.one.all) / EXTRA, unit: 'B' },
        {
          name: 'apply → ACK, 1 address',
          value: median(applyMs.one),
          unit: 'ms',
          note: '`nanoseg policy apply -f` (CLI start included) until the server sidecar ACKed it; 10 ms polls',
        },
        {
          name: 'apply → ACK, 10,000 addresses',
          value: median(applyMs.tenk),
          unit: 'ms',
          note: '`nanoseg policy apply -f` (CLI start included) until the server sidecar ACKed it; 10 ms polls',
        },
      ];
      return m;
    } finally {
      await lab.close();
    }
  },
};
