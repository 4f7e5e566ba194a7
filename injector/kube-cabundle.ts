// The caBundle publisher over the Kubernetes client: keeps every webhook of a webhook configuration (the injector's
// MutatingWebhookConfiguration, the NanoSegment ValidatingWebhookConfiguration) trusting the control plane's CA. Level-triggered: it watches that one configuration and re-applies the bundle whenever the
// object differs from it (created after the control plane started, re-applied by `kubectl apply -k` without a
// caBundle, edited by hand), using the pure patch of cabundle.ts (JSON patch, only the webhooks that need it).
import {
  AdmissionregistrationV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
} from '@kubernetes/client-node';
import { Watched } from '../xds-server/src/inventory/kubernetes/watched.js';
import { describeKubeError } from '../xds-server/src/inventory/kubernetes/errors.js';
import { SILENT, type Logger } from '../xds-server/src/util/logger.js';
import { caBundlePatch, type CaBundlePublisher, type WebhookConfigurationLike } from './cabundle.js';
import { DEFAULT_WEBHOOK_CONFIGURATION } from './config.js';

export interface KubeCaBundlePublisherOptions {
  readonly kubeConfig: KubeConfig;
  /** the configuration's name */
  readonly name?: string;
  /** MutatingWebhookConfiguration (the default) or ValidatingWebhookConfiguration */
  readonly kind?: 'mutating' | 'validating';
  readonly logger?: Logger;
}

/** One bundle, several configurations. */
export function fanOut(publishers: readonly CaBundlePublisher[]): CaBundlePublisher {
  return { publish: async (pem) => void (await Promise.all(publishers.map((p) => p.publish(pem)))) };
}

export class KubeCaBundlePublisher implements CaBundlePublisher {
  readonly name: string;
  private readonly kind: 'mutating' | 'validating';
  private readonly api: AdmissionregistrationV1Api;
  private readonly watched: Watched<KubernetesObject>;
  private readonly log: Logger;
  private bundle: string | undefined;
  private applying: Promise<void> = Promise.resolve();
  private again = false;
  private busy = false;
  private missingLogged = false;
  /** patches applied (for tests and status) */
  patches = 0;

  constructor(opts: KubeCaBundlePublisherOptions) {
    this.name = opts.name ?? DEFAULT_WEBHOOK_CONFIGURATION;
    this.kind = opts.kind ?? 'mutating';
    this.log = opts.logger ?? SILENT;
    this.api = opts.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    const fieldSelector = `metadata.name=${this.name}`;
    this.watched = new Watched<KubernetesObject>({
      kubeConfig: opts.kubeConfig,
      path: `/apis/admissionregistration.k8s.io/v1/${this.kind}webhookconfigurations`,
      fieldSelector,
      list: (() =>
        this.kind === 'mutating'
          ? this.api.listMutatingWebhookConfiguration({ fieldSelector })
          : this.api.listValidatingWebhookConfiguration({ fieldSelector })) as ListPromise<KubernetesObject>,
      onChange: () => this.reconcile(),
      onError: (err) =>
        this.log.warn({ err: describeKubeError(err), name: this.name }, 'watching the webhook configuration failed'),
      resyncMs: 5 * 60_000,
      backoff: { initialMs: 500, maxMs: 30_000 },
    });
  }

  /** Watches the configuration (the bundle is applied once publish() gave one). Idempotent. */
  start(): void {
    this.watched.start();
  }

  async stop(): Promise<void> {
    await this.watched.stop();
  }

  /** Sets the bundle and applies it now; a configuration that does not exist yet gets it when it appears. */
  async publish(bundlePem: string): Promise<void> {
    this.bundle = bundlePem;
    this.start();
    await this.applyNow();
  }

  /** Resolves once no apply is in flight (tests). */
  whenIdle(): Promise<void> {
    return this.applying;
  }

  private reconcile(): void {
    if (this.bundle === undefined) return;
    this.applyNow().catch((err: unknown) =>
      this.log.warn({ err: describeKubeError(err), name: this.name }, 'cannot set the webhook caBundle; retrying'),
    );
  }

  /** One apply at a time; a request during one runs once more after it (the object may have changed again). */
  private applyNow(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return this.applying;
    }
    this.busy = true;
    this.applying = (async () => {
      try {
        do {
          this.again = false;
          await this.applyOnce();
        } while (this.again);
      } finally {
        this.busy = false;
      }
    })();
    return this.applying;
  }

  private async applyOnce(): Promise<void> {
    const bundle = this.bundle;
    if (bundle === undefined) return;
    let conf: WebhookConfigurationLike;
    try {
      conf = (await (this.kind === 'mutating'
        ? this.api.readMutatingWebhookConfiguration({ name: this.name })
        : this.api.readValidatingWebhookConfiguration({ name: this.name }))) as WebhookConfigurationLike;
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) {
        if (!this.missingLogged) {
          this.log.warn(
            { name: this.name },
            `no ${this.kind === 'mutating' ? 'Mutating' : 'Validating'}WebhookConfiguration yet; its caBundle is set when it appears`,
          );
          this.missingLogged = true;
        }
        return;
      }
      throw err;
    }
    this.missingLogged = false;
    const ops = caBundlePatch(conf, bundle);
    if (ops.length === 0) return;
    const patch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    if (this.kind === 'mutating')
      await this.api.patchMutatingWebhookConfiguration({ name: this.name, body: ops }, patch);
    else await this.api.patchValidatingWebhookConfiguration({ name: this.name, body: ops }, patch);
    this.patches++;
    this.log.info({ name: this.name, webhooks: ops.length }, 'webhook caBundle set');
  }
}
