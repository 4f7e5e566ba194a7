// OTLP trace exports as the sidecars send them, pre-encoded, and a client that sends them over real gRPC: the load
// of the otlp-ingest benchmark.
//
// Traffic: each request of the mesh (service s calls s+1, s+7, s+13 through their VIPs) is a client span from the
// caller's sidecar and a server span from the callee's, with the tags Envoy 1.40 sets (those the receiver reads and
// the ones it skips), a request id shared by both, a trace id per request. A sidecar's spans go out in exports of
// `spansPerExport` (Envoy's tracer flushes every 5 spans: `tracing.opentelemetry.min_flush_spans`), each with the
// sidecar's address as `x-forwarded-for`, as Envoy's gRPC client sends it. 2 % of the requests fail with a 503.
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import { ExportTraceServiceRequest } from '../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service.js';
import { Span_SpanKind } from '../../proto/gen/opentelemetry/proto/trace/v1/trace.js';
import { prng as rng } from '../support/prng.js';
import { SERVICE_PORT, podName, serviceName, workloadIp, type MeshSpec } from './inventory.js';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const FANOUT = [1, 7, 13];

/** One sidecar's exports, encoded, and how many spans they hold. */
export interface ExportPlan {
  readonly node: string;
  readonly address: string;
  readonly exports: Buffer[];
  spans: number;
}

const hex = (R: () => number, bytes: number) => {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = Math.floor(R() * 256);
  return b;
};
const uuid = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-9${h.slice(13, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};
const str = (key: string, v: string) => ({ key, value: { stringValue: v } });

interface PendingSpan {
  readonly span: object;
}

/** Deterministic for a seed: `generate(n)` makes requests until n more spans exist, handed out per sidecar. */
export class SpanGenerator {
  private readonly R: () => number;
  private clock: number;
  private readonly pending = new Map<string, { address: string; spans: PendingSpan[] }>();

  constructor(
    seed: number,
    start: number,
    private readonly mesh: MeshSpec,
    private readonly spansPerExport = 5,
  ) {
    this.R = rng(seed);
    this.clock = start;
  }

  generate(spans: number): ExportPlan[] {
    const { services, replicas, namespace } = this.mesh;
    const R = this.R;
    const byNode = new Map<string, ExportPlan>();
    let made = 0;
    const add = (node: string, address: string, span: object) => {
      let p = this.pending.get(node);
      if (p === undefined) this.pending.set(node, (p = { address, spans: [] }));
      p.spans.push({ span });
      made++;
      if (p.spans.length < this.spansPerExport) return;
      let plan = byNode.get(node);
      if (plan === undefined) byNode.set(node, (plan = { node, address, exports: [], spans: 0 }));
      plan.exports.push(encodeExport(p.spans.map((s) => s.span)));
      plan.spans += p.spans.length;
      p.spans = [];
    };
    while (made < spans) {
      const s = Math.floor(R() * services);
      const d = (s + FANOUT[Math.floor(R() * FANOUT.length)]!) % services;
      const cr = Math.floor(R() * replicas);
      const sr = Math.floor(R() * replicas);
      const client = `${podName(s, cr)}.${namespace}`;
      const server = `${podName(d, sr)}.${namespace}`;
      const cip = workloadIp(s, cr);
      const sip = workloadIp(d, sr);
      const traceId = hex(R, 16);
      const rid = uuid(hex(R, 16));
      const start = (this.clock += 0.02);
      const ms = 0.5 + R() * 20;
      const status = R() < 0.02 ? '503' : '200';
      const path = `/items/${Math.floor(R() * 1000)}`;
      const url = `http://${serviceName(this.mesh, d).split('/')[1]}.${namespace}:${SERVICE_PORT}${path}`;
      const clientSpan = hex(R, 8);
      const common = [
        str('guid:x-request-id', rid),
        str('http.url', url),
        str('http.method', 'GET'),
        str('http.protocol', 'HTTP/1.1'),
        str('http.status_code', status),
        str('response_flags', '-'),
        str('component', 'proxy'),
        str('user_agent', 'curl/8.14.1'),
        str('downstream_cluster', '-'),
      ];
      add(client, cip, {
        traceId,
        spanId: clientSpan,
        name: 'egress',
        kind: Span_SpanKind.SPAN_KIND_CLIENT,
        startTimeUnixNano: Math.round(start * 1e6),
        endTimeUnixNano: Math.round((start + ms) * 1e6),
        attributes: [
          str('node_id', client),
          ...common,
          str('peer.address', cip),
          str('upstream_cluster', `outbound|${SERVICE_PORT}||${serviceName(this.mesh, d)}`),
          str('upstream_cluster.name', `outbound|${SERVICE_PORT}||${serviceName(this.mesh, d)}`),
          str('upstream_address', `${sip}:${SERVICE_PORT}`),
        ],
      });
      add(server, sip, {
        traceId,
        spanId: hex(R, 8),
        parentSpanId: clientSpan,
        name: 'ingress',
        kind: Span_SpanKind.SPAN_KIND_SERVER,
        startTimeUnixNano: Math.round((start + 0.2) * 1e6),
        endTimeUnixNano: Math.round((start + ms - 0.2) * 1e6),
        attributes: [
          str('node_id', server),
          ...common,
          str('peer.address', cip),
          str('upstream_cluster', 'inbound-passthrough'),
          str('nanoseg.port', String(SERVICE_PORT)),
        ],
      });
    }
    return [...byNode.values()];
  }
}

function encodeExport(spans: object[]): Buffer {
  return Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromPartial({
        resourceSpans: [
          {
            resource: { attributes: [str('service.name', 'nanoseg-sidecar')] },
            scopeSpans: [{ scope: { name: 'envoy', version: '1.40.0' }, spans: spans as never }],
          },
        ],
      }),
    ).finish(),
  );
}

