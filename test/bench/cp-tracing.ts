// The cost of the control plane's own traces (`serve --otlp-endpoint`): the als-ingest run (saturated phases and the
// paced 50k entries/s phase, each against a fresh child) without and with the flag, alternated off on on off, the
// spans going to the minimal OTLP receiver (test/support/otlp-receiver.ts) in this process. Each ALS message is one
// `ingest.batch` span, so this is the busiest span source there is.
import type { Benchmark, Metric } from './types.js';
import { mergeAb } from './trees.js';
import { measure } from './als-ingest.js';
import { pinSelf } from './child.js';
import { MinimalOtlpReceiver } from '../support/otlp-receiver.js';
import { OtlpTracing } from '../../xds-server/src/serve/otel-export.js';
import { SILENT } from '../../xds-server/src/util/logger.js';
import { NOOP_TRACER, type Tracer } from '../../xds-server/src/util/tracing.js';

/**
 * CPU per span in this process, start to export: `n` spans shaped like `ingest.batch` (four attributes), 500 per
 * event-loop turn while fewer than 1,024 wait, until the exporter has sent them all (the receiver's work, in this
 * process too, is included).
 */
async function cpuPerSpan(tracer: Tracer, n: number, sent: () => number, backlog: () => number): Promise<number> {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i += 500) {
    // paced under the exporter's queue bound (2,048), so every span is exported and none is dropped
    while (backlog() > 1024) await new Promise((r) => setTimeout(r, 2));
    for (let j = 0; j < 500; j++) {
      const s = tracer.start('ingest.batch', {
        attributes: { 'nanoseg.ingest.source': 'envoy-als', 'nanoseg.ingest.flows': 64 },
      });
      tracer.with(s, () => s.setAttributes({ 'nanoseg.ingest.new_edges': 0, 'nanoseg.ingest.verdicts': 0 }));
      s.end();
    }
    await new Promise((r) => setImmediate(r));
  }
  const end = Date.now() + 20_000;
  while (sent() < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const d = process.cpuUsage(cpu0);
  return (d.user + d.system) / n;
}

const RATIOS: readonly { readonly name: string; readonly label: string }[] = [
  { name: 'entries/s', label: 'entries/s traced / untraced' },
  { name: 'cpu per entry', label: 'cpu per entry traced / untraced' },
  { name: 'event-loop delay p99 @50k/s paced', label: 'event-loop delay p99 @50k/s traced / untraced' },
];

export const cpTracing: Benchmark = {
  name: 'cp-tracing',
  description: 'als-ingest without and with --otlp-endpoint (own spans to a minimal OTLP receiver), alternated',
  async run({ quick, progress }) {
    pinSelf(0);
    const collector = new MinimalOtlpReceiver();
    await collector.start();
    const n = quick ? 20_000 : 100_000;
    const tracing = new OtlpTracing({
      endpoint: `127.0.0.1:${collector.port}`,
      logger: SILENT,
      instanceId: 'bench',
      exportDelayMs: 50,
    });
    const spanCpu = await cpuPerSpan(
      tracing,
      n,
      () => tracing.stats.exported + tracing.stats.failed + tracing.stats.dropped,
      () => tracing.stats.queued,
    );
    const spanStats = { ...tracing.stats };
    await tracing.stop();
    const noopCpu = await cpuPerSpan(
      NOOP_TRACER,
      n,
      () => n,
      () => 0,
    );
    collector.received.length = 0;
    progress(
      `cpu per span: ${spanCpu.toFixed(2)} µs traced, ${noopCpu.toFixed(3)} µs no-op; ${JSON.stringify(spanStats)}`,
    );
    const off: Metric[][] = [];
    const on: Metric[][] = [];
    let exports = 0;
    try {
      // quick (CI): off, on once each, so it stays short; full: off on on off
      const order = quick ? [false, true] : [false, true, true, false];
      for (const [i, traced] of order.entries()) {
        progress(`run ${i + 1}/${order.length}: ${traced ? 'with' : 'without'} --otlp-endpoint`);
        const before = collector.received.length;
        const m = await measure(quick, progress, undefined, traced ? `127.0.0.1:${collector.port}` : undefined);
        (traced ? on : off).push(m);
        if (traced) exports += collector.received.length - before;
        collector.received.length = 0;
      }
    } finally {
      collector.stop();
    }
    const merged = mergeAb(off, on);
    const ratios: Metric[] = RATIOS.flatMap(({ name, label }) => {
      const m = merged.find((x) => x.name === name);
      return m && m.old
        ? [
            {
              name: label,
              value: m.value / m.old,
              unit: '×',
              note: `${m.value.toFixed(1)} vs ${m.old.toFixed(1)} ${m.unit}, means of ${off.length} run(s) each`,
            },
          ]
        : [];
    });
    return [
      {
        name: 'cpu per span, traced',
        value: spanCpu,
        unit: 'µs',
        note: `${n} ingest.batch-shaped spans in process, start to exported (receiver included); ${spanStats.exported} exported, ${spanStats.dropped} dropped`,
      },
      { name: 'cpu per span, no-op tracer', value: noopCpu, unit: 'µs', note: 'the same loop without --otlp-endpoint' },
      ...ratios,
      {
        name: 'exports received (traced runs)',
        value: exports,
        unit: 'exports',
        note: 'OTLP requests at the receiver',
      },
      ...merged.map((m) => ({ ...m, name: `${m.name} (traced; old = untraced)` })),
    ];
  },
};
