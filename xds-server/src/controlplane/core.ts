// The control plane's wiring without sockets: learner and convergence, the controllers (inventory, policy, ingest),
// the alert pipeline, the config generator and the discovery server, joined by callbacks. controlplane.ts adds the
// listeners and timers; test/support/harness.ts drives this with fake ADS/ALS streams and a fake clock.
import { AlertPipeline } from '../alerts/pipeline.js';
import { InventoryController } from '../controllers/inventory.js';
import { IngestController } from '../controllers/ingest.js';
import { PolicyController } from '../controllers/policy.js';
import { generateSnapshot, serviceConfig } from '../generate/config.js';
import { PushedInventories } from '../inventory/pushed.js';
import type { InventorySource } from '../inventory/source.js';
import { ConvergenceTracker, Learner, type ConvergenceConfig } from '../learn/index.js';
import type { EnforcementPoint, ServiceName } from '../model/index.js';
import { isServicePeer } from '../model/index.js';
import { compilePolicy, freezePolicy, type CompiledPolicy } from '../policy/index.js';
import { EnvoyAccessLogSource } from '../serve/als-source.js';
import { OtlpTraceSource } from '../serve/otlp-source.js';
import { OtlpForwarder } from '../serve/otlp-forward.js';
import { DEFAULT_SETTINGS, type GenerateSettings } from '../generate/index.js';
import type { ControlPlaneTls } from '../generate/names.js';
import { DEFAULT_LOG_GROUP, kernelRules, type KernelNode, type KernelRules } from '../generate/kernel.js';
import { KernelEnforcementPoint, KernelFlowSource } from '../kernel/index.js';
import { NodeAgentHub } from '../nodeagent/hub.js';
import { Metrics } from '../serve/metrics.js';
import type { Store } from '../store/index.js';
import type { Logger } from '../util/logger.js';
import { every, type Scheduler } from '../util/scheduler.js';
import { NOOP_TRACER, type Tracer } from '../util/tracing.js';
import { DiscoveryServer } from '../xds/discovery.js';
import { holdReason } from '../xds/fail-static.js';

const EMPTY_COMPILED = (service: ServiceName): CompiledPolicy => ({ service, inbound: [], outbound: [] });

/** Where the control plane hosts the kernel point: a namespace (undefined: its own), and whether for a node's pods. */
export interface KernelHosting {
  readonly netns?: string;
  readonly logGroup?: number;
  readonly node?: KernelNode;
  /**
   * the rules are applied by node agents (`serve --node-agents`), each on its own node, not by this process; only
   * pods of this service account may connect as one
   */
  readonly agents?: { readonly namespace: string; readonly serviceAccount: string };
}

export interface CoreOptions {
  readonly convergence: ConvergenceConfig;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  readonly debounceMs: number;
  readonly maxPushDelayMs: number;
  readonly autoPromote: boolean;
  readonly soakPeriodMs: number;
  readonly alertWebhook?: string;
  /** `<state-dir>/audit.jsonl` */
  readonly auditFile?: string;
  /** more inventory sources (a static file, ...) besides the API's */
  readonly inventorySources?: readonly InventorySource[];
  /** collect Node's process metrics too (the binary does; tests do not) */
  readonly processMetrics?: boolean;
  /** host the kernel enforcement point and kernel flow source (the lab's host namespace, or a Kubernetes node) */
  readonly kernel?: KernelHosting;
  /** percent of requests every sidecar traces (`--trace-sampling`, default 100; 0 = no tracing) */
  readonly traceSamplingPercent?: number;
  /** the recent-traces store's budget in bytes (`--trace-buffer MIB`, default 64 MiB) */
  readonly traceBufferBytes?: number;
  /** send every accepted trace export on to this OTLP/gRPC collector (`--otlp-forward HOST:PORT`) */
  readonly otlpForward?: string;
  /** the control plane's own spans (`serve --otlp-endpoint`); default: the no-op tracer */
  readonly tracer?: Tracer;
  /** Kubernetes: sidecars send access logs and spans over the authenticated TLS channel, not the bootstrap cluster */
  readonly controlPlaneTls?: ControlPlaneTls;
}

export class MeshCore {
  readonly learner = new Learner();
  readonly tracker: ConvergenceTracker;
  readonly metrics: Metrics;
  readonly alerts: AlertPipeline;
  readonly pushed = new PushedInventories();
  readonly inventory: InventoryController;
  readonly policy: PolicyController;
  readonly ingest: IngestController;
  readonly discovery: DiscoveryServer;
  readonly envoyLogs: EnvoyAccessLogSource;
  /** the OTLP trace receiver: spans feed learning and the recent-traces store */
  readonly traces: OtlpTraceSource;
  /** the external collector traces are forwarded to, when there is one */
  readonly forwarder?: OtlpForwarder;
  /** the config generator's settings: one object for the life of the core (the generator memoizes per object) */
  readonly settings: GenerateSettings;
  /** where policy is enforced; each hears of every config change (the sidecars' discovery server today) */
  readonly points: EnforcementPoint[];
  /** the kernel point and its flow source, when hosted here (`serve --kernel-netns`, `serve --kernel-node`) */
  readonly kernel?: { readonly point: KernelEnforcementPoint; readonly flows: KernelFlowSource };
  /** the node agents' streams, when they apply the kernel rules (`serve --node-agents`) */
  readonly nodeAgents?: NodeAgentHub;
  private readonly compiledCache = new Map<ServiceName, CompiledPolicy>();

