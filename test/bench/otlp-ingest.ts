// OTLP trace ingest through the real gRPC trace service, as als-ingest does for access logs. The control plane runs
// in a child process pinned to one core; this process (pinned to the other) plays 100 sidecars (50 services × 2
// replicas), each on its own connection, sending pre-encoded Export batches (otlp-load.ts) as fast as the server
// answers, then paced at the target rate for the event-loop delay the sidecars' ADS streams would see.
import { TRACE_FLUSH_SPANS } from '../../xds-server/src/sidecar/bootstrap.js';
import type { Benchmark, Metric } from './types.js';
import { NO_LESS, NO_SLOWER } from './types.js';
import { ControlPlaneChild, pinSelf, type ChildStats } from './child.js';
import { makeInventory, type MeshSpec } from './inventory.js';
import { RawTraceClient, SpanGenerator, sendExports } from './otlp-load.js';

const MESH: MeshSpec = { services: 50, replicas: 2, namespace: 'shop' };
const LOOP_SAMPLING_MS = 10;
/** what our sidecars' tracer sends per export (the bootstrap's min_flush_spans; Envoy's default is 5) */
const SPANS_PER_EXPORT = TRACE_FLUSH_SPANS;
const IN_FLIGHT = 8;
const TARGET = 50_000;

interface Phase {
  readonly spans: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly stats: ChildStats;
}

interface TraceStatus {
  traces?: { exports: number; spans: number; rejected: number; kept: { bytes: number; budgetBytes: number } };
  accessLogs: { entries: number; rejected: number; rejectedByKind: Record<string, number> };
  store: { edges: number };
}

