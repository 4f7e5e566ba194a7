// The lab file's shape once validated (spec.ts parses and checks it). Types only.
import type { CaptureModeName } from '../sidecar/cgroup.js';
import type { PodUser } from './sandbox.js';

export interface LabPodSpec {
  readonly name: string;
  readonly service: string;
  /** absent: assigned by the planner (and kept across re-applies) */
  readonly address?: string;
  /** the pod's IPv6 address (canonical text); absent in a dual-stack lab: assigned like `address` */
  readonly address6?: string;
  /** one `sh -c` command per process */
  readonly run: readonly string[];
  readonly ports: readonly number[];
  /** who the apps run as; absent: `DEFAULT_POD_USER` (1000:1000). `privileged` only with uid 0. */
  readonly user?: PodUser;
  /** how the pod's TCP reaches its sidecar; absent: the lab's `capture` */
  readonly capture?: CaptureModeName;
  /** ebpf capture: the sk_msg fast path between the app and its sidecar; absent: the lab's `sockmap` */
  readonly sockmap?: boolean;
}

export interface LabExternalSpec {
  readonly name: string;
  readonly address: string;
  /** the external's IPv6 address, if it has one (canonical text; never assigned) */
  readonly address6?: string;
  readonly run: readonly string[];
}

export interface LabSpec {
  readonly name: string;
  readonly subnet: string;
  /** IPv6 subnet of the pods (canonical CIDR): the lab is dual-stack when set, IPv4-only when absent */
  readonly subnet6?: string;
  readonly pods: readonly LabPodSpec[];
  readonly externals: readonly LabExternalSpec[];
  /** run the lab's resolver, a member named `DNS_MEMBER` that pods use for every lab name */
  readonly dns?: boolean;
  readonly capture?: CaptureModeName; // the pods' capture unless a pod says otherwise (default DEFAULT_CAPTURE)
  readonly sockmap?: boolean; // the ebpf pods' fast path unless a pod says otherwise (default DEFAULT_SOCKMAP)
}