  constructor(
    readonly store: Store,
    private readonly opts: CoreOptions,
  ) {
    const log = opts.logger;
    const sched = opts.scheduler;
    this.settings = {
      ...DEFAULT_SETTINGS,
      traceSamplingPercent: opts.traceSamplingPercent ?? 100,
      ...(opts.controlPlaneTls && { controlPlaneTls: opts.controlPlaneTls }),
    };
    this.tracker = new ConvergenceTracker(opts.convergence);
    this.metrics = new Metrics(opts.processMetrics ?? false);
    this.alerts = new AlertPipeline({
      logger: log,
      scheduler: sched,
      store,
      ...(opts.auditFile && { auditFile: opts.auditFile }),
      ...(opts.alertWebhook && { webhookUrl: opts.alertWebhook }),
    });
    this.metrics.alertSinkStats = () => this.alerts.stats();
    this.metrics.edgeSource = () => this.learner.visitEdges();
    this.inventory = new InventoryController({ store, logger: log, onChange: (_i, why) => this.changed(why) });
    this.inventory.add(this.pushed);
    for (const s of opts.inventorySources ?? []) this.inventory.add(s);
    this.policy = new PolicyController({
      store,
      logger: log,
      scheduler: sched,
      audit: (e) => this.alerts.audit(e),
      learned: (s) => this.learner.edgesOf(s),
      convergence: (s) => this.tracker.memory(s),
      knownServices: () => this.serviceNames(),
      onChange: (why, services) => this.changed(why, services),
      onRelease: (nodes) => this.discovery.released(nodes),
      onL7: (s, on) => this.tracker.setL7(s, on),
    });
    this.ingest = new IngestController({
      learner: this.learner,
      tracker: this.tracker,
      store,
      logger: log,
      scheduler: sched,
      index: () => this.inventory.index,
      modeOf: (s) => this.policy.modeOf(s),
      compiled: (s) => this.compiled(s),
      learning: (s) => this.policy.modeOf(s) === 'learn' && !this.policy.control(s).policy,
      alert: (a) => this.alerts.report(a),
      wouldDeny: (s, at) => this.policy.wouldDeny(s, at),
      onChange: (why, services) => this.changed(why, services),
      onTransition: (t) => {
        log.info(t, `service ${t.service} ${t.to === 'learning' ? 'went back to learning' : 'converged'}`);
        this.policy.persist(t.service);
        this.changed(`${t.service} ${t.to}`, [t.service]); // convergence decides config scoping
      },
      metrics: this.metrics.ingest,
      tracer: opts.tracer ?? NOOP_TRACER,
      traceVerdict: (key, enforcer, verdict) => {
        this.traces.store.verdict(key, enforcer, verdict);
        return this.traces.store.traceOfRequest(key);
      },
    });
    this.discovery = new DiscoveryServer({
      // an authenticated sidecar is served its pod's workload as the inventory knows it, never the cluster it
      // declares (nothing until the inventory lists the pod)
      serviceOf: (n) =>
        n.verified
          ? this.inventory.index.workloadByNodeId(n.id)?.service
          : this.inventory.index.serviceOfNode(n.id, n.cluster),
      generate: (service) => this.snapshotOf(service),
      admit: (n) => {
        const why = n.hasConfig ? holdReason(n.reportedVersions, store.id) : undefined;
        if (why) this.policy.hold(n.id, why);
      },
      isHeld: (id) => this.policy.isHeld(id),
      debounceMs: opts.debounceMs,
      maxPushDelayMs: opts.maxPushDelayMs,
      scheduler: sched,
      logger: log,
      hooks: this.metrics.discovery,
      tracer: opts.tracer ?? NOOP_TRACER,
    });
    this.points = [{ name: 'sidecar', changed: (why, services) => this.discovery.configChanged(why, services) }];
    if (opts.kernel?.agents) {
      const group = opts.kernel.logGroup ?? DEFAULT_LOG_GROUP;
      this.nodeAgents = new NodeAgentHub({
        account: opts.kernel.agents,
        desired: () => this.kernelRules(group),
        index: () => this.inventory.index,
        now: () => sched.now(),
        logger: log,
        onLost: (n) => this.metrics.kernel.lost(n),
        refused: (reason) => this.metrics.authRefused.inc({ channel: 'node-agent', reason }),
      });
      this.points.push(this.nodeAgents);
    } else if (opts.kernel) {
      const group = opts.kernel.logGroup ?? DEFAULT_LOG_GROUP;
      const point = new KernelEnforcementPoint({
        netns: opts.kernel.netns,
        logger: log,
        desired: () => this.kernelRules(group),
        hooks: this.metrics.kernel,
      });
      const flows = new KernelFlowSource({
        netns: opts.kernel.netns,
        group,
        index: () => this.inventory.index,
        now: () => sched.now(),
        logger: log,
        onLost: (n) => this.metrics.kernel.lost(n),
      });
      this.kernel = { point, flows };
      this.points.push(point);
    }
    this.envoyLogs = new EnvoyAccessLogSource(
      () => this.inventory.index,
      () => sched.now(),
      log,
    );
    const forwarder = opts.otlpForward !== undefined ? new OtlpForwarder(opts.otlpForward, log) : undefined;
    this.forwarder = forwarder;
    this.traces = new OtlpTraceSource(() => this.inventory.index, log, {
      ...(opts.traceBufferBytes !== undefined && { bufferBytes: opts.traceBufferBytes }),
      ...(forwarder && { forward: (raw: Buffer) => forwarder.forward(raw) }),
      decides: (service) => this.policy.modeOf(service) !== 'learn',
    });
  }

