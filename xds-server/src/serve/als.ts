// gRPC Access Log Service (envoy.service.accesslog.v3): receives Envoy's access-log streams and hands decoded
// batches of entries, with the stream's identity, to a sink. Thin adapter: no attribution or learning here.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type {
  ServerReadableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import {
  AccessLogServiceService,
  type StreamAccessLogsResponse,
} from '../../../proto/gen/envoy/service/accesslog/v3/als.js';
import type { AccessLogStream, HttpLogEntry, TcpLogEntry } from '../model/index.js';
import type { Logger } from '../util/logger.js';
import { decodeAlsMessage, type DecodedAlsMessage } from './als-decode.js';
import type { AuthorizeCall } from '../auth/decide.js';

export interface AlsSink {
  tcp(stream: AccessLogStream, entries: readonly TcpLogEntry[]): void;
  http(stream: AccessLogStream, entries: readonly HttpLogEntry[]): void;
  /** entries that cannot be attributed at all (no identifier on the stream), or a message that does not decode */
  rejected(kind: string, count: number, detail: string): void;
  streamOpened?(): void;
  streamClosed?(): void;
}

export interface AccessLogServiceOptions {
  /** longest a burst of ingest holds the event loop before yielding (ms) */
  readonly budgetMs?: number;
  /** queued bytes (encoded messages) above which streams are paused (gRPC flow control pushes back on Envoy) */
  readonly highWaterBytes?: number;
  /** queued bytes below which paused streams resume */
  readonly lowWaterBytes?: number;
}

type Call = ServerReadableStream<Buffer, StreamAccessLogsResponse>;

/** paused streams resumed per ingest slice */
const RESUME_PER_SLICE = 8;

/** One access-log stream: who it is (from its first message, set when that message is decoded). */
interface Stream {
  readonly call: Call;
  id: AccessLogStream | undefined;
  readonly authorize: AuthorizeCall | undefined;
  /** refused (it spoke as another node): every later message is dropped and counted */
  refused: boolean;
  /** ends the call (once) */
  readonly end: (e: { code: GrpcStatus; details: string } | null) => void;
}

interface Pending {
  readonly stream: Stream;
  readonly message: Buffer;
}

/**
 * The ALS service definition with the request left encoded: messages are decoded in the ingest slices, not in
 * grpc-js's read callback, so decode cost is budgeted like the rest of ingest and a backlog is held as compact
 * bytes rather than as decoded objects.
 */
export const RAW_ACCESS_LOG_SERVICE: ServiceDefinition = {
  streamAccessLogs: { ...AccessLogServiceService.streamAccessLogs, requestDeserialize: (b: Buffer): Buffer => b },
} as unknown as ServiceDefinition;

/**
 * Messages are queued encoded and handed to the sink, decoded, in slices of at most `budgetMs` (2 ms), yielding to
 * the event loop between slices, so a flood of access logs never starves ADS pushes or timers. When the queue
 * passes `highWaterBytes`, streams are paused (HTTP/2 flow control then slows the senders: nothing is dropped)
 * until it drains below `lowWaterBytes`. A message that does not decode is counted as rejected ("malformed") and
 * the stream goes on.
 */
export class AccessLogService {
  private readonly queue: Pending[] = [];
  private head = 0;
  private queuedBytes = 0;
  private scheduled = false;
  private readonly paused = new Set<Call>();
  private readonly budgetMs: number;
  private readonly highWater: number;
  private readonly lowWater: number;

  constructor(
    private readonly sink: AlsSink,
    private readonly log: Logger,
    opts: AccessLogServiceOptions = {},
  ) {
    this.budgetMs = opts.budgetMs ?? 2;
    this.highWater = opts.highWaterBytes ?? 4 * 2 ** 20;
    this.lowWater = opts.lowWaterBytes ?? 2 ** 20;
  }

  /** encoded bytes waiting to be processed */
  get backlogBytes(): number {
    return this.queuedBytes;
  }

