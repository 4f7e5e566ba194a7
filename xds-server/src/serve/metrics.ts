// Prometheus metrics (own registry, not the global one) and the HTTP endpoint for /metrics, /healthz, /readyz.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { IngestMetrics } from '../controllers/ingest.js';
import { DEFAULT_EDGE_METRICS_MAX, edgeMetricRows, rowHistogram, type EdgeMetricRow } from '../learn/edge-metrics.js';
import { PROM_BOUNDS_MS } from '../learn/latency.js';
import type { ConvergenceReport, Edge } from '../model/index.js';
import { isServicePeer } from '../model/index.js';
import { closeServer } from '../util/net.js';
import type { DiscoveryHooks } from '../xds/discovery.js';
import { typeShort } from '../xds/types.js';

export class Metrics {
  readonly registry = new Registry();
  readonly alsEntries = new Counter({
    name: 'nanoseg_als_entries_total',
    help: 'Access-log entries received, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly authRefused = new Counter({
    name: 'nanoseg_xds_auth_refused_total',
    help:
      'Calls of the authenticated listener refused: channel token (no valid token), ads, als or otlp (spoke as ' +
      'another node: foreign-node), node-agent (not-an-agent, malformed, no-hello)',
    labelNames: ['channel', 'reason'] as const,
    registers: [this.registry],
  });
  readonly alsStreams = new Gauge({
    name: 'nanoseg_als_streams',
    help: 'Open access-log streams',
    registers: [this.registry],
  });
  readonly learnedEdges = new Gauge({
    name: 'nanoseg_learned_edges',
    help: 'Learned edges per service and direction',
    labelNames: ['service', 'direction'] as const,
    registers: [this.registry],
  });
  readonly newEdges = new Counter({
    name: 'nanoseg_new_edges_total',
    help: 'Edges learned since start',
    registers: [this.registry],
  });
  readonly converged = new Gauge({
    name: 'nanoseg_service_converged',
    help: '1 when the service topology has converged',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });
  readonly confidence = new Gauge({
    name: 'nanoseg_service_confidence',
    help: '1 - estimated chance the next connection reveals a new edge',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });
  readonly verdicts = new Counter({
    name: 'nanoseg_policy_verdicts_total',
    help: 'Connections denied (enforce) or that would be denied (monitor), by the service whose policy decided',
    labelNames: ['service', 'verdict'] as const,
    registers: [this.registry],
  });
  readonly kernelApplies = new Counter({
    name: 'nanoseg_kernel_updates_total',
    help: 'Kernel rule updates (one nft transaction each), by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly kernelFailed = new Gauge({
    name: 'nanoseg_kernel_update_failed',
    help: '1 while the last kernel rule update failed (the last good rules stay in force)',
    registers: [this.registry],
  });
  readonly kernelApplySeconds = new Gauge({
    name: 'nanoseg_kernel_update_seconds',
    help: 'Duration of the last successful kernel rule update',
    registers: [this.registry],
  });
  readonly kernelLost = new Counter({
    name: 'nanoseg_kernel_flows_lost_total',
    help: 'Kernel flow log messages the kernel could not deliver (socket overflow)',
    registers: [this.registry],
  });
  readonly kernel = {
    applied: (ms: number) => {
      this.kernelApplies.inc({ result: 'ok' });
      this.kernelApplySeconds.set(ms / 1000);
    },
    failed: () => this.kernelApplies.inc({ result: 'failed' }),
    state: (failed: boolean) => this.kernelFailed.set(failed ? 1 : 0),
    lost: (n: number) => this.kernelLost.inc(n),
  };
  /** set by the control plane: reads the alert sinks' counters at scrape time */
  alertSinkStats: () => { webhook?: { sent: number; failed: number; dropped: number; queued: number } } = () => ({});
  readonly webhook = new Gauge({
    name: 'nanoseg_alert_webhook',
    help: 'Alert webhook deliveries by outcome (sent, failed, dropped, queued)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
    collect: () => {
      const w = this.alertSinkStats().webhook;
      if (!w) return;
      for (const k of ['sent', 'failed', 'dropped', 'queued'] as const) this.webhook.set({ outcome: k }, w[k]);
    },
  });
  readonly connectedEnvoys = new Gauge({
    name: 'nanoseg_xds_connected_envoys',
    help: 'Envoys with an open ADS stream',
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'nanoseg_xds_pushes_total',
    help: 'Config pushes (debounced, merged)',
    registers: [this.registry],
  });
  readonly acks = new Counter({
    name: 'nanoseg_xds_acks_total',
    help: 'xDS ACKs received',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly nacks = new Counter({
    name: 'nanoseg_xds_nacks_total',
    help: 'xDS NACKs received',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly snapshotRejected = new Counter({
    name: 'nanoseg_xds_snapshot_rejected_total',
    help: 'Generated snapshots rejected by the consistency check (last good kept)',
    registers: [this.registry],
  });
  /** set by the control plane: the learned edges, read at scrape time (never copied on the hot path) */
  edgeSource: () => Iterable<Edge> = () => [];
  /** edges with labels of their own; the rest are summed under `other` (learn/edge-metrics.ts) */
  edgeMetricsMax = DEFAULT_EDGE_METRICS_MAX;
  private server?: Server;

  /** What the ingest controller counts. */
  readonly ingest: IngestMetrics = {
    accepted: (n) => this.alsEntries.inc({ result: 'accepted' }, n),
    rejected: (kind, n) => this.alsEntries.inc({ result: `rejected:${kind}` }, n),
    streams: (d) => (d > 0 ? this.alsStreams.inc() : this.alsStreams.dec()),
    newEdge: (e) => {
      this.newEdges.inc();
      if (isServicePeer(e.source)) this.learnedEdges.inc({ service: e.source.service, direction: 'egress' });
      if (isServicePeer(e.destination)) this.learnedEdges.inc({ service: e.destination.service, direction: 'ingress' });
    },
    verdict: (service, verdict) => this.verdicts.inc({ service, verdict }),
  };

  /** What the discovery server reports. */
  readonly discovery: DiscoveryHooks = {
    onConnected: (_n, connected) => this.connectedEnvoys.set(connected),
    onDisconnected: (_n, connected) => this.connectedEnvoys.set(connected),
    onAck: (_n, t) => this.acks.inc({ type: typeShort(t) }),
    onNack: (_n, t) => this.nacks.inc({ type: typeShort(t) }),
    onPush: () => this.pushes.inc(),
    onRejected: () => this.snapshotRejected.inc(),
  };

  /** Sets the learned-edge gauges from scratch (after a restore). */
  setLearnedEdges(counts: Iterable<{ service: string; ingress: number; egress: number }>): void {
    this.learnedEdges.reset();
    for (const c of counts) {
      this.learnedEdges.set({ service: c.service, direction: 'ingress' }, c.ingress);
      this.learnedEdges.set({ service: c.service, direction: 'egress' }, c.egress);
    }
  }

  /** Per-service convergence gauges, from a tick's reports. */
  setConvergence(reports: ReadonlyMap<string, ConvergenceReport>): void {
    for (const [service, r] of reports) {
      this.converged.set({ service }, r.state === 'converged' ? 1 : 0);
      this.confidence.set({ service }, r.confidence);
    }
  }

  constructor(withProcessMetrics = true) {
    this.registerEdgeMetrics();
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'nanoseg_process_' });
  }

  /**
   * Per-edge request metrics, computed from the learner's evidence at scrape time: the histogram and counters are
   * the evidence itself (persisted, so they survive a restart), not a second copy updated per request.
   */
  private registerEdgeMetrics(): void {
    let rows: EdgeMetricRow[] = [];
    let rowsAt = -1;
    // the three metrics are read one after the other in one scrape: compute the rows once per scrape
    const current = (): EdgeMetricRow[] => {
      const now = Date.now();
      if (now - rowsAt > 50) {
        rows = edgeMetricRows(this.edgeSource(), this.edgeMetricsMax);
        rowsAt = now;
      }
      return rows;
    };
    const custom = (name: string, help: string, type: 'histogram' | 'counter', values: () => object[]) =>
      this.registry.registerMetric({
        name,
        help,
        get: async () => ({ name, help, type, values: values(), aggregator: 'sum' }),
      } as unknown as Metric);
    const les = [...PROM_BOUNDS_MS.map((ms) => String(ms / 1000)), '+Inf'];
    custom(
      'nanoseg_edge_request_duration_seconds',
      'Request durations per learned HTTP/gRPC edge (the client side when it reported), beyond the first edges summed as other',
      'histogram',
      () =>
        current().flatMap((r) => {
          const h = rowHistogram(r);
          if (h === undefined) return [];
          const name = 'nanoseg_edge_request_duration_seconds';
          return [
            ...h.buckets.map((v, i) => ({
              metricName: `${name}_bucket`,
              labels: { ...r.labels, le: les[i] },
              value: v,
            })),
            { metricName: `${name}_sum`, labels: r.labels, value: h.sumSeconds },
            { metricName: `${name}_count`, labels: r.labels, value: h.count },
          ];
        }),
    );
    custom('nanoseg_edge_requests_total', 'Requests (connections for tcp) per learned edge', 'counter', () =>
      current().map((r) => ({ labels: r.labels, value: r.requests })),
    );
    custom(
      'nanoseg_edge_errors_total',
      'Failed requests per learned edge: HTTP 5xx, gRPC status not OK, upstream failure flags (docs/traces.md)',
      'counter',
      () => current().map((r) => ({ labels: r.labels, value: r.errors })),
    );
  }

  async listen(address: string, ready: () => boolean): Promise<void> {
    if (this.server) return;
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(i + 1));
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(text);
          },
          (e: Error) => {
            res.writeHead(500);
            res.end(e.message);
          },
        );
      } else if (path === '/healthz') {
        res.writeHead(200);
        res.end('ok\n');
      } else if (path === '/readyz') {
        const ok = ready();
        res.writeHead(ok ? 200 : 503);
        res.end(ok ? 'ready\n' : 'not ready\n');
      } else {
        res.writeHead(404);
        res.end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await closeServer(s);
  }
}
