// Kernel log lines (ebpf-redirect/nflog/nflog-reader.c, fed by the rules generate/kernel.ts writes) → ObservedFlows.
// Pure, never throws: what cannot be used is a rejection with a kind.
//
//   `nsg obs`           a new udp or icmp flow that passed: an observation (learned like TCP from Envoy)
//   `nsg wd SIDE`       monitor: would be denied by SIDE of the policy (egress: the source's, ingress: the
//                       destination's); udp/icmp are observed too (as Envoy reports would-deny TCP), TCP is not
//   `nsg deny SIDE`     enforce: dropped; an alert, never evidence
//   `nsg spoof`         a frame whose source the inventory does not bind to its port: counted, not attributed
//
// One flow counts once: every line of a flow carries the same dedup key (5-tuple, or the echo id for icmp), so
// the verdict line and the observation line of the same packet, and a flow seen again after conntrack forgot it,
// are deduplicated by the learner like the two access-log entries of one TCP connection. TCP observations are
// Envoy's: the kernel reports TCP only for its verdicts (`verdictOnly`), so nothing is counted twice.
import type { IdentityIndex } from '../inventory/identity.js';
import { NO_PORT, isServicePeer, type ObservedFlow, type Protocol, type Verdict } from '../model/index.js';

export type KernelEventKind = 'obs' | 'wd' | 'deny' | 'spoof';

export interface KernelEvent {
  readonly kind: KernelEventKind;
  readonly side?: 'egress' | 'ingress';
  /** IP protocol number */
  readonly proto: number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly icmpType: number;
  readonly icmpId: number;
}

export type KernelLine =
  | { readonly type: 'event'; readonly event: KernelEvent }
  /** the kernel could not deliver `count` log messages (undefined: an unknown number) */
  | { readonly type: 'lost'; readonly count: number | undefined }
  | { readonly type: 'rejected'; readonly kind: string; readonly detail: string };

/** IP protocol numbers (IPv4's protocol, IPv6's next header): ICMPv6 is the `icmp` of an IPv6 flow */
const PROTOCOL_NUMBERS: Readonly<Record<number, Protocol>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp' };
const IPPROTO_ICMPV6 = 58;
const ICMP_ECHO_REQUEST = 8;
const ICMPV6_ECHO_REQUEST = 128;

function int(s: string | undefined): number | undefined {
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined;
  return Number(s);
}

/** One line of the reader's output. */
export function parseKernelLine(line: string): KernelLine {
  const f = line.split('\t');
  if (f[0] === 'L') {
    const n = int(f[1]);
    return { type: 'lost', count: n };
  }
  if (f[0] !== 'P' || f.length !== 9) return { type: 'rejected', kind: 'kernel:malformed', detail: line };
  const words = f[1]!.split(' ');
  if (words[0] !== 'nsg') return { type: 'rejected', kind: 'kernel:prefix', detail: line };
  const kind = words[1] as KernelEventKind;
  const side = words[2] as 'egress' | 'ingress' | undefined;
  const verdictLine = kind === 'wd' || kind === 'deny';
  if (!['obs', 'wd', 'deny', 'spoof'].includes(kind) || (verdictLine && side !== 'egress' && side !== 'ingress'))
    return { type: 'rejected', kind: 'kernel:prefix', detail: line };
  const [proto, sport, dport, icmpType, icmpId] = [f[2], f[5], f[6], f[7], f[8]].map(int);
  if (proto === undefined || sport === undefined || dport === undefined || icmpType === undefined)
    return { type: 'rejected', kind: 'kernel:malformed', detail: line };
  return {
    type: 'event',
    event: {
      kind,
      ...(verdictLine && { side }),
      proto,
      src: f[3]!,
      dst: f[4]!,
      sport,
      dport,
      icmpType,
      icmpId: icmpId ?? -1,
    },
  };
}

export type KernelFlowResult =
  | { readonly ok: true; readonly flow: ObservedFlow }
  /** nothing to learn or alert (an icmp error, traffic between two externals) */
  | { readonly ok: false; readonly kind?: undefined }
  | { readonly ok: false; readonly kind: string; readonly detail: string };

/** One kernel event → the flow the ingest controller takes, attributed through the identity index. */
export function kernelFlow(ev: KernelEvent, index: IdentityIndex, now: number, reporter: string): KernelFlowResult {
  if (ev.kind === 'spoof') return { ok: false };
  const protocol = PROTOCOL_NUMBERS[ev.proto];
  if (protocol === undefined)
    return { ok: false, kind: 'kernel:protocol', detail: `IP protocol ${ev.proto} from ${ev.src} to ${ev.dst}` };
  const echoRequest = ev.proto === IPPROTO_ICMPV6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO_REQUEST;
  if (ev.kind === 'obs' && protocol === 'icmp' && ev.icmpType !== echoRequest) return { ok: false };
  if (ev.kind === 'obs' && protocol === 'tcp') return { ok: false };
  const src = index.ownerOf(ev.src);
  const dst = index.ownerOf(ev.dst);
  if (!isServicePeer(src.peer) && !isServicePeer(dst.peer)) return { ok: false };
  const port = protocol === 'icmp' ? NO_PORT : ev.dport;
  const flowId = protocol === 'icmp' ? `${ev.icmpId}` : `${ev.sport}>${ev.dport}`;
  const obs = {
    time: now,
    side: ev.side === 'ingress' ? ('inbound' as const) : ('outbound' as const),
    reporter,
    source: src.peer,
    ...(src.workload !== undefined && { sourceWorkload: src.workload }),
    destination: dst.peer,
    port,
    protocol,
    dedupKey: `kernel|${protocol}|${ev.src}|${ev.dst}|${flowId}`,
    bytesSent: 0,
    bytesReceived: 0,
  };
  if (ev.kind === 'obs') return { ok: true, flow: { obs } };
  const enforcerPeer = ev.side === 'egress' ? src.peer : dst.peer;
  if (!isServicePeer(enforcerPeer))
    return { ok: false, kind: 'kernel:unattributed', detail: `${ev.kind} ${ev.side} from ${ev.src} to ${ev.dst}` };
  const verdict: Verdict = ev.kind === 'deny' ? 'denied' : 'would-deny';
  return {
    ok: true,
    flow: {
      obs,
      verdict: {
        verdict,
        point: 'kernel',
        enforcer: enforcerPeer.service,
        detail: `kernel ${ev.side} rule (nft log "nsg ${ev.kind} ${ev.side}")`,
        sourceIp: ev.src,
        destIp: ev.dst,
      },
      ...(protocol === 'tcp' && { verdictOnly: true }),
    },
  };
}
