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

export class AccessLogService {
  constructor(private readonly sink: AlsSink, private readonly log: Logger) {}

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
      this.sink.streamClosed?.();
    };
    call.on('data', (m: StreamAccessLogsMessage) => {
      try {
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
        if (tcp.length) this.sink.tcp(id, tcp);
        if (http.length) this.sink.http(id, http);
      } catch (e) {
        // The sink never throws by design; if it does, drop this batch, keep the stream.
        this.log.error({ err: e }, 'access-log batch failed');
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
}
