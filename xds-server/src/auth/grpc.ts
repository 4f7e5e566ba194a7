// The authenticated gRPC listener's gate: every call's bearer token is checked (authenticator.ts) before the service's
// handler sees the call, and the pod it names is kept with the call for the services' own checks (the node id a
// stream speaks as: decide.ts authorizeNode). A call that fails is ended with UNAUTHENTICATED and never reaches the
// handler; one whose stream speaks as another pod is ended by the service with PERMISSION_DENIED.
import { status as GrpcStatus, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { TokenAuthenticator } from './authenticator.js';
import { authorizeNode, type Decision, type WorkloadIdentity } from './decide.js';

const identities = new WeakMap<object, WorkloadIdentity>();

/** The pod an authenticated call's token named (undefined: the call did not come through `authenticated`). */
export function identityOf(call: object): WorkloadIdentity | undefined {
  return identities.get(call);
}

/** For the services' `handlers(authorize)`: the call's pod may speak only as its own node. */
export function authorizeCall(call: object, nodeId: string): Decision<WorkloadIdentity> {
  return authorizeNode(identityOf(call), nodeId);
}

interface AnyCall {
  readonly metadata: { get(key: string): unknown[] };
  readonly cancelled?: boolean;
  emit(event: 'error', e: { code: GrpcStatus; details: string }): boolean;
}

type Handler = (call: AnyCall, callback?: (e: { code: GrpcStatus; details: string } | null) => void) => void;

/** Wraps every method of `impl`: the call goes on only once its token names a pod. */
export function authenticated(
  impl: UntypedServiceImplementation,
  auth: TokenAuthenticator,
): UntypedServiceImplementation {
  const out: Record<string, Handler> = {};
  for (const [name, h] of Object.entries(impl)) {
    const inner = h as unknown as Handler;
    out[name] = (call, callback) => {
      const header = call.metadata.get('authorization')[0];
      void auth.authenticate(typeof header === 'string' ? header : undefined).then((d) => {
        if (call.cancelled) return;
        if (!d.ok) {
          const e = { code: GrpcStatus.UNAUTHENTICATED, details: `nanoseg: ${d.detail}` };
          if (callback) callback(e);
          else call.emit('error', e);
          return;
        }
        identities.set(call, d.value);
        inner(call, callback);
      });
    };
  }
  return out as unknown as UntypedServiceImplementation;
}
