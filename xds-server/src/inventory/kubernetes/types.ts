// The few fields of Kubernetes objects nanoseg reads, as plain data. Pure: the informer adapter hands the client's
// objects in (they are structurally compatible), unit tests write them by hand. Only what is read is declared.

export interface OwnerReference {
  readonly apiVersion?: string;
  readonly kind: string;
  readonly name: string;
  readonly uid?: string;
  readonly controller?: boolean;
}

export interface ObjectMeta {
  readonly name?: string;
  readonly generateName?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
  readonly deletionTimestamp?: string | Date;
}

export interface ContainerPort {
  readonly containerPort: number;
  readonly protocol?: string;
  readonly name?: string;
}

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly ports?: readonly ContainerPort[];
}

export interface Pod {
  readonly metadata?: ObjectMeta;
  readonly spec?: {
    readonly containers?: readonly Container[];
    readonly initContainers?: readonly Container[];
    readonly hostNetwork?: boolean;
    readonly serviceAccountName?: string;
    readonly terminationGracePeriodSeconds?: number;
    readonly volumes?: readonly unknown[];
  };
  readonly status?: {
    readonly phase?: string;
    readonly podIP?: string;
    readonly podIPs?: readonly { readonly ip: string }[];
    /** only the `Ready` condition is read (mapping.ts: a pod not Ready gets no new connections) */
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
  };
}

export interface Namespace {
  readonly metadata?: ObjectMeta;
}

/** ReplicaSet, Job, or any object whose own owner is looked up. */
export interface OwnedObject {
  readonly metadata?: ObjectMeta;
}

export interface KubeService {
  readonly metadata?: ObjectMeta;
  readonly spec?: {
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
    readonly type?: string;
    readonly selector?: Readonly<Record<string, string>>;
  };
}

export interface EndpointSlice {
  readonly metadata?: ObjectMeta;
  readonly addressType?: string;
  readonly endpoints?: readonly {
    readonly addresses: readonly string[];
    readonly targetRef?: { readonly kind?: string; readonly name?: string; readonly namespace?: string };
  }[];
  readonly ports?: readonly { readonly port?: number; readonly protocol?: string; readonly name?: string }[];
}

/** Label EndpointSlices carry to name their Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
