// Envoy's access logs as an ObservationSource: the gRPC Access Log Service (als.ts) delivers decoded batches per
// stream, learn/envoy-flows.ts turns them into ObservedFlows against the current identity index.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { IdentityIndex } from '../inventory/identity.js';
import { envoyFlows } from '../learn/envoy-flows.js';
import type { ObservationSink, ObservationSource } from '../learn/source.js';
import type { AccessLogStream, LogEntry } from '../model/index.js';
import type { Logger } from '../util/logger.js';
import type { AuthorizeCall } from '../auth/decide.js';
import { AccessLogService, type AccessLogServiceOptions } from './als.js';

export class EnvoyAccessLogSource implements ObservationSource {
  readonly name = 'envoy-als';
  private sink: ObservationSink | undefined;
  private readonly service: AccessLogService;

  constructor(
    private readonly index: () => IdentityIndex,
    private readonly now: () => number,
    log: Logger,
    opts: AccessLogServiceOptions = {},
  ) {
    const flows = (s: AccessLogStream, kind: 'tcp' | 'http', entries: readonly LogEntry[]): void => {
      const sink = this.sink;
      if (!sink) return;
      const reject = (k: string, detail: string, node: string): void => sink.rejected(k, 1, detail, node);
      const out = envoyFlows(s, kind, entries, this.index(), this.now(), reject);
      if (out.length) sink.observe(out);
    };
    this.service = new AccessLogService(
      {
        tcp: (s, entries) => flows(s, 'tcp', entries),
        http: (s, entries) => flows(s, 'http', entries),
        rejected: (kind, count, detail) => this.sink?.rejected(kind, count, detail),
        streamOpened: () => this.sink?.streamOpened?.(),
        streamClosed: () => this.sink?.streamClosed?.(),
      },
      log,
      opts,
    );
  }

  /** For `server.addService(RAW_ACCESS_LOG_SERVICE, source.handlers())`; `authorize`: the authenticated listener's. */
  handlers(authorize?: AuthorizeCall): UntypedServiceImplementation {
    return this.service.handlers(authorize);
  }

  /** Encoded bytes waiting to be processed. */
  get backlogBytes(): number {
    return this.service.backlogBytes;
  }

  async start(sink: ObservationSink): Promise<void> {
    this.sink = sink;
  }

  async stop(): Promise<void> {
    this.sink = undefined;
  }
}
