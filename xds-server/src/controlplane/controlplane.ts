// The composition root: opens the store, builds the core (core.ts), and puts it on the wire — gRPC (ADS, ALS, OTLP), the
// JSON API on a unix socket, Prometheus metrics — with the periodic work (evidence flush, convergence tick) on the
// injected clock. It decides nothing itself.
import { join } from 'node:path';
import { CoreBackend } from '../api/backend.js';
import { HttpApi } from '../api/http.js';
import { routes } from '../api/routes.js';
import { GrpcServer } from '../serve/grpc.js';
import { XDS_CA_FILE, XDS_TOKEN_FILE } from '../sidecar/index.js';
import { RAW_ACCESS_LOG_SERVICE } from '../serve/als.js';
import { RAW_TRACE_SERVICE } from '../serve/otlp.js';
import { Store } from '../store/index.js';
import { REAL_SCHEDULER } from '../util/scheduler.js';
import { NOOP_TRACER, type Tracer } from '../util/tracing.js';
import { ADS_SERVICE } from '../xds/index.js';
import { MeshCore } from './core.js';
import type { KubernetesIntegration } from './kubernetes.js';
import type { ControlPlaneOptions } from './options.js';
import { serveAuthenticatedXds, wireKubernetes } from './wire-kubernetes.js';
import type { OtlpTracing } from '../serve/otel-export.js';

export { DEFAULT_CONTROL_PLANE_OPTIONS, type ControlPlaneOptions } from './options.js';

/** how often the store's WAL is checkpointed, off the event loop */
const CHECKPOINT_INTERVAL_MS = 1000;

export class ControlPlane {
  core?: MeshCore;
  backend?: CoreBackend;
  private readonly grpc = new GrpcServer();
  /** the authenticated listener (Kubernetes: sidecars over TLS with their service-account token) */
  private readonly tlsGrpc = new GrpcServer();
  private api?: HttpApi;
  kubernetes?: KubernetesIntegration;
  /** the OTLP exporter of the control plane's own spans, with `otlpEndpoint` */
  tracing?: OtlpTracing;
  private readonly timers: (() => void)[] = [];
  private started = false;
  private stopped = false;

  constructor(private readonly opts: ControlPlaneOptions) {}

  /** The bound TCP port of the gRPC server (useful with --xds-address HOST:0). */
  get xdsPort(): number | undefined {
    return this.grpc.port;
  }

  /** The bound port of the authenticated TLS listener. */
  get xdsTlsPort(): number | undefined {
    return this.tlsGrpc.port;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const o = this.opts;
    const log = o.logger;
    const sched = o.scheduler ?? REAL_SCHEDULER;
    const sources = [...(o.inventorySources ?? [])];
    if (o.kubernetes) {
      // loaded only here: the Kubernetes client is large, and no other command needs it
      const { KubernetesIntegration } = await import('./kubernetes.js');
      this.kubernetes = new KubernetesIntegration({ ...o.kubernetes, stateDir: o.stateDir }, log);
      sources.push(this.kubernetes.inventory);
    }
    const store = Store.open(o.stateDir);
    store.checkpointInBackground(CHECKPOINT_INTERVAL_MS, (reason) =>
      log.warn({ reason }, 'background WAL checkpoints stopped; SQLite checkpoints during commits again'),
    );
    let tracer: Tracer = NOOP_TRACER;
    if (o.otlpEndpoint !== undefined) {
      // loaded only here: without --otlp-endpoint the OpenTelemetry SDK is never even imported
      const { OtlpTracing } = await import('../serve/otel-export.js');
      this.tracing = new OtlpTracing({
        endpoint: o.otlpEndpoint,
        logger: log,
        instanceId: store.id,
        ...(o.otlpExportDelayMs !== undefined && { exportDelayMs: o.otlpExportDelayMs }),
      });
      tracer = this.tracing;
    }
    // the generated access-log and tracer configs of injected sidecars use their authenticated channel
    const sidecarXds = o.kubernetes?.xdsTls && o.kubernetes.webhook?.injector.xdsAddress;
    const core = new MeshCore(store, {
      ...o,
      ...(sidecarXds && {
        controlPlaneTls: {
          targetUri: `${sidecarXds.host.includes(':') ? `[${sidecarXds.host}]` : sidecarXds.host}:${sidecarXds.port}`,
          caFile: XDS_CA_FILE,
          tokenFile: XDS_TOKEN_FILE,
        },
      }),
      tracer,
      inventorySources: sources,
      scheduler: sched,
      auditFile: join(o.stateDir, 'audit.jsonl'),
      processMetrics: true,
    });
    this.core = core;
    core.restore();
    const tracing = this.tracing;
    const selfTraces = tracing && (() => ({ endpoint: tracing.endpoint, ...tracing.stats }));
    const backend = new CoreBackend(core, { startedAt: sched.now(), ...o, selfTraces }, () => sched.now());
    this.backend = backend;
    await core.start();
    this.grpc.add(ADS_SERVICE, core.discovery.ads.handlers());
    this.grpc.add(RAW_ACCESS_LOG_SERVICE, core.envoyLogs.handlers());
    this.grpc.add(RAW_TRACE_SERVICE, core.traces.handlers());
    await this.grpc.listen({ socket: o.xdsSocket, address: o.xdsAddress });
    const xdsTls = o.kubernetes?.xdsTls;
    if (this.kubernetes && xdsTls) await serveAuthenticatedXds(this.kubernetes, xdsTls, core, this.tlsGrpc, log);
    this.api = routes(new HttpApi(log, tracer), backend);
    await this.api.listen(o.apiSocket);
    if (this.kubernetes) await wireKubernetes(this.kubernetes, core, backend, sched, this.timers);
    if (o.metricsAddress) await core.metrics.listen(o.metricsAddress, () => this.started && !this.stopped);
    this.timers.push(core.startTimers(o.flushIntervalMs, o.tickMs));
    log.info(
      {
        stateDir: o.stateDir,
        storeId: store.id,
        api: o.apiSocket,
        xdsAddress: o.xdsAddress,
        xdsSocket: o.xdsSocket,
        metrics: o.metricsAddress,
        otlpEndpoint: o.otlpEndpoint,
        edges: core.learner.size,
        workloads: core.inventory.index.inventory.workloads.length,
      },
      'nanoseg control plane serving',
    );
  }

  /** Idempotent; also after a failed start. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const cancel of this.timers) cancel();
    const core = this.core;
    core?.discovery.stop();
    await this.api?.stop();
    await this.kubernetes?.stop();
    await core?.metrics.stop();
    await this.grpc.stop();
    await this.tlsGrpc.stop();
    if (core) {
      await core.stop();
      await core.store.close();
    }
    await this.tracing?.stop();
  }
}
