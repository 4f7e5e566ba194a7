// Who a sidecar is, and what it may do, in Kubernetes mode. Pure: no I/O, no clock of its own.
//
// A sidecar proves who it is with its pod's projected service-account token (audience `nanoseg`), sent as
// `authorization: Bearer <token>` on every gRPC call (ADS, access logs, OTLP). The control plane asks the apiserver
// (TokenReview) what the token stands for; a token bound to a pod names the pod (`authentication.kubernetes.io/
// pod-name`). Everything the sidecar then says about itself must agree with that pod: its Envoy node id is
// `<pod>.<namespace>` (what the injector writes into the bootstrap), so a node id, an access-log identifier or a span's
// node_id naming anything else is refused. The workload — and so the config served and the edges learned — then
// follows from the node id through the inventory, never from what the sidecar declares.

/** The audience the injected token is minted for and TokenReview checks. */
export const TOKEN_AUDIENCE = 'nanoseg';

/** A pod, as a TokenReview of its bound token names it. */
export interface WorkloadIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly pod: string;
  readonly podUid?: string;
}

/** What `TokenReview.status` carries (the fields used here). */
export interface TokenReviewStatus {
  readonly authenticated?: boolean;
  readonly audiences?: readonly string[];
  readonly error?: string;
  readonly user?: {
    readonly username?: string;
    readonly extra?: Readonly<Record<string, readonly string[]>>;
  };
}

export type Refusal =
  'no-token' | 'bad-token' | 'not-a-pod' | 'wrong-audience' | 'review-failed' | 'foreign-node' | 'no-identity';

export type Decision<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: Refusal; readonly detail: string };

/**
 * May this call speak as `nodeId`? The authenticated listener's check (auth/grpc.ts authorizeCall), handed to the
 * ADS, access-log and trace servers alike.
 */
export type AuthorizeCall = (
  call: object,
  nodeId: string,
) => { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly detail: string };

const refuse = <T>(reason: Refusal, detail: string): Decision<T> => ({ ok: false, reason, detail });

const SA_PREFIX = 'system:serviceaccount:';
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';
/** JWT: three base64url parts */
const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The token of an `authorization` header value (`Bearer <token>`). */
export function bearerToken(header: string | undefined): Decision<string> {
  if (header === undefined || header === '') return refuse('no-token', 'no authorization header (Bearer token)');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return refuse('bad-token', 'the authorization header is not "Bearer <token>"');
  if (m[1]!.length > 16 * 1024 || !JWT_RE.test(m[1]!)) return refuse('bad-token', 'the token is not a JWT');
  return { ok: true, value: m[1]! };
}

/**
 * The token's `exp` (ms since epoch), read without checking the signature: only to bound how long a review of it
 * is cached (the apiserver checked the token itself). Undefined when the token says nothing readable.
 */
export function tokenExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  if (part === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pod a TokenReview's answer names. Refused: not authenticated, the audience missing from what the apiserver
 * confirmed, not a service account, or a token bound to no pod (a legacy Secret token names no pod, so it could stand
 * for any pod of the account).
 */
export function identityFromReview(status: TokenReviewStatus, audience = TOKEN_AUDIENCE): Decision<WorkloadIdentity> {
  if (status.authenticated !== true) {
    return refuse(
      'bad-token',
      `the apiserver did not authenticate the token${status.error ? `: ${status.error}` : ''}`,
    );
  }
  if (!(status.audiences ?? []).includes(audience)) {
    return refuse('wrong-audience', `the token is not for the audience "${audience}"`);
  }
  const user = status.user?.username ?? '';
  if (!user.startsWith(SA_PREFIX)) return refuse('not-a-pod', `${user || 'the token'} is not a service account`);
  const [namespace, serviceAccount, ...rest] = user.slice(SA_PREFIX.length).split(':');
  if (!namespace || !serviceAccount || rest.length > 0) return refuse('not-a-pod', `${user}: not namespace:name`);
  const pod = status.user?.extra?.[POD_NAME]?.[0];
  if (!pod) return refuse('not-a-pod', `${user}: the token is bound to no pod (use a projected token)`);
  const podUid = status.user?.extra?.[POD_UID]?.[0];
  return { ok: true, value: { namespace, serviceAccount, pod, ...(podUid !== undefined && { podUid }) } };
}

/** The Envoy node id the injector gives the pod's sidecar: `<pod>.<namespace>`. */
export function nodeIdOf(id: WorkloadIdentity): string {
  return `${id.pod}.${id.namespace}`;
}

/**
 * May the sidecar of `id` speak as `nodeId` (its ADS node, its access-log identifier, its spans' node_id)? Only as
 * its own pod: anything else is a pod posing as another workload.
 */
export function authorizeNode(id: WorkloadIdentity | undefined, nodeId: string): Decision<WorkloadIdentity> {
  if (id === undefined) return refuse('no-identity', 'the call carries no verified identity');
  const own = nodeIdOf(id);
  if (nodeId !== own) {
    return refuse(
      'foreign-node',
      `pod ${id.namespace}/${id.pod} (service account ${id.serviceAccount}) may speak only as node ${own}, not ${nodeId}`,
    );
  }
  return { ok: true, value: id };
}