export const otlpIngest: Benchmark = {
  name: 'otlp-ingest',
  description:
    'spans/s through the OTLP trace service into a control plane child process; loss, memory, event-loop delay',
  async run({ quick, progress }) {
    pinSelf(0);
    // quick (the suite's smoke run) stays under 30 s: small phases, each cut at a deadline
    const perPhase = quick ? 15_000 : 300_000;
    const phases = quick ? 1 : 2;
    const phaseDeadlineMs = quick ? 4_000 : 60_000;
    const cp = await ControlPlaneChild.start({ fineLoop: true });
    const clients = new Map<string, RawTraceClient>();
    try {
      await cp.api('PUT', '/v1/inventory/lab', makeInventory(MESH));
      const gen = new SpanGenerator(42, Date.now() - 60_000, MESH, SPANS_PER_EXPORT);
      const connect = (plans: { node: string; address: string }[]) => {
        for (const p of plans)
          if (!clients.has(p.node)) clients.set(p.node, new RawTraceClient(cp.xdsAddress, p.address));
      };
      // warm-up: every connection open, the receiver's code paths compiled
      const warm = gen.generate(quick ? 2_000 : 10_000);
      connect(warm);
      let sent = (await sendExports(clients, warm, { inFlight: IN_FLIGHT, deadline: performance.now() + 5_000 })).spans;
      await cp.gc();
      const before = await cp.stats();
      const results: Phase[] = [];
      let partial = 0;
      for (let i = 0; i < phases; i++) {
        const plans = gen.generate(perPhase);
        connect(plans);
        const planned = plans.reduce((a, p) => a + p.spans, 0);
        const exports = plans.reduce((a, p) => a + p.exports.length, 0);
        const bytes = plans.reduce((a, p) => a + p.exports.reduce((b, m) => b + m.length, 0), 0);
        progress(
          `phase ${i + 1}/${phases}: ${planned} spans in ${exports} exports, ${(bytes / 1e6).toFixed(1)} MB encoded`,
        );
        await cp.reset();
        const cpu0 = cp.cpuSeconds();
        const t0 = performance.now();
        const r = await sendExports(clients, plans, { inFlight: IN_FLIGHT, deadline: t0 + phaseDeadlineMs });
        const n = r.spans;
        partial += r.partial;
        const seconds = (performance.now() - t0) / 1000;
        const cpuSeconds = cp.cpuSeconds() - cpu0;
        const stats = await cp.stats();
        sent += n;
        results.push({ spans: n, seconds, cpuSeconds, stats });
        progress(
          `phase ${i + 1}: ${Math.round(n / seconds)} spans/s, event loop p99 ${stats.eventLoop.p99.toFixed(1)} ms, rss ${(stats.rss / 2 ** 20).toFixed(0)} MiB`,
        );
      }
      const pacedSeconds = quick ? 1 : 10;
      const pacedPlans = gen.generate(TARGET * pacedSeconds);
      connect(pacedPlans);
      await cp.reset();
      const pt0 = performance.now();
      const pr = await sendExports(clients, pacedPlans, {
        inFlight: IN_FLIGHT,
        rate: TARGET,
        deadline: pt0 + pacedSeconds * 1000 + (quick ? 2_000 : 10_000),
      });
      const pacedN = pr.spans;
      partial += pr.partial;
      const pacedSecs = (performance.now() - pt0) / 1000;
      const paced = await cp.stats();
      sent += pacedN;
      progress(
        `paced: ${pacedN} spans at ${Math.round(pacedN / pacedSecs)}/s, loop p99 ${paced.eventLoop.p99.toFixed(1)} ms`,
      );

      const status = await cp.api<TraceStatus>('GET', '/v1/status');
      await cp.gc();
      const after = await cp.stats();
      const t = status.traces;
      const received = (t?.spans ?? 0) + (t?.rejected ?? 0);
      const total = results.reduce((a, r) => a + r.spans, 0);
      const secs = results.reduce((a, r) => a + r.seconds, 0);
      const cpu = results.reduce((a, r) => a + r.cpuSeconds, 0);
      const MiB = 2 ** 20;
      const lateness = (sampleMs: number) => Math.max(0, sampleMs - LOOP_SAMPLING_MS);
      const peak = Math.max(...results.map((r) => r.stats.peakRss));
      const last = results[results.length - 1]!;
      const m: Metric[] = [
        {
          name: 'spans per control-plane cpu-second',
          value: total / cpu,
          unit: 'spans/s',
          target: { op: '>=', value: TARGET },
          note: "spans ÷ the child's utime+stime: what one busy core ingests, whether or not the load generator kept it busy",
        },
        {
          name: 'spans/s',
          value: total / secs,
          unit: 'spans/s',
          ratioTarget: NO_LESS,
          note: `wall clock; ${total} spans in exports of ${SPANS_PER_EXPORT} (the sidecars' min_flush_spans) from ${clients.size} sidecars, ${IN_FLIGHT} in flight each, saturated`,
        },
        ...results.map((r, i) => ({
          name: `spans/s phase ${i + 1}`,
          value: r.spans / r.seconds,
          unit: 'spans/s',
          note: i === 0 ? 'learner and trace store empty at start' : 'trace store filling toward its budget',
        })),
        {
          name: 'received − sent',
          value: received - sent,
          unit: 'spans',
          target: { op: '<=', value: 0 },
          note: `${sent} sent; accepted + rejected from /v1/status (${t?.rejected ?? 0} rejected)`,
        },
        {
          name: 'spans lost',
          value: sent - received,
          unit: 'spans',
          target: { op: '<=', value: 0 },
          note: 'sent − (accepted + rejected)',
        },
        { name: 'partial_success answers', value: partial, unit: 'exports', note: 'refused spans, by export' },
        {
          name: 'span observations learned',
          value: status.accessLogs.entries,
          unit: 'observations',
          note: `client and server spans of one request count once on the edge; ${status.store.edges} edges`,
        },
        {
          name: `event-loop delay p99 @${TARGET / 1000}k/s paced`,
          value: lateness(paced.eventLoop.p99),
          unit: 'ms',
          target: { op: '<=', value: 20 },
          ratioTarget: NO_SLOWER,
          note: `${pacedN} spans offered at ${TARGET}/s; lateness of a 10 ms timer (raw sample − 10 ms)`,
        },
        {
          name: 'event-loop delay p99 (saturated)',
          value: lateness(Math.max(...results.map((r) => r.stats.eventLoop.p99))),
          unit: 'ms',
          note: 'worst saturated phase; raw sample − 10 ms',
        },
        {
          name: 'event loop max (saturated)',
          value: Math.max(...results.map((r) => r.stats.eventLoop.max)),
          unit: 'ms',
        },
        {
          name: 'cpu per span',
          value: (cpu / total) * 1e6,
          unit: 'µs',
          ratioTarget: NO_SLOWER,
          note: 'child utime+stime / spans, saturated phases',
        },
        { name: 'child cpu busy', value: (cpu / secs) * 100, unit: '%', note: 'of one core, while ingesting' },
        {
          name: 'gc pause per 100k spans',
          value: (results.reduce((a, r) => a + r.stats.gc.ms, 0) / total) * 1e5,
          unit: 'ms',
          note: 'saturated phases',
        },
        {
          name: 'gc pause max',
          value: Math.max(...results.map((r) => r.stats.gc.maxMs ?? 0), paced.gc.maxMs ?? 0),
          unit: 'ms',
          note: 'longest single pause, saturated and paced',
        },
        { name: 'rss before', value: before.rss / MiB, unit: 'MiB', note: 'after warm-up, after GC' },
        { name: 'rss peak', value: peak / MiB, unit: 'MiB' },
        { name: 'rss after', value: after.rss / MiB, unit: 'MiB', note: 'after GC' },
        {
          name: 'heap used after',
          value: after.heapUsed / MiB,
          unit: 'MiB',
          note: `after GC; trace store ${((t?.kept.bytes ?? 0) / MiB).toFixed(1)} of ${((t?.kept.budgetBytes ?? 0) / MiB).toFixed(0)} MiB budget`,
        },
        {
          name: 'rss growth over the phases',
          value: (last.stats.rss - results[0]!.stats.rss) / MiB,
          unit: 'MiB',
          note: 'bounded: the trace store evicts at its budget, the dedup table is fixed-size',
        },
      ];
      if (after.logged.error)
        m.push({
          name: 'control plane errors logged',
          value: after.logged.error,
          unit: 'lines',
          target: { op: '<=', value: 0 },
          note: after.logged.samples.join(' | '),
        });
      return m;
    } finally {
      for (const c of clients.values()) c.close();
      await cp.stop();
    }
  },
};
