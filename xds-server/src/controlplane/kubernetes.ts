// The Kubernetes side of the composition root (`nanoseg serve --kubernetes`): the cluster as an inventory source,
// alerts as Events, and the sidecar injector — its HTTPS webhook, the certificate rotation that issues its serving
// certificate, and the publishers that keep the caBundles of the MutatingWebhookConfiguration and of the NanoSegment
// ValidatingWebhookConfiguration on the control plane's CA; the authenticated xDS listener's certificate and
// TokenReview authenticator; the NanoSegment status controller, and the spec controller it hands each object to (the
// validating webhook tells it who asked for each accepted spec).
// Wiring only.
import type { KubeConfig } from '@kubernetes/client-node';
import {
  CertRotator,
  caBundle,
  INJECT_ENABLED,
  INJECT_LABEL,
  WebhookServer,
  admitModeAnnotation,
  admitSegment,
  isModeWorkload,
  type InjectorConfig,
  type TlsState,
} from '../../../injector/index.js';
import { TOKEN_AUDIENCE, TokenAuthenticator, kubeTokenReviewer, type Refusal } from '../auth/index.js';
import { ServingCertificate } from '../serve/grpc.js';
import { KubeCaBundlePublisher, fanOut } from '../../../injector/kube-cabundle.js';
import { SegmentSpecController, type SegmentSpecOptions } from '../controllers/segment-spec.js';
import { RecentActors } from '../controllers/recent-actors.js';
import type { ModePin } from '../controllers/policy.js';
import { KubeEventSink } from '../alerts/kube-events.js';
import { loadKubeConfig } from '../inventory/kubernetes/kubeconfig.js';
import { KubernetesInventorySource } from '../inventory/kubernetes/source.js';
import type { SegmentFacts } from '../inventory/kubernetes/segment-status.js';
import { NanoSegmentStatusWriter } from '../inventory/kubernetes/segment-writer.js';
import type { Alert, ServiceName } from '../model/index.js';
import type { Logger } from '../util/logger.js';

export interface KubernetesWebhookOptions {
  readonly host: string;
  readonly port: number;
  /** the serving certificate's names (what the apiserver dials: the webhook Service, or `localhost` in tests) */
  readonly dnsNames: readonly string[];
  /** the MutatingWebhookConfiguration whose caBundle is kept current */
  readonly configuration: string;
  /** the NanoSegment ValidatingWebhookConfiguration whose caBundle is kept current */
  readonly validatingConfiguration: string;
  readonly injector: InjectorConfig;
}

/** The authenticated xDS listener (sidecars over TLS with their service-account token). */
export interface KubernetesXdsTlsOptions {
  /** HOST:PORT of the TLS listener (15012) */
  readonly address: string;
  /** the names (and addresses) sidecars dial, for the serving certificate */
  readonly dnsNames: readonly string[];
  /** the token audience (default `nanoseg`) */
  readonly audience?: string;
}

export interface KubernetesOptions {
  /** undefined: no authenticated xDS listener (and injected sidecars use the plaintext one) */
  readonly xdsTls?: KubernetesXdsTlsOptions;
  /** kubeconfig file; else $KUBECONFIG, ~/.kube/config or in-cluster */
  readonly kubeconfig?: string;
  /** undefined: inventory only, no injector */
  readonly webhook?: KubernetesWebhookOptions;
  /** how long start waits for the first lists */
  readonly syncTimeoutMs?: number;
  /** the TLS state's folder (the state dir) */
  readonly stateDir: string;
}

/** The key of KubernetesIntegration's modeActors: one service set to one mode. */
const modeActorKey = (service: ServiceName, mode: string): string => `${service}|${mode}`;

export class KubernetesIntegration {
  readonly kubeConfig: KubeConfig;
  readonly inventory: KubernetesInventorySource;
  /** alerts as Events on the calling pod */
  readonly events: KubeEventSink;
  private rotator: CertRotator | undefined;
  private publishers: KubeCaBundlePublisher[] = [];
  private specs: SegmentSpecController | undefined;
  /** who set a workload's mode annotation (the validating webhook saw it): `service|mode` → the audit's actor */
  private readonly modeActors = new RecentActors();
  private server: WebhookServer | undefined;
  private webhookPort: number | undefined;
  private segments: NanoSegmentStatusWriter | undefined;
  /** the TLS listener's certificate, kept on the rotator's serving certificate */
  readonly serving = new ServingCertificate();
  private tls: Promise<TlsState> | undefined;

  /** Throws (with what is missing) when no kubeconfig can be found. */
  constructor(
    private readonly opts: KubernetesOptions,
    private readonly log: Logger,
  ) {
    this.kubeConfig = loadKubeConfig(opts.kubeconfig);
    this.inventory = new KubernetesInventorySource({
      kubeConfig: this.kubeConfig,
      logger: log,
      ...(opts.syncTimeoutMs !== undefined && { syncTimeoutMs: opts.syncTimeoutMs }),
    });
    this.events = new KubeEventSink(this.kubeConfig, log);
  }

  /** The webhook's bound port, once started. */
  get port(): number | undefined {
    return this.webhookPort;
  }

