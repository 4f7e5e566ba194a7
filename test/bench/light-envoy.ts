// One light Envoy for the ADS fan-out benchmark: an ADS stream on a connection of its own that subscribes like Envoy
// (CDS and LDS wildcard; EDS for the EDS clusters and RDS for the routes those name), ACKs everything, and records
// per round when the EDS change arrived and how many bytes it took. The responses' wire sizes are recorded by the
// client's deserializer, so the load generator does not re-encode what it received to measure it.
import { credentials, makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import {
  AggregatedDiscoveryServiceService,
  type AggregatedDiscoveryServiceClient,
} from '../../proto/gen/envoy/service/discovery/v3/ads.js';
import { DeltaDiscoveryResponse, DiscoveryResponse } from '../../proto/gen/envoy/service/discovery/v3/discovery.js';
import { Cluster, Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { Listener } from '../../proto/gen/envoy/config/listener/v3/listener.js';
import { HttpConnectionManager } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { DeltaAdsClient, SotwAdsClient } from '../support/ads-client.js';
import { LEN, Reader } from '../../xds-server/src/serve/wire-reader.js';

export const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export type Kind = 'sotw' | 'delta';

const sizes = new WeakMap<object, number>();
/** The encoded size of a response as it came off the wire. */
function wireSize(res: object): number {
  return sizes.get(res) ?? NaN;
}
const measured =
  <T extends object>(decode: (b: Buffer) => T) =>
  (b: Buffer): T => {
    const r = decode(b);
    sizes.set(r, b.length);
    return r;
  };
/** Each top-level field of an encoded message: its number, where it starts (tag included) and ends, and where its
 * value starts. Read with the control plane's own protobuf reader (serve/wire-reader.ts). */
function eachField(b: Buffer, visit: (num: number, start: number, end: number, valueStart: number) => void): void {
  const r = new Reader(b, 0, b.length);
  while (r.pos < r.end) {
    const start = r.pos;
    const t = r.tag();
    let valueStart = r.pos;
    if ((t & 7) === LEN) valueStart = r.len();
    else r.skip(t);
    visit(t >>> 3, start, r.pos, valueStart);
  }
}

/** The top-level type_url (field 4 of both response messages), found by skipping the other fields. */
export function responseTypeUrl(b: Buffer): string | undefined {
  let t: string | undefined;
  eachField(b, (num, _s, end, v) => {
    if (num === 4) t = b.toString('utf8', v, end);
  });
  return t;
}

/** A copy of the response without its resources (field 2): the generated codec decodes the rest. */
export function withoutResources(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  eachField(b, (num, start, end) => {
    if (num !== 2) parts.push(b.subarray(start, end));
  });
  return Buffer.concat(parts);
}

/**
 * What a light Envoy decodes of a response: everything for CDS and LDS (it subscribes to the names they carry), but
 * for EDS and RDS only what the ACK needs (version, nonce, type): a real Envoy decodes its endpoints in its own
 * process, and decoding 2,000 copies of them here would let the load generator, not the control plane, set the
 * last-ACK time. The resources of such a response read as empty.
 */
const lean =
  <T>(codec: { decode(b: Buffer): T }) =>
  (b: Buffer): T => {
    const t = responseTypeUrl(b);
    return codec.decode(t === EDS || t === RDS ? withoutResources(b) : b);
  };

const MeasuringAdsClient = makeGenericClientConstructor(
  {
    streamAggregatedResources: {
      ...AggregatedDiscoveryServiceService.streamAggregatedResources,
      responseDeserialize: measured(lean(DiscoveryResponse)),
    },
    deltaAggregatedResources: {
      ...AggregatedDiscoveryServiceService.deltaAggregatedResources,
      responseDeserialize: measured(lean(DeltaDiscoveryResponse)),
    },
  } as unknown as ServiceDefinition,
  'envoy.service.discovery.v3.AggregatedDiscoveryService',
);

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

export interface Round {
  readonly t0: number;
  bytes: number;
  responses: number;
  ackAt?: number;
}

export class LightEnvoy {
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
    this.channel = new MeasuringAdsClient(address, credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    }) as unknown as AggregatedDiscoveryServiceClient;
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
    this.observe(res.typeUrl, () => wireSize(res));
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
    this.observe(res.typeUrl, () => wireSize(res));
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
