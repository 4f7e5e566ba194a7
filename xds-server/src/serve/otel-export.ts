// The tracing seam's OTLP adapter (util/tracing.ts): the control plane's own spans with opentelemetry-js, exported over
// OTLP/gRPC (plaintext) to `serve --otlp-endpoint HOST:PORT`. Loaded only by a dynamic import when that flag is set;
// nothing else imports @opentelemetry. Node 20 pins the line: @opentelemetry/api 1.9, the 2.12 SDK packages and the
// 0.223 exporter are the last that run on it (newer ones need Node ≥ 22).
//
// Bounded: at most QUEUE_SPANS ended spans wait or are in flight; past that a span is dropped and counted. A collector
// that is down costs counted export failures (logged once a minute), never memory or a crash.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import {
  ROOT_CONTEXT,
  SpanKind as OtelKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span as OtelSpan,
} from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { projectRoot } from '../util/envoy.js';
import { OncePerKind, type Logger } from '../util/logger.js';
import type { Attributes, Span, SpanOptions, Tracer } from '../util/tracing.js';
import { withDeadline } from '../util/deadline.js';

export const SERVICE_NAME = 'nanoseg-control-plane';
/** ended spans waiting for export or in flight, at most */
export const QUEUE_SPANS = 2048;
/** an export of 512 spans serializes for ≈ 15-20 ms on the event loop (≈ 38 µs a span here); 128 keeps it ≈ 5 ms */
const BATCH_SPANS = 128;
const EXPORT_DELAY_MS = 1000;
const EXPORT_TIMEOUT_MS = 10_000;
/** how long stop() waits for the last spans to go out */
const SHUTDOWN_WAIT_MS = 2000;

export interface OtlpTracingOptions {
  /** HOST:PORT of an OTLP/gRPC collector (plaintext) */
  readonly endpoint: string;
  readonly logger: Logger;
  /** default: this package's version */
  readonly serviceVersion?: string;
  /** this control plane's identity: its store id (`service.instance.id`) */
  readonly instanceId: string;
  /** tests: export sooner than once a second */
  readonly exportDelayMs?: number;
}

export interface OtlpTracingStats {
  /** spans handed to the exporter, waiting or in flight */
  queued: number;
  exported: number;
  /** spans in exports the collector did not take (down, refused, timed out) */
  failed: number;
  /** spans dropped because QUEUE_SPANS were waiting already */
  dropped: number;
}

class OtelSpanRef implements Span {
  readonly recording = true;
  private ended = false;
  constructor(readonly span: OtelSpan) {}
  setAttributes(a: Attributes): void {
    this.span.setAttributes(a);
  }
  addEvent(name: string, a?: Attributes): void {
    this.span.addEvent(name, a);
  }
  fail(message: string): void {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }
}

export class OtlpTracing implements Tracer {
  readonly enabled = true;
  readonly stats: OtlpTracingStats = { queued: 0, exported: 0, failed: 0, dropped: 0 };
  private readonly provider: BasicTracerProvider;
  private readonly tracer;
  /**
   * The active span while a `with` runs synchronously. Not an AsyncLocalStorage: that turns on async hooks for every
   * promise and stream in the process, a cost paid by all of ingest, not just by what is traced.
   */
  private current: OtelSpanRef | undefined;
  private readonly once: OncePerKind;
  private stopped = false;

  get endpoint(): string {
    return this.opts.endpoint;
  }

