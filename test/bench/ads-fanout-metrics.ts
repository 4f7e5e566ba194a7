// ads-fanout's results and the table rows made of them (ads-fanout.ts runs the rounds).
import type { Kind } from './light-envoy.js';
import type { Metric } from './types.js';
import { NO_LESS, NO_SLOWER } from './types.js';
import type { LoopStats } from './child.js';
import type { MeshSpec } from './inventory.js';

export const ALS_MESH: MeshSpec = { services: 4, replicas: 1, namespace: 'ingest', first: 100 };
export const ALS_RATE = 20_000;

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** monitorEventLoopDelay's default resolution, which the control plane child uses */
export const LOOP_SAMPLING_MS = 10;
/** how late the 10 ms timer ran: a stall of d ms reads about 10 + d */
export const lateness = (sampleMs: number) => Math.max(0, sampleMs - LOOP_SAMPLING_MS);

export interface Rounds {
  readonly lastAckMs: number[];
  readonly streamAckMs: number[];
  readonly bytesPerStream: number[];
  readonly responsesPerStream: number[];
  readonly pushCpuMs: number[];
  /** the load generator's own CPU from the PUT to the last ACK (the light Envoys, this process) */
  readonly clientCpuMs: number[];
  /** the child's event loop over the rounds (reset right before the first) */
  loop?: LoopStats;
}

export interface VariantResult {
  readonly kind: Kind;
  readonly streams: number;
  readonly connectSeconds: number;
  readonly rssPerStream: number;
  readonly heapPerStream: number;
  readonly rssBase: number;
  readonly rssLoaded: number;
  readonly idleCpuPercent: number;
  /** rounds alone */
  readonly quiet: Rounds;
  /** rounds while the paced ALS load runs */
  readonly loaded: Rounds;
  readonly als: {
    readonly offered: number;
    readonly delivered: number;
    readonly seconds: number;
    readonly exhausted: boolean;
  };
  readonly errors: number;
  readonly errorSamples: string[];
}

export function variantMetrics(r: VariantResult): Metric[] {
  const v = r.kind;
  const KiB = 1024,
    MiB = 2 ** 20;
  const q = r.quiet,
    l = r.loaded;
  const rounds = (xs: readonly number[]) => `over ${xs.length} rounds: ${xs.map((x) => x.toFixed(0)).join(', ')}`;
  const m: Metric[] = [
    // no ratio target: in A/A runs on the shared machine it strayed up to 1.5× (the connect waves meet whatever else runs)
    { name: `${v}: connect+ACK ${r.streams} streams`, value: r.connectSeconds, unit: 's' },
    {
      name: `${v}: PUT→last ACK p50`,
      value: percentile(q.lastAckMs, 50),
      unit: 'ms',
      ratioTarget: NO_SLOWER,
      note: rounds(q.lastAckMs),
    },
    {
      name: `${v}: PUT→last ACK p99`,
      value: percentile(q.lastAckMs, 99),
      unit: 'ms',
      target: { op: '<=', value: 1000 },
      ratioTarget: NO_SLOWER,
      note: 'includes the 100 ms debounce',
    },
    { name: `${v}: PUT→ACK per stream p50`, value: percentile(q.streamAckMs, 50), unit: 'ms', ratioTarget: NO_SLOWER },
    {
      name: `${v}: bytes per stream per change`,
      value: percentile(q.bytesPerStream, 50),
      unit: 'B',
      note: 'encoded responses received for one EDS change',
    },
    { name: `${v}: responses per stream per change`, value: percentile(q.responsesPerStream, 50), unit: 'msgs' },
    {
      name: `${v}: control plane cpu per change`,
      value: percentile(q.pushCpuMs, 50),
      unit: 'ms',
      ratioTarget: NO_SLOWER,
      note: 'PUT → 300 ms after the last ACK, idle CPU included',
    },
    {
      name: `${v}: control plane cpu per change per stream`,
      value: (percentile(q.pushCpuMs, 50) / r.streams) * 1000,
      unit: 'µs',
      ratioTarget: { op: '<=', value: 0.5, why: 'goal: half the old figure' },
      note: `the figure above / ${r.streams} streams`,
    },
    {
      name: `${v}: load generator cpu per change`,
      value: percentile(q.clientCpuMs, 50),
      unit: 'ms',
      note: `the ${r.streams} light Envoys (one process, one core) from the PUT to the last ACK: near the last-ACK time means the clients, not the control plane, set it`,
    },
    {
      name: `${v}: event loop longest block during rounds`,
      value: lateness(q.loop!.max),
      unit: 'ms',
      target: { op: '<=', value: 100 },
      note: `max of a 10 ms timer's lateness, reset right before the rounds (raw ${q.loop!.max.toFixed(0)} ms); p99 hides a single multi-second push`,
    },
    {
      name: `${v}: rss per stream`,
      value: r.rssPerStream / KiB,
      unit: 'KiB',
      target: { op: '<=', value: 1024 },
      note: `(rss@${r.streams} ${(r.rssLoaded / MiB).toFixed(0)} MiB − rss@0 ${(r.rssBase / MiB).toFixed(0)} MiB) / ${r.streams}, after GC`,
    },
    { name: `${v}: heap per stream`, value: r.heapPerStream / KiB, unit: 'KiB' },
    { name: `${v}: idle cpu, ${r.streams} streams`, value: r.idleCpuPercent, unit: '% core' },
    {
      name: `${v}: PUT→last ACK p99 during ALS load`,
      value: percentile(l.lastAckMs, 99),
      unit: 'ms',
      target: { op: '<=', value: 1000 },
      ratioTarget: NO_SLOWER,
      note: `the same change while ${ALS_RATE} entries/s of access logs stream in; ${rounds(l.lastAckMs)}`,
    },
    {
      name: `${v}: ALS delivered during rounds`,
      value: r.als.delivered,
      unit: 'entries/s',
      ratioTarget: NO_LESS,
      note: `accepted + rejected per second over the ${r.als.seconds.toFixed(1)} s of pushes, ${ALS_RATE} offered from ${ALS_MESH.services * ALS_MESH.replicas * 2} streams${r.als.exhausted ? '; THE BATCHES RAN OUT before the rounds ended' : ''}`,
    },
    {
      name: `${v}: ALS event-loop delay p99 during rounds`,
      value: lateness(l.loop!.p99),
      unit: 'ms',
      // no ratio target: with pushes blocking the loop for a second, this p99 is a tail of a handful of samples and
      // strayed up to 3× in A/A runs
      note: `lateness of a 10 ms timer (raw ${l.loop!.p99.toFixed(1)} ms), ingest and pushes together`,
    },
    {
      name: `${v}: event loop longest block during rounds with ALS`,
      value: lateness(l.loop!.max),
      unit: 'ms',
      target: { op: '<=', value: 100 },
      note: `raw ${l.loop!.max.toFixed(0)} ms`,
    },
  ];
  if (r.errors)
    m.push({
      name: `${v}: warnings/errors logged`,
      value: r.errors,
      unit: 'lines',
      target: { op: '<=', value: 0 },
      note: r.errorSamples.join(' | '),
    });
  return m;
}
