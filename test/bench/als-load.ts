// The access-log load the benchmarks send: a mesh's traffic as Envoy would log it (TrafficGenerator), encoded
// before the clock starts, and ALS clients that send it saturated (sendStream) or paced (sendPaced).
//
// Traffic: every connection is logged by the client's outbound listener and, unless it leaves the mesh, by the
// server's inbound listener with the matching 4-tuple (TCP) or x-request-id (HTTP), so the learner deduplicates
// them; some TCP connections also get a periodic log before the end log. ~55% TCP, 45% HTTP; each service calls
// three others, 2% of connections go to a random service (new edges keep appearing), 1% leave the mesh (TLS
// with SNI, outbound log only).
import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import type { ClientWritableStream, ServiceError } from '@grpc/grpc-js';
import { once } from 'node:events';
import { AccessLogServiceService, StreamAccessLogsMessage } from '../../proto/gen/envoy/service/accesslog/v3/als.js';
import type { HTTPAccessLogEntry, TCPAccessLogEntry } from '../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import { AccessLogType, HTTPAccessLogEntry_HTTPVersion } from '../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import { RequestMethod } from '../../proto/gen/envoy/config/core/v3/base.js';
import type { DeepPartial as DeepPartialEntry } from '../../xds-server/src/generate/index.js';
import { prng as rng } from '../support/prng.js';
import { SERVICE_PORT, podName, serviceName, vipIp, workloadIp, type MeshSpec } from './inventory.js';

/** Entries per message: Envoy flushes its 16 KiB buffer at about this many entries. */
const BATCH = 64;
const FANOUT = [1, 7, 13];

export type Side = 'outbound' | 'inbound';

/** One sidecar's ALS stream (outbound or inbound log) and the batches it sends, encoded. */
export interface StreamPlan {
  readonly node: string;
  readonly cluster: string;
  readonly logName: Side;
  readonly messages: Buffer[];
  tcp: DeepPartialEntry<TCPAccessLogEntry>[];
  http: DeepPartialEntry<HTTPAccessLogEntry>[];
  entries: number;
}

const sock = (address: string, portValue: number) => ({ socketAddress: { address, portValue } });
const ts = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

/**
 * The mesh's traffic as access logs, deterministic for a seed: `generate(n)` makes connections until n more entries
 * exist and hands out each stream's batches, encoded. Services are the mesh's (`mesh.first` onwards).
 */
export class TrafficGenerator {
  private readonly streams = new Map<string, StreamPlan>();
  private readonly rand: () => number;
  private conn = 0;
  entries = 0;

  private readonly first: number;

  constructor(
    seed: number,
    private readonly t0: number,
    private readonly mesh: MeshSpec,
  ) {
    this.rand = rng(seed);
    this.first = mesh.first ?? 0;
  }

  private stream(s: number, r: number, side: Side): StreamPlan {
    const key = `${s}/${r}/${side}`;
    let p = this.streams.get(key);
    if (!p) {
      p = {
        node: `${podName(this.first + s, r)}.${this.mesh.namespace}`,
        cluster: serviceName(this.mesh, this.first + s),
        logName: side,
        messages: [],
        tcp: [],
        http: [],
        entries: 0,
      };
      this.streams.set(key, p);
    }
    return p;
  }

  private add(p: StreamPlan, kind: 'tcp', e: DeepPartialEntry<TCPAccessLogEntry>): void;
  private add(p: StreamPlan, kind: 'http', e: DeepPartialEntry<HTTPAccessLogEntry>): void;
  private add(
    p: StreamPlan,
    kind: 'tcp' | 'http',
    e: DeepPartialEntry<TCPAccessLogEntry> | DeepPartialEntry<HTTPAccessLogEntry>,
  ): void {
    this.entries++;
    p.entries++;
    if (kind === 'tcp') p.tcp.push(e as DeepPartialEntry<TCPAccessLogEntry>);
    else p.http.push(e as DeepPartialEntry<HTTPAccessLogEntry>);
    if (p.tcp.length >= BATCH || p.http.length >= BATCH) this.flush(p);
  }

