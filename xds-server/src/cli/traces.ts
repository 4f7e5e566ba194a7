// `nanoseg traces` (recent traces, filtered) and `nanoseg trace ID` (one trace as a tree of hops), through the API.
import type { Command } from 'commander';
import type { TraceView } from '../api/routes.js';
import { traceTree, type TraceSummary } from '../traces/index.js';
import { parseDuration } from '../util/duration.js';
import { CliError } from './client.js';
import { context } from './context.js';
import { printData, table } from './output.js';

export function registerTraces(program: Command): void {
  program
    .command('traces')
    .description('recent traces the sidecars sent (newest first): slow ones, failed ones, by service')
    .option('--service <service>', 'only traces with a hop of this service (namespace/name)')
    .option('--errors', 'only traces with an error (5xx, error status, or a denied hop)', false)
    .option('--slower-than <duration>', 'only traces that took longer (e.g. 250ms, 2s)')
    .option('--limit <n>', 'at most this many', '100')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (o: { service?: string; errors: boolean; slowerThan?: string; limit: string }, cmd: Command) => {
      const { api, output } = context(cmd);
      const q = new URLSearchParams();
      if (o.service !== undefined) {
        if (!/^[^/\s]+\/[^/\s]+$/.test(o.service))
          throw new CliError(`--service "${o.service}": expected namespace/name`, 2);
        q.set('service', o.service);
      }
      if (o.errors) q.set('errors', '1');
      if (o.slowerThan !== undefined) {
        const d = parseDuration(o.slowerThan);
        if (!d.ok) throw new CliError(`--slower-than: ${d.error}`, 2);
        q.set('slowerThanMs', String(d.ms));
      }
      q.set('limit', o.limit);
      const list = await api.call<TraceSummary[]>('GET', `/v1/traces?${q}`);
      if (output !== 'table') return printData(output, list);
      if (list.length === 0) return void process.stdout.write('no traces\n');
      process.stdout.write(
        table(
          ['TRACE', 'ROOT SERVICE', 'START', 'DURATION', 'ERROR'],
          list.map((t) => [t.traceId, t.rootService, t.startTime, `${t.durationMs} ms`, t.error ? 'yes' : '-']),
        ),
      );
    });

  program
    .command('trace')
    .description("one trace as a tree of hops: each hop's service, workload, peer, duration, status and verdict")
    .argument('<id>', 'the trace id (32 hex digits)')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (id: string, _o, cmd: Command) => {
      const { api, output } = context(cmd);
      if (!/^[0-9a-fA-F]{32}$/.test(id)) throw new CliError(`trace id "${id}": expected 32 hex digits`, 2);
      const t = await api.call<TraceView>('GET', `/v1/traces/${id}`);
      if (output !== 'table') return printData(output, t.spans);
      const s = t.trace;
      process.stdout.write(
        `trace ${s.traceId}  ${s.rootService}  ${s.startTime}  ${s.durationMs} ms${s.error ? '  ERROR' : ''}\n`,
      );
      process.stdout.write(traceTree(t.spans, new Map(Object.entries(t.kinds))));
    });
}
