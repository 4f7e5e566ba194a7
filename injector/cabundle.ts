// Keeping the MutatingWebhookConfiguration's caBundle current. The patch is pure (which webhooks of the
// configuration need the bundle, as a JSON patch); publishing it goes through a seam the control plane fills with
// the Kubernetes client (`KubeCaBundlePublisher`), so tests can run without a cluster.

export interface WebhookConfigurationLike {
  readonly metadata?: { readonly name?: string };
  readonly webhooks?: readonly { readonly name: string; readonly clientConfig?: { readonly caBundle?: string } }[];
}

export interface CaBundlePatchOp {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: string;
}

/** Pure: the JSON patch that sets every webhook's caBundle to `bundlePem` (base64, as the API stores it). */
export function caBundlePatch(conf: WebhookConfigurationLike, bundlePem: string): CaBundlePatchOp[] {
  const value = Buffer.from(bundlePem).toString('base64');
  const ops: CaBundlePatchOp[] = [];
  (conf.webhooks ?? []).forEach((w, i) => {
    if (w.clientConfig?.caBundle === value) return;
    ops.push({
      op: w.clientConfig?.caBundle === undefined ? 'add' : 'replace',
      path: `/webhooks/${i}/clientConfig/caBundle`,
      value,
    });
  });
  return ops;
}

/** Where the bundle goes: the apiserver (the control plane), or a recorder in tests. */
export interface CaBundlePublisher {
  publish(bundlePem: string): Promise<void>;
}