  private flush(p: StreamPlan): void {
    const first = p.messages.length === 0;
    const identifier = first ? { node: { id: p.node, cluster: p.cluster }, logName: p.logName } : undefined;
    if (p.tcp.length) {
      p.messages.push(
        Buffer.from(
          StreamAccessLogsMessage.encode(
            StreamAccessLogsMessage.fromPartial({ identifier, tcpLogs: { logEntry: p.tcp } }),
          ).finish(),
        ),
      );
      p.tcp = [];
    }
    if (p.http.length) {
      const id = p.messages.length === 0 ? identifier : undefined;
      p.messages.push(
        Buffer.from(
          StreamAccessLogsMessage.encode(
            StreamAccessLogsMessage.fromPartial({ identifier: id, httpLogs: { logEntry: p.http } }),
          ).finish(),
        ),
      );
      p.http = [];
    }
  }

  /** Generates connections until at least `n` more entries exist; returns the stream plans (flushed). */
  generate(n: number): StreamPlan[] {
    for (const p of this.streams.values()) {
      p.messages.length = 0;
      p.entries = 0;
    }
    const target = this.entries + n;
    while (this.entries < target) this.connection();
    for (const p of this.streams.values()) this.flush(p);
    return [...this.streams.values()].filter((p) => p.messages.length > 0);
  }

  private connection(): void {
    const R = this.rand;
    const c = this.conn++;
    const n = this.mesh.services;
    // s and t index the mesh's services from 0; S and T are their numbers (names, addresses)
    const s = Math.floor(R() * n);
    const r = Math.floor(R() * this.mesh.replicas);
    const roll = R();
    const external = roll < 0.01;
    const t = roll < 0.03 ? Math.floor(R() * n) : (s + FANOUT[c % FANOUT.length]!) % n;
    const rr = Math.floor(R() * this.mesh.replicas);
    const S = this.first + s,
      T = this.first + t;
    const clientIp = workloadIp(S, r);
    const eph1 = 32768 + (c % 28000);
    const eph2 = 32768 + ((c * 7 + 13) % 28000);
    // the sidecar's own source address: client ip, a second ephemeral port (unique per connection with eph1's wrap)
    const ul = sock(clientIp, eph2);
    const start = this.t0 + Math.floor(c / 50);
    const sent = 200 + Math.floor(R() * 4000);
    const recv = 500 + Math.floor(R() * 20000);
    const out = this.stream(s, r, 'outbound');

    if (external) {
      const ext = `203.0.113.${1 + (c % 20)}`;
      this.add(out, 'tcp', {
        commonProperties: {
          downstreamRemoteAddress: sock(clientIp, eph1),
          downstreamLocalAddress: sock(ext, 443),
          upstreamLocalAddress: ul,
          upstreamRemoteAddress: sock(ext, 443),
          startTime: ts(start),
          tlsProperties: { tlsSniHostname: `api${c % 5}.partner.example` },
          accessLogType: AccessLogType.TcpConnectionEnd,
        },
        connectionProperties: { receivedBytes: sent, sentBytes: recv },
      });
      return;
    }

    const serverIp = workloadIp(T, rr);
    const inb = this.stream(t, rr, 'inbound');
    const bothSides = R() < 0.9;
    // the client's outbound log and the server's inbound log of the same connection (4-tuples match)
    const outCommon = {
      downstreamRemoteAddress: sock(clientIp, eph1),
      downstreamLocalAddress: sock(vipIp(T), SERVICE_PORT),
      upstreamLocalAddress: ul,
      upstreamRemoteAddress: sock(serverIp, SERVICE_PORT),
      startTime: ts(start),
    };
    const inCommon = {
      downstreamRemoteAddress: ul,
      downstreamLocalAddress: sock(serverIp, SERVICE_PORT),
      upstreamLocalAddress: sock('127.0.0.6', eph1),
      upstreamRemoteAddress: sock(serverIp, SERVICE_PORT),
      startTime: ts(start),
    };
    if (R() < 0.55) {
      if (R() < 0.1) {
        this.add(out, 'tcp', {
          commonProperties: { ...outCommon, accessLogType: AccessLogType.TcpPeriodic },
          connectionProperties: { receivedBytes: sent >> 1, sentBytes: recv >> 1 },
        });
      }
      this.add(out, 'tcp', {
        commonProperties: { ...outCommon, accessLogType: AccessLogType.TcpConnectionEnd },
        connectionProperties: { receivedBytes: sent, sentBytes: recv },
      });
      if (bothSides) {
        this.add(inb, 'tcp', {
          commonProperties: { ...inCommon, accessLogType: AccessLogType.TcpConnectionEnd },
          connectionProperties: { receivedBytes: sent, sentBytes: recv },
        });
      }
    } else {
      const request = {
        requestId: `${c.toString(16).padStart(8, '0')}-6b1d-4c4e-9a2f-${((c * 2654435761) >>> 0).toString(16).padStart(12, '0')}`,
        authority: `svc${T}.${this.mesh.namespace}:${SERVICE_PORT}`,
        path: `/api/v1/items/${c % 1000}`,
        requestMethod: c % 4 === 0 ? RequestMethod.POST : RequestMethod.GET,
        requestHeadersBytes: 180,
        requestBodyBytes: c % 4 === 0 ? sent : 0,
      };
      const response = { responseCode: 200, responseHeadersBytes: 120, responseBodyBytes: recv };
      this.add(out, 'http', {
        commonProperties: { ...outCommon, accessLogType: AccessLogType.DownstreamEnd },
        protocolVersion: HTTPAccessLogEntry_HTTPVersion.HTTP11,
        request,
        response,
      });
      if (bothSides) {
        this.add(inb, 'http', {
          commonProperties: { ...inCommon, accessLogType: AccessLogType.DownstreamEnd },
          protocolVersion: HTTPAccessLogEntry_HTTPVersion.HTTP11,
          request,
          response,
        });
      }
    }
  }
}

