// OTLP/gRPC trace receiver (opentelemetry.proto.collector.trace.v1.TraceService/Export) on the control plane's gRPC
// server: takes the sidecars' span exports, decodes them leanly (otlp-decode.ts) in budgeted slices, hands them with
// where they came from to a sink, and answers with `partial_success` counting what was refused. Thin adapter: no
// attribution or learning here.
import type { ServerUnaryCall, ServiceDefinition, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import {
  TraceServiceService,
  type ExportTraceServiceResponse,
} from '../../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service.js';
import type { DecodedTraceExport } from '../model/span.js';
import type { Logger } from '../util/logger.js';
import { countSpans, decodeTraceExport } from './otlp-decode.js';
import type { AuthorizeCall } from '../auth/decide.js';

/**
 * Where an export came from: the exporter's own address as Envoy's gRPC client states it (`x-forwarded-for`, Envoy's
 * local address: a sidecar's pod address), and the transport peer (a unix socket says nothing more).
 */
export interface TraceCaller {
  readonly localAddress: string | undefined;
  readonly peer: string;
  /**
   * The authenticated listener's check: may this call speak as `nodeId`? Absent on the lab's socket. An export whose
   * node the call may not be is refused whole.
   */
  readonly authorize?: (nodeId: string) => { readonly ok: true } | { readonly ok: false; readonly detail: string };
}

export interface TraceSink {
  /**
   * One decoded export (and its bytes, as received); returns how many of its spans were refused, with the first
   * reason. Never throws.
   */
  export(caller: TraceCaller, batch: DecodedTraceExport, raw: Buffer): { rejected: number; reason?: string };
  /** Spans refused before attribution (a whole export too large or overloaded, spans that do not decode) */
  refused(kind: string, spans: number, detail: string): void;
}

export interface TraceServiceOptions {
  /** An export larger than this is refused whole with partial_success (default 4 MiB, OTLP's usual limit). */
  readonly maxExportBytes?: number;
  /** Exports waiting to be decoded, in bytes, above which new ones are refused whole (default 32 MiB). */
  readonly maxQueuedBytes?: number;
  /** longest a burst of decoding holds the event loop before yielding (ms) */
  readonly budgetMs?: number;
}

type Call = ServerUnaryCall<Buffer, ExportTraceServiceResponse>;
type Callback = sendUnaryData<ExportTraceServiceResponse>;

interface Pending {
  readonly caller: TraceCaller;
  readonly message: Buffer;
  readonly callback: Callback;
}

/** The service definition with the request left encoded: decoding happens in the budgeted slices. */
export const RAW_TRACE_SERVICE: ServiceDefinition = {
  export: { ...TraceServiceService.export, requestDeserialize: (b: Buffer): Buffer => b },
} as unknown as ServiceDefinition;

export const DEFAULT_MAX_EXPORT_BYTES = 4 * 2 ** 20;

/** The response: partial_success only when something was refused (the OTLP specification's rule). */
export function exportResponse(rejected: number, message: string | undefined): ExportTraceServiceResponse {
  return rejected > 0
    ? { partialSuccess: { rejectedSpans: rejected, errorMessage: message ?? '' } }
    : { partialSuccess: undefined };
}

export class TraceService {
  private readonly queue: Pending[] = [];
  private head = 0;
  private queuedBytes = 0;
  private scheduled = false;
  private readonly maxExport: number;
  private readonly maxQueued: number;
  private readonly budgetMs: number;

  constructor(
    private readonly sink: TraceSink,
    private readonly log: Logger,
    opts: TraceServiceOptions = {},
  ) {
    this.maxExport = opts.maxExportBytes ?? DEFAULT_MAX_EXPORT_BYTES;
    this.maxQueued = opts.maxQueuedBytes ?? 32 * 2 ** 20;
    this.budgetMs = opts.budgetMs ?? 2;
  }

  /** Encoded bytes waiting to be decoded. */
  get backlogBytes(): number {
    return this.queuedBytes;
  }

  /** Handlers for RAW_TRACE_SERVICE; `authorize`: the authenticated listener's check of the node an export names. */
  handlers(authorize?: AuthorizeCall): UntypedServiceImplementation {
    return { export: (call: Call, callback: Callback) => this.receive(call, callback, authorize) };
  }

  private receive(call: Call, callback: Callback, authorize?: AuthorizeCall): void {
    const message = call.request;
    const xff = call.metadata.get('x-forwarded-for')[0];
    const caller: TraceCaller = {
      localAddress: typeof xff === 'string' && xff !== '' ? xff.split(',')[0]!.trim() : undefined,
      peer: call.getPeer(),
      ...(authorize && { authorize: (nodeId: string) => authorize(call, nodeId) }),
    };
    const refuse = (kind: string, detail: string): void => {
      const n = countSpans(message);
      this.sink.refused(kind, n, detail);
      callback(null, exportResponse(Math.max(n, 1), detail));
    };
    if (!Buffer.isBuffer(message)) return refuse('malformed', 'export request is not bytes');
    if (message.length > this.maxExport) {
      return refuse('oversized', `export of ${message.length} bytes is over the ${this.maxExport}-byte bound`);
    }
    if (this.queuedBytes + message.length > this.maxQueued) {
      return refuse('overloaded', `receiver backlog over ${this.maxQueued} bytes; export refused`);
    }
    this.queue.push({ caller, message, callback });
    this.queuedBytes += message.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private process(p: Pending): void {
    const batch = decodeTraceExport(p.message);
    let rejected = batch.invalid;
    let reason = batch.invalidReason;
    if (batch.invalid > 0) this.sink.refused('malformed', batch.invalid, reason ?? 'malformed span');
    try {
      const r = this.sink.export(p.caller, batch, p.message);
      rejected += r.rejected;
      reason ??= r.reason;
    } catch (e) {
      // The sink never throws by design; if it does, the spans are refused and the server keeps serving.
      this.log.error({ err: e }, 'trace export failed');
      rejected = batch.invalid + batch.resources.reduce((a, r) => a + r.spans.length, 0);
      reason ??= 'internal error';
    }
    p.callback(null, exportResponse(rejected, reason));
  }

  /** Decodes queued exports for at most budgetMs, then yields. */
  private drain(): void {
    this.scheduled = false;
    const end = performance.now() + this.budgetMs;
    while (this.head < this.queue.length) {
      const p = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Pending; // let the bytes go
      this.queuedBytes -= p.message.length;
      this.process(p);
      if (performance.now() > end) break;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.head < this.queue.length && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}
