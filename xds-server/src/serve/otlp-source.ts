// OTLP spans as an ObservationSource: the trace receiver (otlp.ts) delivers decoded exports; exportNode() says which
// sidecar sent one, and learn/spans.ts attributes each of its spans to that node against the current identity index; accepted spans go to the
// bounded trace store (traces/store.ts) and those that say enough about their edge feed learning as ObservedFlows
// (deduplicated with the access logs of the same request by the learner).
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { IdentityIndex } from '../inventory/identity.js';
import type { ObservationSink, ObservationSource } from '../learn/source.js';
import { fromSpan, parseHostPort } from '../learn/spans.js';
import type { DecodedTraceExport, ObservedFlow, ServiceName } from '../model/index.js';
import { TraceStore } from '../traces/store.js';
import { OncePerKind, type Logger } from '../util/logger.js';
import type { AuthorizeCall } from '../auth/decide.js';
import { TraceService, type TraceCaller, type TraceServiceOptions } from './otlp.js';

export interface OtlpSourceOptions extends TraceServiceOptions {
  /** the trace store's budget (`serve --trace-buffer MIB`, default 64 MiB) */
  readonly bufferBytes?: number;
  /** every export with accepted spans, as received, for an external collector (`--otlp-forward`) */
  readonly forward?: (raw: Buffer) => void;
  /** whether a service's sidecar can log a verdict now (monitor, enforce): only its spans are joined to verdicts */
  readonly decides?: (service: ServiceName) => boolean;
}

export interface OtlpStats {
  exports: number;
  accepted: number;
  rejected: number;
  hugeAttributes: number;
}

export const DEFAULT_TRACE_BUFFER_BYTES = 64 * 2 ** 20;

/** Kinds of refused spans as counted by ingest (prefixed, so they never mix with access-log kinds). */
const kind = (k: string): string => `span-${k}`;

export class OtlpTraceSource implements ObservationSource {
  readonly name = 'otlp';
  readonly store: TraceStore;
  readonly stats: OtlpStats = { exports: 0, accepted: 0, rejected: 0, hugeAttributes: 0 };
  private sink: ObservationSink | undefined;
  private readonly service: TraceService;
  private readonly once: OncePerKind;

  constructor(
    private readonly index: () => IdentityIndex,
    log: Logger,
    private readonly opts: OtlpSourceOptions = {},
  ) {
    this.store = new TraceStore(opts.bufferBytes ?? DEFAULT_TRACE_BUFFER_BYTES, opts.decides);
    this.once = new OncePerKind(log, 60_000);
    this.service = new TraceService(
      {
        export: (caller, batch, raw) => this.export(caller, batch, raw),
        refused: (k, n, detail) => {
          this.stats.rejected += n;
          this.sink?.rejected(kind(k), n, detail);
        },
      },
      log,
      opts,
    );
  }

  /** For `server.addService(RAW_TRACE_SERVICE, source.handlers())`; `authorize`: the authenticated listener's. */
  handlers(authorize?: AuthorizeCall): UntypedServiceImplementation {
    return this.service.handlers(authorize);
  }

  get backlogBytes(): number {
    return this.service.backlogBytes;
  }

  async start(sink: ObservationSink): Promise<void> {
    this.sink = sink;
  }

  async stop(): Promise<void> {
    this.sink = undefined;
  }

  private export(caller: TraceCaller, batch: DecodedTraceExport, raw: Buffer): { rejected: number; reason?: string } {
    this.stats.exports++;
    let total = 0;
    for (const r of batch.resources) total += r.spans.length;
    if (batch.hugeAttributes > 0) {
      this.stats.hugeAttributes += batch.hugeAttributes;
      this.once.warn('span-huge-attribute', { count: batch.hugeAttributes }, 'span attributes cut');
    }
    const index = this.index();
    const who = exportNode(batch, caller, index);
    if (!who.ok) {
      this.stats.rejected += total;
      if (total > 0) this.sink?.rejected(kind(who.kind), total, who.detail, who.node);
      return { rejected: total, reason: who.detail };
    }
    const node = who.node;
    const flows: ObservedFlow[] = [];
    let rejected = 0;
    let reason: string | undefined;
    for (const r of batch.resources) {
      for (const span of r.spans) {
        const res = fromSpan(span, node, index);
        if (!res.ok) {
          rejected++;
          reason ??= res.detail;
          this.sink?.rejected(kind(res.kind), 1, res.detail, node);
          continue;
        }
        this.store.add(span, res.facts);
        if (res.obs) flows.push({ obs: res.obs });
      }
    }
    this.stats.accepted += total - rejected;
    this.stats.rejected += rejected;
    if (flows.length) this.sink?.observe(flows);
    if (total > rejected) this.opts.forward?.(raw);
    return reason !== undefined ? { rejected, reason } : { rejected };
  }
}

/**
 * The node an export comes from. Envoy's tracer buffers only its own spans, so one export is one sidecar's: its node
 * is the `node_id` Envoy writes into every span from its bootstrap (the first span that has one), and the address
 * its gRPC client states (`x-forwarded-for`, the sidecar's own address), when it is a workload's, must be that
 * node's workload's. Never a span's `service.name`. On the authenticated listener the node must be the caller's own pod
 * (`caller.authorize`), or the whole export is refused. Spans of the export naming another node are refused one by one
 * (learn/spans.ts).
 */
export function exportNode(
  batch: DecodedTraceExport,
  caller: TraceCaller,
  index: IdentityIndex,
): { ok: true; node: string } | { ok: false; kind: string; detail: string; node?: string } {
  let node: string | undefined;
  for (const r of batch.resources) {
    for (const s of r.spans) {
      const n = s.attributes.node_id;
      if (n) {
        node = n;
        break;
      }
    }
    if (node !== undefined) break;
  }
  if (node === undefined) {
    return { ok: false, kind: 'no-identifier', detail: 'trace export whose spans name no node (node_id)' };
  }
  const allowed = caller.authorize?.(node);
  if (allowed && !allowed.ok) return { ok: false, kind: 'foreign-node', detail: allowed.detail, node };
  const me = index.workloadByNodeId(node);
  if (me === undefined) return { ok: false, kind: 'unknown-reporter', detail: `node ${node} is in no inventory`, node };
  const from = caller.localAddress !== undefined ? parseHostPort(caller.localAddress) : undefined;
  const sender = from !== undefined ? index.workloadAt(from.ip) : undefined;
  if (sender !== undefined && sender.workload !== me.workload) {
    return {
      ok: false,
      kind: 'foreign-span',
      detail: `trace export from ${sender.workload} (${from!.ip}) names node ${node}`,
      node,
    };
  }
  return { ok: true, node };
}
