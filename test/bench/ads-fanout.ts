// ADS fan-out: N concurrent ADS streams (one connection each, as N Envoys would have) subscribe like Envoy does
// (CDS and LDS wildcard; EDS for the EDS clusters and RDS for the routes those name) and ACK everything. Once all
// of them hold the initial config, each round PUTs an inventory that adds one replica to one service: one
// ClusterLoadAssignment changes for every node. Measured per round: PUT → last ACK; per stream: the encoded size
// of what it received for the change. SotW and delta run side by side (each against a fresh control plane), so
// the delta/SotW byte ratio comes from one run.
import { credentials } from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceClient } from '../../proto/gen/envoy/service/discovery/v3/ads.js';
import { DeltaDiscoveryResponse, DiscoveryResponse } from '../../proto/gen/envoy/service/discovery/v3/discovery.js';
import { Cluster, Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { Listener } from '../../proto/gen/envoy/config/listener/v3/listener.js';
import { HttpConnectionManager } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { DeltaAdsClient, SotwAdsClient } from '../support/ads-client.js';
import type { Benchmark, Metric } from './types.js';
import { ControlPlaneChild, pinSelf } from './child.js';
import { makeInventory, type MeshSpec } from './inventory.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

const MESH: MeshSpec = { services: 50, replicas: 2, namespace: 'bench' };

type Kind = 'sotw' | 'delta';

// ---- what Envoy subscribes to, decoded once per distinct resource body ---------------------------------------

const edsNameMemo = new Map<string, string | null>();
const rdsNamesMemo = new Map<string, string[]>();

/** The EDS service name of a cluster, or null when it is not an EDS cluster. */
function edsNameOf(key: string, body: Uint8Array): string | null {
  let v = edsNameMemo.get(key);
  if (v === undefined) {
    const c = Cluster.decode(body);
    v = c.type === Cluster_DiscoveryType.EDS ? c.edsClusterConfig?.serviceName || c.name : null;
    edsNameMemo.set(key, v);
  }
  return v;
}

/** The RDS route names a listener's HTTP connection managers use. */
function rdsNamesOf(key: string, body: Uint8Array): string[] {
  let v = rdsNamesMemo.get(key);
  if (v === undefined) {
    const l = Listener.decode(body);
    const names = new Set<string>();
    for (const fc of [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]) {
      for (const f of fc.filters) {
        if (f.typedConfig?.typeUrl !== HCM) continue;
        const rds = HttpConnectionManager.decode(f.typedConfig.value).rds;
        if (rds?.routeConfigName) names.add(rds.routeConfigName);
      }
    }
    v = [...names].sort();
    rdsNamesMemo.set(key, v);
  }
  return v;
}

// ---- one light Envoy ------------------------------------------------------------------------------------------

interface Round {
  readonly t0: number;
  bytes: number;
  responses: number;
  ackAt?: number;
}

class LightEnvoy {
  private readonly channel: AggregatedDiscoveryServiceClient;
  private readonly client: SotwAdsClient | DeltaAdsClient;
  private readonly acked = new Set<string>();
  private edsNames = new Set<string>();
  private rdsNames = new Set<string>();
  readonly ready: Promise<void>;
  private markReady!: () => void;
  round?: Round;

  constructor(
    readonly kind: Kind,
    address: string,
    readonly id: string,
    cluster: string,
  ) {
    // one connection per Envoy: a channel of its own, not shared through the global subchannel pool
    this.channel = new AggregatedDiscoveryServiceClient(address, credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    });
    this.ready = new Promise((r) => (this.markReady = r));
    const node = { id, cluster };
    if (kind === 'sotw') {
      const c: SotwAdsClient = new SotwAdsClient(address, node, {
        client: this.channel,
        ackPolicy: (res) => this.onSotw(c, res),
      });
      this.client = c;
      c.request(CDS);
      c.request(LDS);
    } else {
      const c: DeltaAdsClient = new DeltaAdsClient(address, node, {
        client: this.channel,
        ackPolicy: (res) => this.onDelta(c, res),
      });
      this.client = c;
      c.subscribe(CDS);
      c.subscribe(LDS);
    }
  }

  /** Called by the test client right before it ACKs `res`: record, then subscribe to what it names. */
  private onSotw(c: SotwAdsClient, res: DiscoveryResponse): undefined {
    this.observe(res.typeUrl, () => DiscoveryResponse.encode(res).finish().length);
    if (res.typeUrl === CDS) {
      const names = res.resources
        .map((a) => edsNameOf(bodyKey(a.value), a.value))
        .filter((n): n is string => n !== null);
      if (!sameSet(names, this.edsNames)) {
        this.edsNames = new Set(names);
        queueMicrotask(() => c.request(EDS, [...this.edsNames]));
      }
    } else if (res.typeUrl === LDS) {
      const names = res.resources.flatMap((a) => rdsNamesOf(bodyKey(a.value), a.value));
      if (!sameSet(names, this.rdsNames)) {
        this.rdsNames = new Set(names);
        queueMicrotask(() => c.request(RDS, [...this.rdsNames]));
      }
    }
    return undefined;
  }

  private onDelta(c: DeltaAdsClient, res: DeltaDiscoveryResponse): undefined {
    this.observe(res.typeUrl, () => DeltaDiscoveryResponse.encode(res).finish().length);
    if (res.typeUrl === CDS) {
      const add = res.resources
        .map((r) => edsNameOf(`${r.name}/${r.version}`, r.resource?.value ?? new Uint8Array()))
        .filter((n): n is string => n !== null && !this.edsNames.has(n));
      for (const n of add) this.edsNames.add(n);
      if (add.length) queueMicrotask(() => c.subscribe(EDS, add));
    } else if (res.typeUrl === LDS) {
      const add = [
        ...new Set(
          res.resources.flatMap((r) => rdsNamesOf(`${r.name}/${r.version}`, r.resource?.value ?? new Uint8Array())),
        ),
      ].filter((n) => !this.rdsNames.has(n));
      for (const n of add) this.rdsNames.add(n);
      if (add.length) queueMicrotask(() => c.subscribe(RDS, add));
    }
    return undefined;
  }

  private observe(typeUrl: string, size: () => number): void {
    const r = this.round;
    if (r && r.ackAt === undefined) {
      r.bytes += size();
      r.responses++;
      if (typeUrl === EDS) r.ackAt = performance.now();
    }
    this.acked.add(typeUrl);
    if (this.acked.has(CDS) && this.acked.has(EDS) && this.acked.has(LDS) && this.acked.has(RDS)) this.markReady();
    // the recorded responses are not needed here; keep the load generator's memory flat
    this.client?.responses.splice(0);
  }

  close(): void {
    this.client.close();
    this.channel.close();
  }
}

