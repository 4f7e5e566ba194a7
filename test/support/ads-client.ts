// In-process ADS client for protocol tests and benchmarks: records every response and ACKs or NACKs them,
// automatically or by hand. One grpc-js channel can be shared by many clients (pass `client`).
import { credentials } from '@grpc/grpc-js';
import type { ClientDuplexStream, StatusObject } from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceClient } from '../../proto/gen/envoy/service/discovery/v3/ads.js';
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from '../../proto/gen/envoy/service/discovery/v3/discovery.js';
import type { Node } from '../../proto/gen/envoy/config/core/v3/base.js';

export interface TestNode {
  readonly id: string;
  readonly cluster?: string;
  readonly metadata?: Record<string, unknown>;
}

/** 'ack' everything, 'manual' (call ack/nack yourself), or a function that returns a NACK message or undefined to ACK. */
export type AckPolicy<Res> = 'ack' | 'manual' | ((res: Res) => string | undefined);

export interface AdsClientOptions<Res> {
  readonly ackPolicy?: AckPolicy<Res>;
  /** A client (channel) to share; otherwise the test client opens and closes its own. */
  readonly client?: AggregatedDiscoveryServiceClient;
  /** An in-process stream instead of a channel (test/support/harness.ts): no socket at all. */
  readonly stream?: ClientDuplexStream<unknown, unknown>;
}

export function adsChannel(address: string): AggregatedDiscoveryServiceClient {
  return new AggregatedDiscoveryServiceClient(address, credentials.createInsecure());
}

interface Waiter<Res> {
  readonly typeUrl: string;
  readonly pred: (res: Res) => boolean;
  readonly resolve: (res: Res) => void;
}

abstract class RecordingClient<Req, Res extends { typeUrl: string }> {
  readonly responses: Res[] = [];
  /** Resolves with the stream's final status. */
  readonly closed: Promise<StatusObject>;
  protected readonly call: ClientDuplexStream<Req, Res>;
  private readonly ownsChannel: boolean;
  private readonly channel: AggregatedDiscoveryServiceClient | undefined;
  private readonly waiters = new Set<Waiter<Res>>();
  private nodeSent = false;

  protected constructor(
    address: string,
    readonly node: TestNode,
    opts: AdsClientOptions<Res>,
    open: (c: AggregatedDiscoveryServiceClient) => ClientDuplexStream<Req, Res>,
  ) {
    this.ownsChannel = !opts.client && !opts.stream;
    this.channel = opts.stream ? undefined : (opts.client ?? adsChannel(address));
    this.call = opts.stream ? (opts.stream as ClientDuplexStream<Req, Res>) : open(this.channel!);
    const policy = opts.ackPolicy ?? 'ack';
    this.closed = new Promise((resolve) => this.call.on('status', resolve));
    this.call.on('error', () => {}); // the final status arrives on 'status'
    this.call.on('data', (res: Res) => {
      this.responses.push(res);
      for (const w of this.waiters) {
        if (w.typeUrl === res.typeUrl && w.pred(res)) {
          this.waiters.delete(w);
          w.resolve(res);
        }
      }
      if (policy === 'manual') return;
      const nack = policy === 'ack' ? undefined : policy(res);
      if (nack === undefined) this.ack(res);
      else this.nack(res, nack);
    });
  }

  abstract ack(res: Res): void;
  abstract nack(res: Res, message: string): void;

  /** The first response of `typeUrl` (already received or still to come) that satisfies `pred`. */
  waitFor(typeUrl: string, pred: (res: Res) => boolean = () => true, timeoutMs = 2000): Promise<Res> {
    const seen = this.responses.find((r) => r.typeUrl === typeUrl && pred(r));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`no ${typeUrl} response matching within ${timeoutMs}ms (${this.count(typeUrl)} received)`));
      }, timeoutMs);
      const w: Waiter<Res> = { typeUrl, pred, resolve: (r) => (clearTimeout(timer), resolve(r)) };
      this.waiters.add(w);
    });
  }

  count(typeUrl: string): number {
    let n = 0;
    for (const r of this.responses) if (r.typeUrl === typeUrl) n++;
    return n;
  }

  last(typeUrl: string): Res | undefined {
    for (let i = this.responses.length - 1; i >= 0; i--)
      if (this.responses[i]!.typeUrl === typeUrl) return this.responses[i];
    return undefined;
  }

  /** Sends a request as is, adding the node to the stream's first one. */
  send(req: Req & { node?: Node }): void {
    if (!this.nodeSent) {
      this.nodeSent = true;
      const { id, cluster = '', metadata } = this.node;
      const node: Node = {
        id,
        cluster,
        metadata,
        userAgentName: 'nanoseg-test',
        dynamicParameters: {},
        extensions: [],
        clientFeatures: [],
        listeningAddresses: [],
      };
      req = { ...req, node };
    }
    this.call.write(req);
  }

  close(): void {
    this.call.end();
    this.call.cancel();
    if (this.ownsChannel) this.channel?.close();
  }
}