/** An ALS client that sends batches already encoded. */
export interface RawAlsClient {
  streamAccessLogs(cb: (err: ServiceError | null) => void): ClientWritableStream<Buffer>;
  close(): void;
}

/** The generated service definition with an identity serializer: batches are encoded before the clock starts. */
export const RawAlsClient = makeGenericClientConstructor(
  {
    streamAccessLogs: { ...AccessLogServiceService.streamAccessLogs, requestSerialize: (b: Buffer) => b },
  } as unknown as Parameters<typeof makeGenericClientConstructor>[0],
  'AccessLogService',
) as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options: Record<string, unknown>,
) => RawAlsClient;

/** Sends a stream's batches as fast as HTTP/2 flow control allows, then ends it. */
export async function sendStream(client: RawAlsClient, plan: StreamPlan): Promise<void> {
  let done!: (e: ServiceError | null) => void;
  const finished = new Promise<ServiceError | null>((r) => (done = r));
  const call = client.streamAccessLogs((err) => done(err));
  for (const m of plan.messages) {
    if (!call.write(m)) await once(call, 'drain');
  }
  call.end();
  const err = await finished;
  if (err) throw new Error(`ALS stream ${plan.node}/${plan.logName}: ${err.message}`);
}

/**
 * Offered load instead of saturation: the streams stay open and batches go out at `rate` entries/s in total,
 * round-robin over the streams (what a fleet flushing its buffers every second looks like), until the batches run
 * out or `stop` is aborted; then the streams end. Resolves to the entries written, and whether the batches ran out.
 */
export async function sendPaced(
  clients: ReadonlyMap<string, RawAlsClient>,
  plans: readonly StreamPlan[],
  rate: number,
  stop?: AbortSignal,
): Promise<{ entries: number; exhausted: boolean }> {
  const calls = plans.map((p) => {
    let done!: (e: ServiceError | null) => void;
    const finished = new Promise<ServiceError | null>((r) => (done = r));
    const call = clients.get(p.node)!.streamAccessLogs((err) => done(err));
    return { p, call, finished };
  });
  const queue: { call: ClientWritableStream<Buffer>; msg: Buffer; n: number }[] = [];
  const longest = Math.max(...plans.map((p) => p.messages.length));
  for (let i = 0; i < longest; i++) {
    for (const c of calls) {
      const msg = c.p.messages[i];
      if (msg) queue.push({ call: c.call, msg, n: Math.round(c.p.entries / c.p.messages.length) });
    }
  }
  const t0 = performance.now();
  let sentEntries = 0;
  let next = 0;
  while (next < queue.length && !stop?.aborted) {
    const due = (rate * (performance.now() - t0)) / 1000;
    while (next < queue.length && sentEntries < due) {
      const q = queue[next++]!;
      q.call.write(q.msg);
      sentEntries += q.n;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  for (const c of calls) c.call.end();
  for (const c of calls) {
    const err = await c.finished;
    if (err) throw new Error(`ALS stream ${c.p.node}/${c.p.logName}: ${err.message}`);
  }
  return { entries: sentEntries, exhausted: next >= queue.length };
}
