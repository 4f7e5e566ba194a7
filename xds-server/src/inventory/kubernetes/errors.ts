// What went wrong talking to the apiserver, in one line a person can act on. client-node reports failures in several
// shapes: ApiException (`code` and the apiserver's Status as `body`), the watch's Error with `statusCode`, and
// node-fetch/system errors (`code` ECONNREFUSED, a TLS failure). Pure.

const HINTS: Record<number, string> = {
  401: 'the credentials in the kubeconfig were refused',
  403: "RBAC: the control plane's account may not list/watch this resource (manifests/base/rbac.yaml)",
  404: 'not found',
};

function statusMessage(body: unknown): string | undefined {
  let b: unknown = body;
  if (typeof body === 'string') {
    try {
      b = JSON.parse(body);
    } catch {
      return body.trim() || undefined;
    }
  }
  const m = (b as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : undefined;
}

export function describeKubeError(err: unknown): string {
  if (err === undefined || err === null) return 'unknown error';
  if (typeof err !== 'object') return String(err);
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown; cause?: unknown };
  const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status !== undefined) {
    const detail = statusMessage(e.body);
    const hint = HINTS[status];
    return `HTTP ${status}${detail ? `: ${detail}` : ''}${hint ? ` (${hint})` : ''}`;
  }
  const msg = typeof e.message === 'string' ? e.message : String(err);
  const cause = e.cause as { message?: unknown } | undefined;
  const extra = cause && typeof cause.message === 'string' && !msg.includes(cause.message) ? `: ${cause.message}` : '';
  return `${msg}${extra}`;
}
