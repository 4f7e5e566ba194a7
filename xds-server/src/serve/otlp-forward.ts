// `serve --otlp-forward HOST:PORT`: every trace export the receiver accepted goes on, as received, to the collector
// the user already runs (Jaeger, Tempo, an OpenTelemetry Collector) over OTLP/gRPC. Bounded: at most MAX_QUEUED
// exports (and MAX_QUEUED_BYTES) wait, one in flight at a time; when the collector is down or slow the oldest are
// dropped and counted, logged once a minute. Never blocks or fails the receiver.
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import { OncePerKind, type Logger } from '../util/logger.js';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const MAX_QUEUED = 256;
const MAX_QUEUED_BYTES = 32 * 2 ** 20;
const TIMEOUT_MS = 5000;

export interface ForwardStats {
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
}

export class OtlpForwarder {
  readonly stats: ForwardStats = { sent: 0, failed: 0, dropped: 0, queued: 0 };
  private readonly client: Client;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private inFlight = false;
  private stopped = false;
  private readonly once: OncePerKind;

  constructor(
    readonly target: string,
    log: Logger,
  ) {
    this.client = new Client(target, credentials.createInsecure());
    this.once = new OncePerKind(log, 60_000);
  }

  /** Queues one encoded ExportTraceServiceRequest. */
  forward(body: Buffer): void {
    if (this.stopped) return;
    this.queue.push(body);
    this.queuedBytes += body.length;
    while (this.queue.length > MAX_QUEUED || this.queuedBytes > MAX_QUEUED_BYTES) {
      const old = this.queue.shift()!;
      this.queuedBytes -= old.length;
      this.stats.dropped++;
      this.once.warn('otlp-forward-drop', { target: this.target }, 'trace forwarding queue full; oldest dropped');
    }
    this.stats.queued = this.queue.length;
    this.next();
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.client.close();
  }

  private next(): void {
    if (this.inFlight || this.stopped) return;
    const body = this.queue.shift();
    if (body === undefined) return;
    this.queuedBytes -= body.length;
    this.stats.queued = this.queue.length;
    this.inFlight = true;
    this.client.makeUnaryRequest(
      EXPORT_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new Metadata(),
      { deadline: Date.now() + TIMEOUT_MS },
      (err) => {
        this.inFlight = false;
        if (err) {
          this.stats.failed++;
          this.once.warn('otlp-forward-fail', { target: this.target, err: err.message }, 'cannot forward traces');
        } else this.stats.sent++;
        this.next();
      },
    );
  }
}