export class SotwAdsClient extends RecordingClient<DiscoveryRequest, DiscoveryResponse> {
  private readonly names = new Map<string, string[]>();
  private readonly ackedVersion = new Map<string, string>();
  private readonly lastNonce = new Map<string, string>();

  constructor(address: string, node: TestNode, opts: AdsClientOptions<DiscoveryResponse> = {}) {
    super(address, node, opts, (c) => c.streamAggregatedResources());
    this.call.on('data', (res: DiscoveryResponse) => this.lastNonce.set(res.typeUrl, res.nonce));
  }

  /** Subscribes (or changes the subscription) like Envoy: last ACKed version and last nonce of the type. */
  request(typeUrl: string, names: string[] = [], over: Partial<DiscoveryRequest> = {}): void {
    this.names.set(typeUrl, names);
    this.send({
      versionInfo: this.ackedVersion.get(typeUrl) ?? '',
      resourceNames: names,
      resourceLocators: [],
      typeUrl,
      responseNonce: this.lastNonce.get(typeUrl) ?? '',
      ...over,
    });
  }

  ack(res: DiscoveryResponse): void {
    this.ackedVersion.set(res.typeUrl, res.versionInfo);
    this.send({
      versionInfo: res.versionInfo,
      resourceNames: this.names.get(res.typeUrl) ?? [],
      resourceLocators: [],
      typeUrl: res.typeUrl,
      responseNonce: res.nonce,
    });
  }

  nack(res: DiscoveryResponse, message: string): void {
    this.send({
      versionInfo: this.ackedVersion.get(res.typeUrl) ?? '',
      resourceNames: this.names.get(res.typeUrl) ?? [],
      resourceLocators: [],
      typeUrl: res.typeUrl,
      responseNonce: res.nonce,
      errorDetail: { code: 3, message, details: [] },
    });
  }

  acked(typeUrl: string): string | undefined {
    return this.ackedVersion.get(typeUrl);
  }
}

export class DeltaAdsClient extends RecordingClient<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  /** The client's view per type, name → version, as of the responses it ACKed. */
  readonly resources = new Map<string, Map<string, string>>();

  constructor(address: string, node: TestNode, opts: AdsClientOptions<DeltaDiscoveryResponse> = {}) {
    super(address, node, opts, (c) => c.deltaAggregatedResources());
  }

  subscribe(typeUrl: string, names: string[] = [], initialResourceVersions: Record<string, string> = {}): void {
    this.send(deltaRequest(typeUrl, { resourceNamesSubscribe: names, initialResourceVersions }));
  }

  unsubscribe(typeUrl: string, names: string[]): void {
    const view = this.resources.get(typeUrl);
    for (const n of names) view?.delete(n);
    this.send(deltaRequest(typeUrl, { resourceNamesUnsubscribe: names }));
  }

  ack(res: DeltaDiscoveryResponse): void {
    let view = this.resources.get(res.typeUrl);
    if (!view) this.resources.set(res.typeUrl, (view = new Map()));
    for (const r of res.resources) view.set(r.name, r.version);
    for (const n of res.removedResources) view.delete(n);
    this.send(deltaRequest(res.typeUrl, { responseNonce: res.nonce }));
  }

  nack(res: DeltaDiscoveryResponse, message: string): void {
    this.send(deltaRequest(res.typeUrl, { responseNonce: res.nonce, errorDetail: { code: 3, message, details: [] } }));
  }

  versions(typeUrl: string): Record<string, string> {
    return Object.fromEntries(this.resources.get(typeUrl) ?? []);
  }
}

function deltaRequest(typeUrl: string, over: Partial<DeltaDiscoveryRequest>): DeltaDiscoveryRequest {
  return {
    typeUrl,
    resourceNamesSubscribe: [],
    resourceNamesUnsubscribe: [],
    resourceLocatorsSubscribe: [],
    resourceLocatorsUnsubscribe: [],
    initialResourceVersions: {},
    responseNonce: '',
    ...over,
  };
}