/** Memo key of a SotW resource (an Any carries no name): its whole body. */
function bodyKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

function sameSet(a: readonly string[], b: ReadonlySet<string>): boolean {
  if (a.length !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no result in ${ms / 1000} s`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface VariantResult {
  readonly kind: Kind;
  readonly streams: number;
  readonly connectSeconds: number;
  readonly rssPerStream: number;
  readonly heapPerStream: number;
  readonly rssBase: number;
  readonly rssLoaded: number;
  readonly idleCpuPercent: number;
  readonly lastAckMs: number[];
  readonly streamAckMs: number[];
  readonly bytesPerStream: number[];
  readonly responsesPerStream: number[];
  readonly pushCpuMs: number[];
  readonly eventLoopMax: number;
  readonly errors: number;
  readonly errorSamples: string[];
}

async function runVariant(
  kind: Kind,
  streams: number,
  rounds: number,
  idleSeconds: number,
  progress: (m: string) => void,
): Promise<VariantResult> {
  const cp = await ControlPlaneChild.start();
  const envoys: LightEnvoy[] = [];
  try {
    const replicas = new Map<number, number>();
    await cp.api('PUT', '/v1/inventory/lab', makeInventory(MESH, replicas));
    await sleep(300);
    await cp.gc();
    await sleep(200);
    const base = await cp.stats();

    const t0 = performance.now();
    for (let i = 0; i < streams; i++) {
      envoys.push(new LightEnvoy(kind, cp.xdsAddress, `bench-${i}.bench`, `bench/svc${i % 50}`));
      if (i % 100 === 99) await sleep(10); // let connections be accepted in waves, as a fleet restart would
    }
    await withTimeout(
      Promise.all(envoys.map((e) => e.ready)),
      180_000,
      `${kind}: ${streams} streams ACKing the initial config`,
    );
    const connectSeconds = (performance.now() - t0) / 1000;
    progress(`${kind}: ${streams} streams connected and ACKed in ${connectSeconds.toFixed(1)} s`);

    await sleep(1000);
    await cp.gc();
    await sleep(200);
    const loaded = await cp.stats();
    const st = await cp.status();
    if (st.xds.connected !== streams)
      throw new Error(`${kind}: control plane reports ${st.xds.connected} connected streams, expected ${streams}`);

    const cpu0 = cp.cpuSeconds();
    await sleep(idleSeconds * 1000);
    const idleCpuPercent = ((cp.cpuSeconds() - cpu0) / idleSeconds) * 100;
    progress(`${kind}: idle cpu ${idleCpuPercent.toFixed(2)}% of a core over ${idleSeconds} s`);

    const lastAckMs: number[] = [],
      streamAckMs: number[] = [],
      bytesPerStream: number[] = [],
      responsesPerStream: number[] = [],
      pushCpuMs: number[] = [];
    await cp.reset();
    for (let k = 0; k < rounds; k++) {
      const svc = (k * 7) % MESH.services;
      replicas.set(svc, (replicas.get(svc) ?? MESH.replicas) + 1);
      const inv = makeInventory(MESH, replicas);
      const c0 = cp.cpuSeconds();
      const start = performance.now();
      for (const e of envoys) e.round = { t0: start, bytes: 0, responses: 0 };
      await cp.api('PUT', '/v1/inventory/lab', inv);
      await withTimeout(
        (async () => {
          while (envoys.some((e) => e.round!.ackAt === undefined)) await sleep(5);
        })(),
        60_000,
        `${kind} round ${k + 1}: every stream ACKing the change`,
      );
      const acks = envoys.map((e) => e.round!.ackAt! - start);
      lastAckMs.push(Math.max(...acks));
      streamAckMs.push(...acks);
      bytesPerStream.push(envoys.reduce((a, e) => a + e.round!.bytes, 0) / streams);
      responsesPerStream.push(envoys.reduce((a, e) => a + e.round!.responses, 0) / streams);
      await sleep(300);
      pushCpuMs.push((cp.cpuSeconds() - c0) * 1000);
      for (const e of envoys) e.round = undefined;
      progress(
        `${kind} round ${k + 1}/${rounds}: last ACK ${lastAckMs[k]!.toFixed(0)} ms, ${bytesPerStream[k]!.toFixed(0)} B/stream`,
      );
      await sleep(200);
    }
    const after = await cp.stats();
    return {
      kind,
      streams,
      connectSeconds,
      rssPerStream: (loaded.rss - base.rss) / streams,
      heapPerStream: (loaded.heapUsed - base.heapUsed) / streams,
      rssBase: base.rss,
      rssLoaded: loaded.rss,
      idleCpuPercent,
      lastAckMs,
      streamAckMs,
      bytesPerStream,
      responsesPerStream,
      pushCpuMs,
      eventLoopMax: after.eventLoop.max,
      errors: after.logged.error + after.logged.warn,
      errorSamples: after.logged.samples,
    };
  } finally {
    for (const e of envoys) e.close();
    await cp.stop();
  }
}

function variantMetrics(r: VariantResult): Metric[] {
  const v = r.kind;
  const KiB = 1024,
    MiB = 2 ** 20;
  const m: Metric[] = [
    { name: `${v}: connect+ACK ${r.streams} streams`, value: r.connectSeconds, unit: 's' },
    {
      name: `${v}: PUT→last ACK p50`,
      value: percentile(r.lastAckMs, 50),
      unit: 'ms',
      note: `over ${r.lastAckMs.length} rounds: ${r.lastAckMs.map((x) => x.toFixed(0)).join(', ')}`,
    },
    {
      name: `${v}: PUT→last ACK p99`,
      value: percentile(r.lastAckMs, 99),
      unit: 'ms',
      target: { op: '<=', value: 1000 },
      note: 'includes the 100 ms debounce',
    },
    { name: `${v}: PUT→ACK per stream p50`, value: percentile(r.streamAckMs, 50), unit: 'ms' },
    {
      name: `${v}: bytes per stream per change`,
      value: percentile(r.bytesPerStream, 50),
      unit: 'B',
      note: 'encoded responses received for one EDS change',
    },
    { name: `${v}: responses per stream per change`, value: percentile(r.responsesPerStream, 50), unit: 'msgs' },
    { name: `${v}: control plane cpu per change`, value: percentile(r.pushCpuMs, 50), unit: 'ms' },
    {
      name: `${v}: rss per stream`,
      value: r.rssPerStream / KiB,
      unit: 'KiB',
      target: { op: '<=', value: 1024 },
      note: `(rss@${r.streams} ${(r.rssLoaded / MiB).toFixed(0)} MiB − rss@0 ${(r.rssBase / MiB).toFixed(0)} MiB) / ${r.streams}, after GC`,
    },
    { name: `${v}: heap per stream`, value: r.heapPerStream / KiB, unit: 'KiB' },
    { name: `${v}: idle cpu, ${r.streams} streams`, value: r.idleCpuPercent, unit: '% core' },
    {
      name: `${v}: event loop max during rounds`,
      value: r.eventLoopMax,
      unit: 'ms',
      note: 'the longest block; p99 hides a single multi-second push',
    },
  ];
  if (r.errors)
    m.push({
      name: `${v}: warnings/errors logged`,
      value: r.errors,
      unit: 'lines',
      target: { op: '<=', value: 0 },
      note: r.errorSamples.join(' | '),
    });
  return m;
}

export const adsFanout: Benchmark = {
  name: 'ads-fanout',
  description:
    '1,000 ADS streams (SotW, then delta): one EDS change → last ACK latency, bytes per stream, memory per stream, idle CPU',
  async run({ quick, progress }) {
    pinSelf(0);
    const streams = quick ? 100 : 1000;
    const rounds = quick ? 2 : 7;
    const idle = quick ? 2 : 10;
    const sotw = await runVariant('sotw', streams, rounds, idle, progress);
    const delta = await runVariant('delta', streams, rounds, idle, progress);
    const ratio = percentile(delta.bytesPerStream, 50) / percentile(sotw.bytesPerStream, 50);
    return [
      ...variantMetrics(sotw),
      ...variantMetrics(delta),
      {
        name: 'delta/SotW bytes per change',
        value: ratio * 100,
        unit: '%',
        target: { op: '<=', value: 5 },
        note: 'same change, same mesh, one run',
      },
    ];
  },
};
