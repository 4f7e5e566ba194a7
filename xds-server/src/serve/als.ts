// gRPC Access Log Service (envoy.service.accesslog.v3): receives Envoy's access-log streams and hands batches of
// entries, with the stream's identity, to a sink. Thin adapter: no attribution or learning here.
import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import type {
  AccessLogServiceServer,
  StreamAccessLogsMessage,
  StreamAccessLogsResponse,
} from '../../../proto/gen/envoy/service/accesslog/v3/als.js';
import type { HTTPAccessLogEntry, TCPAccessLogEntry } from '../../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import type { Logger } from '../util/logger.js';

/** Identity of an access-log stream, from its first message. */
export interface AlsStreamIdentity {
  readonly nodeId: string;
  readonly cluster: string;
  readonly logName: string;
}

export interface AlsSink {
  tcp(stream: AlsStreamIdentity, entries: readonly TCPAccessLogEntry[]): void;
  http(stream: AlsStreamIdentity, entries: readonly HTTPAccessLogEntry[]): void;
  /** entries that cannot be attributed at all (no identifier on the stream) */
  rejected(kind: string, count: number, detail: string): void;
  streamOpened?(): void;
  streamClosed?(): void;
}

export interface AccessLogServiceOptions {
  /** longest a burst of ingest holds the event loop before yielding (ms) */
  readonly budgetMs?: number;
  /** queued entries above which streams are paused (gRPC flow control pushes back on Envoy) */
  readonly highWater?: number;
  /** queued entries below which paused streams resume */
  readonly lowWater?: number;
}

interface Batch {
  readonly id: AlsStreamIdentity;
  readonly kind: 'tcp' | 'http';
  readonly entries: readonly (TCPAccessLogEntry | HTTPAccessLogEntry)[];
}

/**
 * Messages are queued and handed to the sink in slices of at most `budgetMs` (2 ms), yielding to the event loop between
 * slices, so a flood of access logs never starves ADS pushes or timers. When the queue passes `highWater`
 * entries, streams are paused (HTTP/2 flow control then slows the senders: nothing is dropped) until it drains
 * below `lowWater`.
 */
export class AccessLogService {
  private readonly queue: Batch[] = [];
  private head = 0;
  private queued = 0;
  private scheduled = false;
  private readonly paused = new Set<ServerReadableStream<StreamAccessLogsMessage, StreamAccessLogsResponse>>();
  private readonly budgetMs: number;
  private readonly highWater: number;
  private readonly lowWater: number;

  constructor(private readonly sink: AlsSink, private readonly log: Logger, opts: AccessLogServiceOptions = {}) {
    this.budgetMs = opts.budgetMs ?? 2;
    this.highWater = opts.highWater ?? 10_000;
    this.lowWater = opts.lowWater ?? 2_000;
  }

  /** entries waiting to be processed */
  get backlog(): number {
    return this.queued;
  }

  handlers(): AccessLogServiceServer {
    return { streamAccessLogs: (call, callback) => this.stream(call, callback) };
  }

  private stream(call: ServerReadableStream<StreamAccessLogsMessage, StreamAccessLogsResponse>, callback: sendUnaryData<StreamAccessLogsResponse>): void {
    let id: AlsStreamIdentity | undefined;
    let done = false;
    this.sink.streamOpened?.();
    const finish = (): void => {
      if (done) return;
      done = true;
      this.paused.delete(call);
      this.sink.streamClosed?.();
    };
    call.on('data', (m: StreamAccessLogsMessage) => {
      if (m.identifier) {
        const node = m.identifier.node;
        id = { nodeId: node?.id ?? '', cluster: node?.cluster ?? '', logName: m.identifier.logName ?? '' };
      }
      const tcp = m.tcpLogs?.logEntry ?? [];
      const http = m.httpLogs?.logEntry ?? [];
      if (!id || !id.nodeId) {
        const n = tcp.length + http.length;
        if (n > 0) this.sink.rejected('no-identifier', n, 'access-log stream without node identifier in its first message');
        return;
      }
      if (tcp.length) this.enqueue({ id, kind: 'tcp', entries: tcp });
      if (http.length) this.enqueue({ id, kind: 'http', entries: http });
      if (this.queued > this.highWater && !this.paused.has(call)) {
        this.paused.add(call);
        call.pause();
      }
    });
    call.on('error', (e) => {
      this.log.debug({ err: e.message, node: id?.nodeId }, 'access-log stream error');
      finish();
    });
    call.on('end', () => {
      finish();
      callback(null, {});
    });
  }

  private enqueue(b: Batch): void {
    this.queue.push(b);
    this.queued += b.entries.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Processes queued batches for at most budgetMs, then yields. */
  private drain(): void {
    this.scheduled = false;
    const end = performance.now() + this.budgetMs;
    while (this.head < this.queue.length) {
      const b = this.queue[this.head++]!;
      this.queued -= b.entries.length;
      try {
        if (b.kind === 'tcp') this.sink.tcp(b.id, b.entries as TCPAccessLogEntry[]);
        else this.sink.http(b.id, b.entries as HTTPAccessLogEntry[]);
      } catch (e) {
        // The sink never throws by design; if it does, drop this batch, keep serving.
        this.log.error({ err: e }, 'access-log batch failed');
      }
      if (performance.now() > end) break;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.queued < this.lowWater && this.paused.size > 0) {
      for (const c of this.paused) c.resume();
      this.paused.clear();
    }
    if (this.head < this.queue.length && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}
