// The composition root: opens the store, builds the core (core.ts), and puts it on the wire — gRPC (ADS, ALS, OTLP), the
// JSON API on a unix socket, Prometheus metrics — with the periodic work (evidence flush, convergence tick) on the
// injected clock. It decides nothing itself.
import { join } from 'node:path';
import { CoreBackend } from '../api/backend.js';
import { HttpApi } from '../api/http.js';
import { routes } from '../api/routes.js';
import type { InventorySource } from '../inventory/source.js';
import { DEFAULT_CONVERGENCE, type ConvergenceConfig } from '../learn/index.js';
import { GrpcServer } from '../serve/grpc.js';
import { authenticated, authorizeCall } from '../auth/index.js';
import { XDS_CA_FILE, XDS_TOKEN_FILE } from '../sidecar/index.js';
import { RAW_ACCESS_LOG_SERVICE } from '../serve/als.js';
import { RAW_TRACE_SERVICE } from '../serve/otlp.js';
import { Store } from '../store/index.js';
import type { Logger } from '../util/logger.js';
import { REAL_SCHEDULER, type Scheduler } from '../util/scheduler.js';
import { NOOP_TRACER, type Tracer } from '../util/tracing.js';
import { ADS_SERVICE } from '../xds/index.js';
import { MeshCore } from './core.js';
import { SEGMENT_SPECS_KEY } from '../controllers/segment-spec.js';
import type { KubernetesIntegration, KubernetesOptions } from './kubernetes.js';
import type { OtlpTracing } from '../serve/otel-export.js';

export interface ControlPlaneOptions {
  readonly stateDir: string;
  readonly apiSocket: string;
  /** gRPC (ADS + ALS) TCP address, plaintext; undefined = off */
  readonly xdsAddress?: string;
  /** gRPC (ADS + ALS) unix socket, group 1337 so sidecars running as uid/gid 1337 reach it */
  readonly xdsSocket?: string;
  readonly metricsAddress?: string;
  readonly convergence: ConvergenceConfig;
  readonly logger: Logger;
  /** how often evidence counts are written to the store (new edges are written at once) */
  readonly flushIntervalMs: number;
  /** how often convergence is re-evaluated */
  readonly tickMs: number;
  readonly debounceMs: number;
  readonly maxPushDelayMs: number;
  /** converged → monitor → (after a soak with zero would-deny) enforce, without a person */
  readonly autoPromote: boolean;
  readonly soakPeriodMs: number;
  /** HTTP endpoint that receives every alert as a JSON POST */
  readonly alertWebhook?: string;
  /** inventory sources besides the API's pushes (e.g. `--inventory FILE`) */
  readonly inventorySources?: readonly InventorySource[];
  readonly scheduler?: Scheduler;
  /** host the kernel enforcement point for this network namespace (the lab's host namespace, `nsg-lab`) */
  readonly kernel?: { readonly netns: string; readonly logGroup?: number };
  /** percent of requests every sidecar traces (default 100; 0 = no tracing) */
  readonly traceSamplingPercent?: number;
  /** the recent-traces store's budget in bytes (default 64 MiB) */
  readonly traceBufferBytes?: number;
  /** forward every accepted trace export to this OTLP/gRPC collector (HOST:PORT) */
  readonly otlpForward?: string;
  /**
   * export the control plane's own spans (ADS pushes, ingest batches, convergence transitions, API requests) over
   * OTLP/gRPC to this collector (HOST:PORT, `serve --otlp-endpoint`); undefined: not traced, the SDK never loaded
   */
  readonly otlpEndpoint?: string;
  /** tests: how often spans are exported (default 1 s) */
  readonly otlpExportDelayMs?: number;
  /** watch a cluster (inventory) and serve the sidecar injector webhook (`serve --kubernetes`) */
  readonly kubernetes?: Omit<KubernetesOptions, 'stateDir'>;
}

export const DEFAULT_CONTROL_PLANE_OPTIONS: Omit<ControlPlaneOptions, 'logger'> = {
  stateDir: '/var/lib/nanoseg',
  apiSocket: '/run/nanoseg/api.sock',
  xdsAddress: '127.0.0.1:15010',
  xdsSocket: '/run/nanoseg/xds.sock',
  metricsAddress: '127.0.0.1:15014',
  convergence: DEFAULT_CONVERGENCE,
  flushIntervalMs: 1000,
  tickMs: 1000,
  debounceMs: 100,
  maxPushDelayMs: 1000,
  autoPromote: false,
  soakPeriodMs: 10 * 60_000,
};

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
    if (this.kubernetes && xdsTls) {
      const m = core.metrics.authRefused;
      await this.kubernetes.startXdsTls();
      const auth = await this.kubernetes.authenticator((reason) => m.inc({ channel: 'token', reason }));
      // each service checks that the pod speaks as itself; a refusal is counted by channel
      const as =
        (channel: string) =>
        (call: object, nodeId: string): ReturnType<typeof authorizeCall> => {
          const d = authorizeCall(call, nodeId);
          if (!d.ok) m.inc({ channel, reason: d.reason });
          return d;
        };
      this.tlsGrpc.add(ADS_SERVICE, authenticated(core.discovery.ads.handlers(as('ads')), auth));
      this.tlsGrpc.add(RAW_ACCESS_LOG_SERVICE, authenticated(core.envoyLogs.handlers(as('als')), auth));
      this.tlsGrpc.add(RAW_TRACE_SERVICE, authenticated(core.traces.handlers(as('otlp')), auth));
      await this.tlsGrpc.listen({ tls: { address: xdsTls.address, certificate: this.kubernetes.serving } });
      log.info({ address: xdsTls.address, names: xdsTls.dnsNames }, 'authenticated xDS (TLS, service-account tokens)');
    }
    this.api = routes(new HttpApi(log, tracer), backend);
    await this.api.listen(o.apiSocket);
    if (this.kubernetes) {
      // the workloads' nanoseg.io/mode annotations pin modes (they win over the API while present)
      const k8s = this.kubernetes;
      const sub = k8s.inventory.modes$.subscribe((m) =>
        core.policy.syncPins(m.pins, 'kubernetes', (service, mode) => k8s.modeActor(service, mode)),
      );
      this.timers.push(() => sub.unsubscribe());
      const events = this.kubernetes.events;
      this.timers.push(core.alerts.subscribe((a) => events.report(a)));
      // each service's NanoSegment status mirrors `nanoseg services` and the last denials
      // and each one's spec is applied through the policy controller, as the CLI's commands are
      const segmentAlert = this.kubernetes.startSegments(
        () =>
          backend.services().map((v) => ({
            service: v.name,
            state: v.state,
            mode: v.mode,
            confidence: v.confidence,
            edges: v.edges,
            reason: v.reason,
          })),
        {
          policy: core.policy,
          knownServices: () => core.serviceNames(),
          load: () => store.getValue(SEGMENT_SPECS_KEY),
          save: (json) => store.putValue(SEGMENT_SPECS_KEY, json),
          now: () => sched.now(),
        },
      );
      this.timers.push(core.alerts.subscribe(segmentAlert));
      await this.kubernetes.startWebhook((s) => core.policy.pinOf(s));
    }
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
      core.store.close();
    }
    await this.tracing?.stop();
  }
}