  /** Everything the store kept: inventories, edges, modes and policies, convergence memories. */
  restore(): void {
    this.inventory.restore();
    const edges = this.store.loadEdges();
    this.learner.load(edges);
    this.tracker.seed(edges);
    for (const [service, memory] of this.policy.restore()) this.tracker.restore(service, memory);
    this.metrics.setLearnedEdges(
      this.serviceNames().map((service) => {
        const e = this.learner.edgesOf(service);
        return { service, ingress: e.ingress.length, egress: e.egress.length };
      }),
    );
  }

  async start(): Promise<void> {
    // each source gets its own sink, so an ingest batch's span says where the batch came from
    await this.envoyLogs.start(this.ingest.sink('envoy-als'));
    await this.traces.start(this.ingest.sink('otlp'));
    await this.inventory.start();
    await this.nodeAgents?.start(this.ingest.sink('kernel'));
    if (this.kernel) {
      await this.kernel.flows.start(this.ingest.sink('kernel'));
      this.kernel.point.start();
    }
  }

  async stop(): Promise<void> {
    this.discovery.stop();
    await this.inventory.stop();
    await this.envoyLogs.stop();
    await this.traces.stop();
    this.forwarder?.stop();
    // the kernel rules stay in force: a control plane that stops (or dies) never opens what was closed
    this.kernel?.point.stop();
    await this.kernel?.flows.stop();
    await this.nodeAgents?.stop();
    await this.alerts.stop();
    this.ingest.flush(true);
  }

  /** The periodic work on the injected clock: evidence flush and convergence tick. Returns the canceller. */
  startTimers(flushMs: number, tickMs: number): () => void {
    const stops = [
      every(this.opts.scheduler, flushMs, () => this.ingest.flush()),
      every(this.opts.scheduler, tickMs, () => this.tick()),
    ];
    return () => stops.forEach((s) => s());
  }

  /** Convergence tick: transitions, auto-promotion, gauges. */
  tick(): void {
    const reports = this.ingest.tick();
    if (this.opts.autoPromote) this.policy.autoPromote(reports, this.opts.soakPeriodMs);
    this.metrics.setConvergence(reports);
  }

  /** Every service anyone knows: the inventory's and the learned edges'. */
  serviceNames(): ServiceName[] {
    const names = new Set<ServiceName>(this.inventory.index.services());
    for (const e of this.learner.edges()) {
      if (isServicePeer(e.source)) names.add(e.source.service);
      if (isServicePeer(e.destination)) names.add(e.destination.service);
    }
    return [...names].sort();
  }

  /** The compiled policy in force (for deny explanations), cached until the service's config changes. */
  compiled(service: ServiceName): CompiledPolicy {
    let c = this.compiledCache.get(service);
    if (!c) {
      c = compilePolicy(this.policy.policyInForce(service), this.inventory.index);
      this.compiledCache.set(service, c);
    }
    return c;
  }

  /** The desired kernel rules: every service's mode and compiled policy in force, and who is where. */
  kernelRules(logGroup = DEFAULT_LOG_GROUP): KernelRules {
    const services = this.serviceNames().map((service) => {
      const mode = this.policy.modeOf(service);
      return { service, mode, compiled: mode === 'learn' ? EMPTY_COMPILED(service) : this.compiled(service) };
    });
    const node = this.opts.kernel?.node;
    return kernelRules({ services, inventory: this.inventory.index.inventory, logGroup, ...(node && { node }) });
  }

  /** One service's snapshot, generated from the mesh state and the inventory now. */
  private snapshotOf(service: ServiceName): ReturnType<typeof generateSnapshot> {
    const converged = this.tracker.memory(service)?.state === 'converged';
    const learned = () => freezePolicy(service, this.learner.edgesOf(service), 0);
    const cfg = serviceConfig(service, this.policy.control(service), learned, converged);
    return generateSnapshot(cfg, this.inventory.index, this.store.id, this.settings);
  }

  /** Config of some services (undefined: everyone's) changed: every enforcement point hears of it. */
  private changed(reason: string, services?: readonly ServiceName[]): void {
    if (services) for (const s of services) this.compiledCache.delete(s);
    else this.compiledCache.clear();
    for (const p of this.points) p.changed(reason, services);
  }
}
