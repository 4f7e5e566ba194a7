// A minimal OTLP/gRPC trace receiver (what an OpenTelemetry Collector is to `serve --otlp-forward`): records every
// export's bytes and answers success.
import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import { TraceServiceService } from '../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service.js';

export class MinimalOtlpReceiver {
  readonly received: Buffer[] = [];
  private readonly server = new Server();
  port = 0;

  async start(): Promise<void> {
    const def = {
      export: { ...TraceServiceService.export, requestDeserialize: (b: Buffer) => b },
    } as unknown as ServiceDefinition;
    this.server.addService(def, {
      export: (call: { request: Buffer }, cb: (e: null, r: object) => void) => {
        this.received.push(call.request);
        cb(null, {});
      },
    } as never);
    this.port = await new Promise<number>((res, rej) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
  }

  stop(): void {
    this.server.forceShutdown();
  }
}