  constructor(private readonly opts: OtlpTracingOptions) {
    this.once = new OncePerKind(opts.logger, 60_000);
    const version = opts.serviceVersion ?? packageVersion();
    const exporter = new OTLPTraceExporter({
      url: `http://${opts.endpoint}`,
      credentials: credentials.createInsecure(),
      timeoutMillis: EXPORT_TIMEOUT_MS,
    });
    const batches = new BatchSpanProcessor(this.counting(exporter), {
      maxQueueSize: QUEUE_SPANS,
      maxExportBatchSize: BATCH_SPANS,
      scheduledDelayMillis: opts.exportDelayMs ?? EXPORT_DELAY_MS,
      exportTimeoutMillis: EXPORT_TIMEOUT_MS,
    });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': SERVICE_NAME,
        'service.version': version,
        'service.instance.id': opts.instanceId,
        'host.name': hostname(),
        'process.pid': process.pid,
        'process.runtime.name': 'nodejs',
        'process.runtime.version': process.versions.node,
      }),
      spanLimits: { attributeValueLengthLimit: 1024, eventCountLimit: 32, linkCountLimit: 16 },
      spanProcessors: [this.bounded(batches)],
    });
    this.tracer = this.provider.getTracer(SERVICE_NAME, version);
  }

  start(name: string, o: SpanOptions = {}): Span {
    const parent = o.parent ?? (o.root ? undefined : this.current);
    const ctx: Context = parent instanceof OtelSpanRef ? trace.setSpan(ROOT_CONTEXT, parent.span) : ROOT_CONTEXT;
    const links = o.links?.flatMap((l) => (l instanceof OtelSpanRef ? [{ context: l.span.spanContext() }] : []));
    const span = this.tracer.startSpan(
      name,
      {
        kind: o.kind === 'server' ? OtelKind.SERVER : OtelKind.INTERNAL,
        ...(o.attributes && { attributes: o.attributes }),
        ...(links?.length && { links }),
        root: !(parent instanceof OtelSpanRef),
      },
      ctx,
    );
    return new OtelSpanRef(span);
  }

  with<T>(span: Span, fn: () => T): T {
    if (!(span instanceof OtelSpanRef)) return fn();
    const outer = this.current;
    this.current = span;
    try {
      return fn();
    } finally {
      this.current = outer;
    }
  }

  active(): Span | undefined {
    return this.current;
  }

  /** Exports what is queued, waiting at most SHUTDOWN_WAIT_MS (a collector that is down never holds a stop up). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await withDeadline(
      this.provider.shutdown().catch(() => undefined),
      SHUTDOWN_WAIT_MS,
      { unref: true },
    );
  }

  /** Counts what the exporter delivered or lost; the queue bound is released when an export ends either way. */
  private counting(inner: SpanExporter): SpanExporter {
    return {
      export: (spans: ReadableSpan[], done: (r: ExportResult) => void): void => {
        inner.export(spans, (r) => {
          this.stats.queued -= spans.length;
          if (r.code === ExportResultCode.SUCCESS) this.stats.exported += spans.length;
          else {
            this.stats.failed += spans.length;
            this.once.warn(
              'otlp-export',
              { endpoint: this.opts.endpoint, err: r.error?.message ?? 'export failed', spans: spans.length },
              'control-plane traces: the collector did not take an export; its spans are dropped and counted (logged once a minute)',
            );
          }
          done(r);
        });
      },
      shutdown: () => inner.shutdown(),
      forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    };
  }

  /** Hands an ended span to the batches only while fewer than QUEUE_SPANS wait, so the batches never drop on their own. */
  private bounded(inner: SpanProcessor): SpanProcessor {
    return {
      onStart: (span, ctx) => inner.onStart(span, ctx),
      onEnd: (span) => {
        if (this.stats.queued >= QUEUE_SPANS) {
          this.stats.dropped++;
          this.once.warn(
            'otlp-queue-full',
            { endpoint: this.opts.endpoint, queued: this.stats.queued, dropped: this.stats.dropped },
            `control-plane traces: ${QUEUE_SPANS} spans wait for the collector already; new ones are dropped and counted (logged once a minute)`,
          );
          return;
        }
        this.stats.queued++;
        inner.onEnd(span);
      },
      forceFlush: () => inner.forceFlush(),
      shutdown: () => inner.shutdown(),
    };
  }
}

function packageVersion(): string {
  try {
    return (
      (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? ''
    );
  } catch {
    return '';
  }
}
