// What the injector puts into a pod, apart from the pod itself: images, the control plane's address, resources.
// Pure data; the control plane builds it from its flags.

export interface InjectorConfig {
  /** Image with Envoy (the sidecar); envoyproxy/envoy by default, a local one in the test cluster. */
  readonly proxyImage: string;
  /** Image with nft and a POSIX shell, for the capture init container. */
  readonly initImage: string;
  /** The control plane's ADS address as the sidecar reaches it (a Service name, or the node's address). */
  readonly xdsAddress: { readonly host: string; readonly port: number };
  readonly proxyResources?: Resources;
  readonly envoyLogLevel?: 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'off';
  readonly envoyConcurrency?: number;
  /**
   * Kubernetes' authenticated xDS: the sidecar reaches `xdsAddress` over TLS (checked against `caBundle`, the control
   * plane's CA, as PEM) and proves who it is with a projected service-account token for `audience`. Undefined: the
   * plaintext channel (tests of the patch alone).
   */
  readonly xdsAuth?: { readonly caBundle: string; readonly audience: string; readonly tokenSeconds?: number };
}

/** The annotation that carries the control plane's CA into the pod (projected as a file through the downward API). */
export const CA_BUNDLE_ANNOTATION = 'nanoseg.io/ca-bundle';
/** The projected volume with the sidecar's token and the CA. */
export const XDS_AUTH_VOLUME = 'nanoseg-xds-auth';

export interface Resources {
  readonly requests?: Readonly<Record<string, string>>;
  readonly limits?: Readonly<Record<string, string>>;
}

export const DEFAULT_PROXY_RESOURCES: Resources = {
  requests: { cpu: '10m', memory: '40Mi' },
  limits: { memory: '256Mi' },
};

export const PROXY_CONTAINER = 'nanoseg-proxy';
export const INIT_CONTAINER = 'nanoseg-init';

/** The MutatingWebhookConfiguration whose caBundle the control plane keeps current (manifests/base/webhook.yaml). */
export const DEFAULT_WEBHOOK_CONFIGURATION = 'nanoseg-injector';
/** The ValidatingWebhookConfiguration of NanoSegments (its caBundle kept current too). */
export const DEFAULT_VALIDATING_CONFIGURATION = 'nanoseg-validator';
/** The webhook Service's names: what the serving certificate is issued for. */
export const DEFAULT_WEBHOOK_DNS_NAMES: readonly string[] = [
  'nanoseg-webhook.nanoseg-system.svc',
  'nanoseg-webhook.nanoseg-system.svc.cluster.local',
];
/** The control plane Service's names: what the xDS TLS listener's certificate is issued for. */
export const DEFAULT_XDS_TLS_NAMES: readonly string[] = [
  'nanoseg-control-plane.nanoseg-system.svc',
  'nanoseg-control-plane.nanoseg-system.svc.cluster.local',
];
