// The composition root's Kubernetes part (controlplane.ts calls it with `serve --kubernetes`): the authenticated xDS
// listener, and the cluster's side of the core — mode annotations as pins, alerts as Events, NanoSegment status and
// spec, the webhooks. It decides nothing itself.
import type { CoreBackend } from '../api/backend.js';
import { authenticated, authorizeCall, identityOf } from '../auth/index.js';
import { NODE_AGENT_SERVICE } from '../nodeagent/protocol.js';
import { SEGMENT_SPECS_KEY } from '../controllers/segment-spec.js';
import { RAW_ACCESS_LOG_SERVICE } from '../serve/als.js';
import type { GrpcServer } from '../serve/grpc.js';
import { RAW_TRACE_SERVICE } from '../serve/otlp.js';
import type { Logger } from '../util/logger.js';
import type { Scheduler } from '../util/scheduler.js';
import { ADS_SERVICE } from '../xds/index.js';
import type { MeshCore } from './core.js';
import type { KubernetesIntegration, KubernetesXdsTlsOptions } from './kubernetes.js';

/** ADS, ALS, OTLP and the node agents' streams on the TLS listener, each call checked to speak as its own pod; refusals counted by channel. */
export async function serveAuthenticatedXds(
  k8s: KubernetesIntegration,
  xdsTls: KubernetesXdsTlsOptions,
  core: MeshCore,
  grpc: GrpcServer,
  log: Logger,
): Promise<void> {
  const m = core.metrics.authRefused;
  await k8s.startXdsTls();
  const auth = await k8s.authenticator((reason) => m.inc({ channel: 'token', reason }));
  const as =
    (channel: string) =>
    (call: object, nodeId: string): ReturnType<typeof authorizeCall> => {
      const d = authorizeCall(call, nodeId);
      if (!d.ok) m.inc({ channel, reason: d.reason });
      return d;
    };
  grpc.add(ADS_SERVICE, authenticated(core.discovery.ads.handlers(as('ads')), auth));
  grpc.add(RAW_ACCESS_LOG_SERVICE, authenticated(core.envoyLogs.handlers(as('als')), auth));
  grpc.add(RAW_TRACE_SERVICE, authenticated(core.traces.handlers(as('otlp')), auth));
  // node agents: each gets its node's kernel rules and sends the node's flow log up
  if (core.nodeAgents) grpc.add(NODE_AGENT_SERVICE, authenticated(core.nodeAgents.handlers(identityOf), auth));
  await grpc.listen({ tls: { address: xdsTls.address, certificate: k8s.serving } });
  log.info({ address: xdsTls.address, names: xdsTls.dnsNames }, 'authenticated xDS (TLS, service-account tokens)');
}

/**
 * Connects the cluster to the core and starts the webhooks. What undoes each subscription goes into `undo` as it is
 * made, so a start that fails half-way is still undone by stop.
 */
export async function wireKubernetes(
  k8s: KubernetesIntegration,
  core: MeshCore,
  backend: CoreBackend,
  sched: Scheduler,
  undo: (() => void)[],
): Promise<void> {
  // the workloads' nanoseg.io/mode annotations pin modes (they win over the API while present)
  const sub = k8s.inventory.modes$.subscribe((m) =>
    core.policy.syncPins(m.pins, 'kubernetes', (service, mode) => k8s.modeActor(service, mode)),
  );
  undo.push(() => sub.unsubscribe());
  const events = k8s.events;
  undo.push(core.alerts.subscribe((a) => events.report(a)));
  // each service's NanoSegment status mirrors `nanoseg services` and the last denials, and each one's spec is
  // applied through the policy controller, as the CLI's commands are
  const store = core.store;
  const segmentAlert = k8s.startSegments(
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
  undo.push(core.alerts.subscribe(segmentAlert));
  await k8s.startWebhook((s) => core.policy.pinOf(s));
}
