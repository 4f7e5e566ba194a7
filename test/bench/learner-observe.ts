// The learner alone, in process: observations/s while its dedup map is below its key bound and once it is at the
// bound (every new connection then evicts the oldest key), side by side in one run. Each connection is observed
// twice (client and server side), as the ALS benchmark sends it. Isolates learner cost from gRPC and decoding.
import { PerformanceObserver } from 'node:perf_hooks';
import { Learner } from '../../xds-server/src/learn/index.js';
import type { Observation } from '../../xds-server/src/model/index.js';
import type { Benchmark, Metric } from './types.js';

const SERVICES = 50;

function observations(from: number, conns: number, t0: number): Observation[] {
  const out: Observation[] = [];
  for (let c = from; c < from + conns; c++) {
    const s = c % SERVICES,
      t = (s + 1 + (c % 3) * 6) % SERVICES;
    const base = {
      time: t0 + Math.floor(c / 100),
      reporter: `svc${s}-0.shop`,
      source: { service: `shop/svc${s}` },
      sourceWorkload: `svc${s}-0`,
      destination: { service: `shop/svc${t}` },
      port: 8080,
      protocol: 'tcp' as const,
      dedupKey: `tcp|10.213.${s}.1:${32768 + (c % 28000)}>10.213.${t}.1:8080#${c}`,
      bytesSent: 300,
      bytesReceived: 5000,
    };
    out.push({ ...base, side: 'outbound' }, { ...base, side: 'inbound' });
  }
  return out;
}

async function timeObserve(
  learner: Learner,
  obs: readonly Observation[],
): Promise<{ perSecond: number; gcMs: number }> {
  let gcMs = 0;
  const po = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) gcMs += e.duration;
  });
  po.observe({ entryTypes: ['gc'] });
  const t0 = performance.now();
  for (const o of obs) learner.observe(o);
  const secs = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 20)); // gc entries are delivered asynchronously
  po.disconnect();
  return { perSecond: obs.length / secs, gcMs };
}

export const learnerObserve: Benchmark = {
  name: 'learner-observe',
  description: 'Learner.observe/s below vs at the dedup key bound (in process, no gRPC)',
  async run({ quick, progress }) {
    const maxKeys = quick ? 50_000 : 200_000; // 200k is the production default
    const sample = quick ? 25_000 : 100_000; // connections timed in each regime
    const t0 = Date.now();
    const learner = new Learner({ dedupMaxKeys: maxKeys });
    // below the bound: the first half of the key budget
    const below = await timeObserve(learner, observations(0, Math.min(sample, maxKeys / 2), t0));
    // fill up to the bound (untimed), then time a regime where every new connection evicts
    for (const o of observations(maxKeys / 2, maxKeys, t0)) learner.observe(o);
    await new Promise((r) => setImmediate(r));
    const at = await timeObserve(learner, observations(maxKeys * 2, sample, t0));
    progress(
      `below ${Math.round(below.perSecond)}/s, at bound ${Math.round(at.perSecond)}/s, dedup keys ${learner.dedupSize}`,
    );
    const m: Metric[] = [
      { name: 'observe/s below key bound', value: below.perSecond, unit: 'obs/s' },
      { name: 'observe/s at key bound', value: at.perSecond, unit: 'obs/s', note: `dedupMaxKeys ${maxKeys}` },
      {
        name: 'at-bound / below-bound',
        value: at.perSecond / below.perSecond,
        unit: 'ratio',
        note: 'an LRU bound should cost little: near 1',
      },
      { name: 'gc ms per 100k obs at bound', value: (at.gcMs / (sample * 2)) * 1e5, unit: 'ms' },
    ];
    return m;
  },
};
