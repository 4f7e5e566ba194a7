// Alerts as Kubernetes Events (`serve --kubernetes`): every alert the pipeline emits (already aggregated: the first
// at once, repeats per window with a count) becomes an Event `NanosegDenied` or `NanosegWouldDeny` on the pod that
// made the call — or, when the caller is no pod (an external address), on the pod whose sidecar reported it. Like
// client-go's event spam filter, each pod has a token bucket (burst 25, one more every 5 minutes); Events over it
// are dropped and counted, never queued without bound. Nothing here throws at the pipeline.
import { hostname } from 'node:os';
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Alert } from '../model/index.js';
import { OncePerKind, type Logger } from '../util/logger.js';
import { describeKubeError } from '../inventory/kubernetes/errors.js';

export const DENIED_REASON = 'NanosegDenied';
export const WOULD_DENY_REASON = 'NanosegWouldDeny';
const BURST = 25;
const REFILL_MS = 5 * 60_000;

/** `<pod>.<namespace>` (a sidecar's node id, the inventory's workload name) → the pod. */
export function podOf(workload: string | undefined): { name: string; namespace: string } | undefined {
  const i = workload?.lastIndexOf('.') ?? -1;
  if (!workload || i <= 0 || i === workload.length - 1) return undefined;
  return { name: workload.slice(0, i), namespace: workload.slice(i + 1) };
}

/** Pure: the Event for an alert, or undefined when it names no pod. */
export function eventOf(a: Alert, instance: string): CoreV1Event | undefined {
  const pod = podOf(a.source.workload) ?? podOf(a.reporter);
  if (!pod) return undefined;
  const from = a.source.service ?? a.source.ip;
  const to = `${a.destination.service ?? a.destination.ip}${a.destination.sni ? ` (${a.destination.sni})` : ''}`;
  const verb = a.verdict === 'denied' ? 'denied' : 'would be denied';
  const time = new Date(a.time);
  return {
    metadata: { generateName: `${pod.name}.nanoseg.`, namespace: pod.namespace },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace },
    type: 'Warning',
    reason: a.verdict === 'denied' ? DENIED_REASON : WOULD_DENY_REASON,
    message:
      `${from} → ${to}:${a.destination.port} ${a.protocol} ${verb} (${a.mode}` +
      `${a.point ? `, ${a.point}` : ''}${a.count > 1 ? `, ${a.count} times` : ''}): ${a.reason}`,
    count: a.count,
    firstTimestamp: time,
    lastTimestamp: time,
    source: { component: 'nanoseg' },
    reportingComponent: 'nanoseg.io/control-plane',
    reportingInstance: instance,
  };
}

export interface KubeEventStats {
  readonly sent: number;
  readonly dropped: number;
  readonly failed: number;
}

export class KubeEventSink {
  private readonly api: CoreV1Api;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly once: OncePerKind;
  private readonly instance = hostname();
  private counts = { sent: 0, dropped: 0, failed: 0 };
  private inFlight = 0;

  constructor(
    kubeConfig: KubeConfig,
    log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.once = new OncePerKind(log, 60_000);
  }

  stats(): KubeEventStats {
    return { ...this.counts };
  }

  /** Sends the alert's Event (in the background). */
  report(a: Alert): void {
    const ev = eventOf(a, this.instance);
    if (!ev) return;
    const key = `${ev.involvedObject.namespace}/${ev.involvedObject.name}`;
    if (!this.take(key) || this.inFlight >= 100) {
      this.counts.dropped++;
      return;
    }
    this.inFlight++;
    this.api
      .createNamespacedEvent({ namespace: ev.involvedObject.namespace!, body: ev })
      .then(() => this.counts.sent++)
      .catch((err: unknown) => {
        this.counts.failed++;
        this.once.warn('kube-event', { err: describeKubeError(err), pod: key }, 'cannot create a Kubernetes Event');
      })
      .finally(() => this.inFlight--);
  }

  private take(key: string): boolean {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: BURST, at: now };
    const refill = Math.floor((now - b.at) / REFILL_MS);
    if (refill > 0) {
      b.tokens = Math.min(BURST, b.tokens + refill);
      b.at += refill * REFILL_MS;
    }
    this.buckets.set(key, b);
    if (this.buckets.size > 10_000) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens <= 0) return false;
    b.tokens--;
    return true;
  }
}
