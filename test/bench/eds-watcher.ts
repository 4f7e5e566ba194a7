// A light sidecar for the churn benchmark: one SotW ADS stream (as the injected Envoys use: `api_type: GRPC`) that
// subscribes like Envoy (CDS and LDS wildcard, then EDS for the EDS clusters CDS names), ACKs everything, and decodes
// every EDS response into the set of endpoint addresses it holds, so the benchmark sees the moment a pod's address
// arrives in (or leaves) this sidecar's config. Unlike light-envoy.ts it reads the endpoints: the figure is when they
// changed, not when a response came.
import { SotwAdsClient } from '../support/ads-client.js';
import type { DiscoveryResponse } from '../../proto/gen/envoy/service/discovery/v3/discovery.js';
import { Cluster, Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { ClusterLoadAssignment } from '../../proto/gen/envoy/config/endpoint/v3/endpoint.js';
import { CDS, EDS, LDS } from './light-envoy.js';

export class EdsWatcher {
  private readonly client: SotwAdsClient;
  private edsNames: string[] = [];
  /** every endpoint address of the last EDS response (SotW: all subscribed clusters) */
  addresses = new Set<string>();
  /** when false, EDS responses are ACKed unread (the load generator's CPU, e.g. while 10,000 pods are created) */
  decode = true;
  /** called after each decoded EDS response, with the time it arrived */
  onEds: (at: number, addresses: ReadonlySet<string>) => void = () => {};
  readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(address: string, id: string, cluster: string) {
    this.ready = new Promise((r) => (this.markReady = r));
    const c: SotwAdsClient = new SotwAdsClient(address, { id, cluster }, { ackPolicy: (res) => this.observe(c, res) });
    this.client = c;
    c.request(CDS);
    c.request(LDS);
  }

  private observe(c: SotwAdsClient, res: DiscoveryResponse): undefined {
    const at = performance.now();
    c.responses.splice(0); // nothing is read back: keep the load generator's memory flat
    if (res.typeUrl === CDS) {
      const names = res.resources
        .map((a) => Cluster.decode(a.value))
        .filter((cl) => cl.type === Cluster_DiscoveryType.EDS)
        .map((cl) => cl.edsClusterConfig?.serviceName || cl.name)
        .sort();
      if (names.join('\n') !== this.edsNames.join('\n')) {
        this.edsNames = names;
        queueMicrotask(() => c.request(EDS, names));
      }
    } else if (res.typeUrl === EDS && this.decode) {
      const seen = new Set<string>();
      for (const a of res.resources)
        for (const loc of ClusterLoadAssignment.decode(a.value).endpoints)
          for (const e of loc.lbEndpoints) {
            const ip = e.endpoint?.address?.socketAddress?.address;
            if (ip) seen.add(ip);
          }
      this.addresses = seen;
      if (seen.size > 0) this.markReady();
      this.onEds(at, seen);
    }
    return undefined;
  }

  close(): void {
    this.client.close();
  }
}