  /**
   * Handlers for RAW_ACCESS_LOG_SERVICE. With `authorize` (the authenticated listener's), a stream whose identifier
   * names a node the call may not speak as is refused whole: its entries are counted as rejected
   * ("foreign-node"), never learned from, and the stream is ended with PERMISSION_DENIED.
   */
  handlers(authorize?: AuthorizeCall): UntypedServiceImplementation {
    return {
      streamAccessLogs: (call: Call, callback: sendUnaryData<StreamAccessLogsResponse>) =>
        this.stream(call, callback, authorize),
    };
  }

  private stream(call: Call, callback: sendUnaryData<StreamAccessLogsResponse>, authorize?: AuthorizeCall): void {
    let answered = false;
    const end = (e: { code: GrpcStatus; details: string } | null): void => {
      if (answered) return;
      answered = true;
      if (e) callback(e);
      else callback(null, {});
    };
    const stream: Stream = { call, id: undefined, authorize, refused: false, end };
    let done = false;
    this.sink.streamOpened?.();
    const finish = (): void => {
      if (done) return;
      done = true;
      this.paused.delete(call);
      this.sink.streamClosed?.();
    };
    call.on('data', (message: Buffer) => {
      this.queue.push({ stream, message });
      this.queuedBytes += message.length;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.drain());
      }
      if (this.queuedBytes > this.highWater && !this.paused.has(call)) {
        this.paused.add(call);
        call.pause();
      }
    });
    call.on('error', (e) => {
      this.log.debug({ err: e.message, node: stream.id?.nodeId }, 'access-log stream error');
      finish();
    });
    call.on('end', () => {
      finish();
      end(null);
    });
  }

  /** Decodes one message and hands its entries to the sink. */
  private process(p: Pending): void {
    let m: DecodedAlsMessage;
    try {
      m = decodeAlsMessage(p.message);
    } catch (e) {
      this.sink.rejected('malformed', 1, `access-log message does not decode: ${(e as Error).message}`);
      return;
    }
    const s = p.stream;
    const { tcp, http } = m;
    if (s.refused) {
      if (tcp.length + http.length > 0)
        this.sink.rejected('foreign-node', tcp.length + http.length, 'access logs of a refused stream');
      return;
    }
    if (m.identifier && s.authorize) {
      const d = s.authorize(s.call, m.identifier.nodeId);
      if (!d.ok) {
        s.refused = true;
        this.sink.rejected('foreign-node', Math.max(tcp.length + http.length, 1), d.detail);
        this.log.warn({ node: m.identifier.nodeId, reason: d.reason, detail: d.detail }, 'access-log stream refused');
        s.end({ code: GrpcStatus.PERMISSION_DENIED, details: `nanoseg: ${d.detail}` });
        return;
      }
    }
    if (m.identifier) s.id = m.identifier;
    const id = s.id;
    if (!id || !id.nodeId) {
      const n = tcp.length + http.length;
      if (n > 0)
        this.sink.rejected('no-identifier', n, 'access-log stream without node identifier in its first message');
      return;
    }
    if (tcp.length) this.sink.tcp(id, tcp);
    if (http.length) this.sink.http(id, http);
  }

  /** Processes queued messages for at most budgetMs, then yields. */
  private drain(): void {
    this.scheduled = false;
    const end = performance.now() + this.budgetMs;
    while (this.head < this.queue.length) {
      const p = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Pending; // let the bytes go
      this.queuedBytes -= p.message.length;
      try {
        this.process(p);
      } catch (e) {
        // The sink never throws by design; if it does, drop this message, keep serving.
        this.log.error({ err: e }, 'access-log message failed');
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
    if (this.queuedBytes < this.lowWater && this.paused.size > 0) {
      // a few at a time, longest paused first: each resumed stream delivers what HTTP/2 buffered for it (up to its
      // flow-control window) at once, and all of them together would hold the loop for tens of milliseconds
      let n = 0;
      for (const c of this.paused) {
        if (n++ === RESUME_PER_SLICE) break;
        this.paused.delete(c);
        c.resume();
      }
    }
    if ((this.head < this.queue.length || this.paused.size > 0) && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}