  /**
   * The control plane's CA and serving certificate (one for the webhook and the xDS TLS listener: their names
   * together), rotated over time; the CA bundle is published on the webhook configuration when there is a webhook.
   */
  private certificates(): Promise<TlsState> {
    if (this.tls) return this.tls;
    const w = this.opts.webhook;
    const names = [...new Set([...(w?.dnsNames ?? []), ...(this.opts.xdsTls?.dnsNames ?? [])])];
    if (w) {
      this.publishers = [
        new KubeCaBundlePublisher({ kubeConfig: this.kubeConfig, name: w.configuration, logger: this.log }),
        new KubeCaBundlePublisher({
          kubeConfig: this.kubeConfig,
          name: w.validatingConfiguration,
          kind: 'validating',
          logger: this.log,
        }),
      ];
    }
    const rotator = new CertRotator({
      dir: this.opts.stateDir,
      commonName: 'nanoseg-webhook-ca',
      dnsNames: names,
      ...(this.publishers.length > 0 && { publisher: fanOut(this.publishers) }),
      logger: this.log,
      onServing: (tls) => {
        this.server?.setCertificate(tls);
        this.serving.set(tls);
        const cfg = this.injectorConfig();
        if (cfg) this.server?.setConfig(cfg);
      },
    });
    this.rotator = rotator;
    this.tls = rotator.start();
    return this.tls;
  }

  /** What the webhook injects now: with the xDS TLS listener, the current CA bundle for the sidecars. */
  private injectorConfig(): InjectorConfig | undefined {
    const w = this.opts.webhook;
    const state = this.rotator?.current();
    if (!w) return undefined;
    const x = this.opts.xdsTls;
    if (!x || !state) return w.injector;
    return {
      ...w.injector,
      xdsAuth: { caBundle: caBundle(state, Date.now()), audience: x.audience ?? TOKEN_AUDIENCE },
    };
  }

  /** The TLS listener's certificate (issued, then kept current). */
  async startXdsTls(): Promise<void> {
    const tls = await this.certificates();
    this.serving.set(tls.serving);
  }

  /** The TokenReview-backed authenticator of the TLS listener. */
  async authenticator(onRefused: (reason: Refusal) => void): Promise<TokenAuthenticator> {
    return new TokenAuthenticator({
      reviewer: await kubeTokenReviewer(this.kubeConfig),
      audience: this.opts.xdsTls?.audience ?? TOKEN_AUDIENCE,
      onRefused,
    });
  }

  /** Who set `service`'s mode annotation to `mode`, when the validating webhook saw the change (taken once). */
  modeActor(service: ServiceName, mode: string): string | undefined {
    return this.modeActors.take(modeActorKey(service, mode), Date.now());
  }

  /**
   * Starts the webhooks (the inventory source is started by the inventory controller): the injector, and the
   * NanoSegment validation against the mode pins `pinOf` gives. Idempotent.
   */
  async startWebhook(pinOf: (service: ServiceName) => ModePin | undefined): Promise<void> {
    const w = this.opts.webhook;
    if (!w || this.server) return;
    const tls = await this.certificates();
    const labelled = (ns: { metadata?: { labels?: Readonly<Record<string, string>> } }) =>
      ns.metadata?.labels?.[INJECT_LABEL] === INJECT_ENABLED;
    const server = new WebhookServer({
      config: this.injectorConfig() ?? w.injector,
      tls: tls.serving,
      namespaceOf: (name) => this.inventory.namespace(name, labelled),
      ownerOf: (kind, namespace, name) => this.inventory.owner(kind, namespace, name),
      validate: (req) => {
        if (isModeWorkload(req)) {
          const m = admitModeAnnotation(req);
          if (m.admitted?.mode !== undefined)
            this.modeActors.remember(modeActorKey(m.admitted.service, m.admitted.mode), m.admitted.actor, Date.now());
          return m.response;
        }
        const d = admitSegment(req, pinOf);
        if (d.admitted) this.specs?.admit(d.admitted);
        return d.response;
      },
      logger: this.log,
    });
    this.server = server;
    this.webhookPort = await server.start(w.port, w.host);
    this.segments?.start(); // held until the validating webhook serves (the creates go through it)
    this.log.info(
      {
        address: `${w.host}:${this.webhookPort}`,
        configuration: w.configuration,
        validatingConfiguration: w.validatingConfiguration,
        dnsNames: w.dnsNames,
      },
      'sidecar injector and NanoSegment validation webhooks serving',
    );
  }

  /**
   * Starts the NanoSegment status controller over what `facts` returns, and the spec controller over `spec` (the
   * policy controller and the store); the returned function takes each alert (the last denials). Call it before
   * startWebhook, whose admissions it hears. Idempotent.
   */
  startSegments(
    facts: () => readonly Omit<SegmentFacts, 'lastDenied' | 'lastWouldDeny' | 'spec'>[],
    spec: Omit<SegmentSpecOptions, 'logger'>,
  ): (a: Alert) => void {
    const specs = (this.specs ??= new SegmentSpecController({ ...spec, logger: this.log }));
    this.segments ??= new NanoSegmentStatusWriter({
      kubeConfig: this.kubeConfig,
      logger: this.log,
      facts,
      spec: (o) => specs.reconcile(o),
    });
    // with a webhook, its creates go through the validating webhook: they start once it serves (startWebhook)
    if (!this.opts.webhook || this.server) this.segments.start();
    const writer = this.segments;
    return (a) => writer.report(a);
  }

  async stop(): Promise<void> {
    await this.segments?.stop();
    this.rotator?.stop();
    await this.server?.stop();
    for (const p of this.publishers) await p.stop();
    await this.rotator?.whenIdle();
  }
}