/** One sidecar's gRPC connection to the trace service, sending raw exports. */
export class RawTraceClient {
  private readonly client: Client;
  private readonly md = new Metadata();

  constructor(target: string, address: string) {
    this.client = new Client(target, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    this.md.set('x-forwarded-for', address);
  }

  export(body: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) =>
      this.client.makeUnaryRequest(
        EXPORT_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        this.md,
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Sends every plan's exports, at most `inFlight` at a time per sidecar (Envoy's tracer does not wait for one export
 * to finish before the next), as fast as the server answers, or paced to `rate` spans/s in all, until all are sent
 * or `deadline` (performance.now()) passed. Returns the spans sent (answered) and how many exports the server
 * answered with a partial_success (a non-empty response).
 */
export async function sendExports(
  clients: ReadonlyMap<string, RawTraceClient>,
  plans: readonly ExportPlan[],
  o: { inFlight: number; rate?: number; deadline?: number },
): Promise<{ spans: number; partial: number }> {
  let partial = 0;
  let spans = 0;
  let offered = 0;
  const t0 = performance.now();
  const deadline = o.deadline ?? Infinity;
  const one = async (p: ExportPlan): Promise<void> => {
    const c = clients.get(p.node)!;
    const perExport = p.spans / Math.max(1, p.exports.length);
    let next = 0;
    const worker = async () => {
      while (next < p.exports.length && performance.now() < deadline) {
        const body = p.exports[next++]!;
        if (o.rate !== undefined) {
          // paced: wait until the whole mesh is due this many spans
          const wait = t0 + ((offered + perExport) / o.rate) * 1000 - performance.now();
          offered += perExport;
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        }
        const res = await c.export(body);
        spans += perExport;
        if (res.length > 0) partial++;
      }
    };
    await Promise.all(Array.from({ length: o.inFlight }, worker));
  };
  await Promise.all(plans.map(one));
  return { spans: Math.round(spans), partial };
}
