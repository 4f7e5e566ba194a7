// A service's nanoseg policy as the YAML other enforcers read, for users who enforce with their CNI or with Istio:
// a Kubernetes NetworkPolicy (ingress and egress, L3/L4) and an Istio AuthorizationPolicy (ingress only). Pure:
// the policy document (`nanoseg policy show -o json`) in, YAML text out. What cannot be said in the target
// (SNI, nanoseg's egress in Istio) is said in YAML comments, never silently dropped.
//
// Pods are selected by the label the injector puts on every injected pod, `nanoseg.io/workload: <name>`, within
// the service's namespace (`kubernetes.io/metadata.name`, set by the apiserver on every namespace).
import { Document, YAMLMap, isMap, isSeq, type Node } from 'yaml';
import { isServicePeer, type Peer } from '../model/index.js';
import type { DocumentRule, PolicyDocument } from '../policy/index.js';

export const WORKLOAD_LABEL = 'nanoseg.io/workload';
export const NAMESPACE_LABEL = 'kubernetes.io/metadata.name';
export type ExportFormat = 'networkpolicy' | 'istio';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['networkpolicy', 'istio'];

function split(service: string): { namespace: string; name: string } {
  const i = service.indexOf('/');
  return { namespace: service.slice(0, i), name: service.slice(i + 1) };
}

const l4 = (r: DocumentRule): 'TCP' | 'UDP' => (r.protocol === 'udp' ? 'UDP' : 'TCP');

function npPeer(p: Peer): Record<string, unknown> {
  if (!isServicePeer(p)) return { ipBlock: { cidr: p.cidr } };
  const s = split(p.service);
  return {
    namespaceSelector: { matchLabels: { [NAMESPACE_LABEL]: s.namespace } },
    podSelector: { matchLabels: { [WORKLOAD_LABEL]: s.name } },
  };
}

/** One NetworkPolicy rule per (peer, port, protocol): simple to read and to diff, in the document's order. */
function npRules(rules: readonly DocumentRule[], side: 'from' | 'to'): Record<string, unknown>[] {
  return rules.map((r) => ({ [side]: [npPeer(r.peer)], ports: [{ protocol: l4(r), port: r.port }] }));
}

function sniNotes(rules: readonly DocumentRule[]): string[] {
  return rules
    .filter((r) => !isServicePeer(r.peer) && r.peer.sni)
    .map(
      (r) =>
        ` ${(r.peer as { cidr: string }).cidr}:${r.port} is allowed by address only (SNI ${(r.peer as { sni: string }).sni} is not expressible)`,
    );
}

function render(body: Record<string, unknown>, header: readonly string[]): string {
  const doc = new Document(body);
  doc.commentBefore = header.join('\n');
  // peers and ports in flow style, one rule per list item (as `nanoseg policy show -o yaml`)
  const flow = (n: Node | null | undefined, depth: number): void => {
    if (isMap(n)) {
      for (const pair of n.items) {
        const key = String((pair.key as { value?: unknown }).value);
        const v = pair.value as Node | null;
        if (
          (key === 'ports' || key === 'from' || key === 'to' || key === 'source' || key === 'operation') &&
          depth > 2
        ) {
          if (isSeq(v) || isMap(v)) (v as YAMLMap).flow = true;
        } else flow(v, depth + 1);
      }
    } else if (isSeq(n)) for (const item of n.items) flow(item as Node, depth + 1);
  };
  flow(doc.contents, 0);
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** A NetworkPolicy selecting the service's pods, with its ingress and egress rules (both policy types: default deny). */
export function toNetworkPolicy(doc: PolicyDocument): string {
  const s = split(doc.service);
  const header = [
    ` NetworkPolicy for ${doc.service}, exported from nanoseg (mode ${doc.mode ?? 'unknown'}): ingress and egress.`,
    ` Selects pods labelled ${WORKLOAD_LABEL}=${s.name} (the nanoseg injector sets it).`,
    ' Everything not listed is denied, including DNS unless nanoseg learned it as an egress rule.',
    ...sniNotes(doc.egress),
  ];
  return render(
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: `nanoseg-${s.name}`,
        namespace: s.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'nanoseg' },
      },
      spec: {
        podSelector: { matchLabels: { [WORKLOAD_LABEL]: s.name } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: npRules(doc.ingress, 'from'),
        egress: npRules(doc.egress, 'to'),
      },
    },
    header,
  );
}

/**
 * An Istio AuthorizationPolicy (ALLOW) for the service's ingress. Istio authorizes by mTLS identity, so a service
 * peer becomes the principal of its service account, taken to be named as the workload
 * (`cluster.local/ns/<namespace>/sa/<name>`); externals become `ipBlocks`. Istio has no egress authorization at
 * the workload: the output says so and lists what it leaves out.
 */
export function toIstioAuthorizationPolicy(doc: PolicyDocument): string {
  const s = split(doc.service);
  const header = [
    ` Istio AuthorizationPolicy for ${doc.service}, exported from nanoseg (mode ${doc.mode ?? 'unknown'}).`,
    " INGRESS ONLY: Istio authorizes requests to a workload, not what it sends; nanoseg's egress rules",
    ` (${doc.egress.length}) are not in this policy. Enforce them with \`--format networkpolicy\` or an egress gateway.`,
    ' Service peers are matched by their mTLS principal, assuming each runs as a service account named as its',
    ' workload (cluster.local/ns/NAMESPACE/sa/NAME); edit the principals where that is not so.',
    ...(doc.ingress.some((r) => r.protocol === 'udp') ? [' UDP rules are left out: Istio authorizes TCP only.'] : []),
  ];
  const rules = doc.ingress
    .filter((r) => r.protocol !== 'udp')
    .map((r) => {
      const source = isServicePeer(r.peer)
        ? { principals: [`cluster.local/ns/${split(r.peer.service).namespace}/sa/${split(r.peer.service).name}`] }
        : { ipBlocks: [r.peer.cidr] };
      return { from: [{ source }], to: [{ operation: { ports: [String(r.port)] } }] };
    });
  return render(
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: {
        name: `nanoseg-${s.name}`,
        namespace: s.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'nanoseg' },
      },
      spec: { selector: { matchLabels: { [WORKLOAD_LABEL]: s.name } }, action: 'ALLOW', rules },
    },
    header,
  );
}

export function exportPolicy(doc: PolicyDocument, format: ExportFormat): string {
  return format === 'istio' ? toIstioAuthorizationPolicy(doc) : toNetworkPolicy(doc);
}
