// Steps of the cluster e2e (test/e2e/kubernetes.test.ts) for the NanoSegment spec and the exports: `kubectl apply` of a
// NanoSegment changes its service's mode and policy as `nanoseg policy apply` would, audited as the kubectl user; the
// validating webhook refuses a bad spec naming the field and a mode against the workload's annotation naming the
// annotation, and a refused change changes nothing; `nanoseg policy export --format networkpolicy` is accepted by
// the apiserver (`kubectl apply --dry-run=server`).
import assert from 'node:assert/strict';
import { json, nanoseg, waitFor } from '../support/cli.js';
import type { TestCluster } from '../support/cluster.js';
import type { ServiceView } from '../../xds-server/src/api/views.js';
import type { AuditEvent } from '../../xds-server/src/model/index.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';
import type { NanoSegmentStatus } from '../../xds-server/src/inventory/kubernetes/segment-status.js';
import { rules } from './kubernetes-support.js';

const segment = (name: string, spec: unknown) =>
  JSON.stringify({
    apiVersion: 'nanoseg.io/v1alpha1',
    kind: 'NanoSegment',
    metadata: { name, namespace: 'shop' },
    spec,
  });

interface SegmentJson {
  metadata: { generation: number };
  spec?: unknown;
  status?: Partial<NanoSegmentStatus>;
}

/**
 * shop/web is enforced by its Deployment's annotation (`nanoseg.io/mode=enforce`); shop/api is in learn mode with the
 * learned ingress from shop/web http/9090. Leaves shop/api in monitor with that one rule approved.
 */
export async function segmentSpecSteps(cluster: TestCluster, env: NodeJS.ProcessEnv): Promise<void> {
  const k = (args: string[], input?: string) => cluster.k(args, input);
  const user = k(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']).trim();
  assert.ok(user, 'kubectl says who it is');
  const get = (name: string) => cluster.getJson<SegmentJson>(['-n', 'shop', 'nanosegment', name]);
  const policy = (s: string) => json<PolicyDocument>(['policy', 'show', s], env);
  const audit = () => json<AuditEvent[]>(['audit'], env);
  const shape = (p: PolicyDocument) => ({ mode: p.mode, ingress: rules(p, 'ingress'), egress: rules(p, 'egress') });
  const apiBefore = shape(policy('shop/api'));
  const auditBefore = audit().length;

  // a bad spec is refused by kubectl, naming the field: by the CRD's schema (port range) and by the webhook, which
  // checks the rest with the policy parser (exactly one of service or cidr)
  const schema = cluster.kubectl(
    ['apply', '-f', '-'],
    segment('api', {
      egress: [
        { peer: { service: 'shop/web' }, protocol: 'tcp', port: 8080 },
        { peer: { service: 'shop/web' }, protocol: 'tcp', port: 70000 },
      ],
    }),
  );
  assert.notEqual(schema.code, 0, 'port 70000 is refused');
  assert.match(schema.stderr, /spec\.egress\[1\]\.port/);
  const bad = cluster.kubectl(
    ['apply', '-f', '-'],
    segment('api', {
      mode: 'monitor',
      egress: [
        { peer: { service: 'shop/web' }, protocol: 'tcp', port: 8080 },
        { peer: { service: 'shop/web', cidr: '10.0.0.1/32' }, protocol: 'tcp', port: 5432 },
      ],
    }),
  );
  assert.notEqual(bad.code, 0, `the webhook refuses it: ${bad.stdout}`);
  assert.match(
    bad.stderr,
    /denied the request: nanoseg: NanoSegment shop\/api refused: spec\.egress\[1\]\.peer: exactly one of service or cidr is required/,
  );
  // a mode against the workload's annotation is refused naming the annotation
  const conflict = cluster.kubectl(['apply', '-f', '-'], segment('web', { mode: 'monitor' }));
  assert.notEqual(conflict.code, 0, 'the annotation wins');
  assert.match(
    conflict.stderr,
    /spec\.mode: shop\/web is enforce by annotation nanoseg\.io\/mode=enforce on Deployment shop\/web/,
  );
  // refused changes changed nothing: not the objects, not the services, not the audit trail
  assert.deepEqual(get('api').spec ?? {}, {});
  assert.deepEqual(get('web').spec ?? {}, {});
  assert.deepEqual(shape(policy('shop/api')), apiBefore);
  assert.equal(policy('shop/web').mode, 'enforce');
  assert.equal(audit().length, auditBefore);

  // the round trip: a mode and an approved policy, applied as `nanoseg policy apply` would, audited as the user
  k(
    ['apply', '-f', '-'],
    segment('api', {
      mode: 'monitor',
      ingress: [{ peer: { service: 'shop/web' }, protocol: 'http', port: 9090 }],
      egress: [],
    }),
  );
  const applied = await waitFor(
    'shop/api in monitor with the approved policy',
    () => {
      const p = policy('shop/api');
      return p.mode === 'monitor' ? p : undefined;
    },
    20_000,
    300,
  );
  assert.deepEqual(rules(applied, 'ingress'), ['shop/web http/9090']);
  assert.deepEqual(rules(applied, 'egress'), []);
  assert.equal(json<ServiceView[]>(['services'], env).find((s) => s.name === 'shop/api')?.mode, 'monitor');
  const events = audit().slice(auditBefore);
  assert.deepEqual(
    events.map((e) => [e.action, e.target, e.actor]),
    [
      ['policy-apply', 'shop/api', `kubernetes user ${user} (NanoSegment shop/api)`],
      ['mode', 'shop/api', `kubernetes user ${user} (NanoSegment shop/api)`],
    ],
  );
  // the status says so: the mode in force, the spec applied, its generation observed; kubectl get shows the mode
  const seg = await waitFor(
    'the SpecApplied condition of NanoSegment shop/api',
    () => {
      const o = get('api');
      const c = o.status?.conditions?.find((x) => x.type === 'SpecApplied');
      return c?.status === 'True' && o.status?.observedGeneration === o.metadata.generation ? o : undefined;
    },
    20_000,
    500,
  );
  assert.equal(seg.status?.mode, 'monitor');
  assert.match(k(['-n', 'shop', 'get', 'nanosegments']), /^api\s+learning\s+monitor\s+/m);
  // the same spec applied again is no change (nothing new in the audit trail)
  k(
    ['apply', '-f', '-'],
    segment('api', {
      mode: 'monitor',
      ingress: [{ peer: { service: 'shop/web' }, protocol: 'http', port: 9090 }],
      egress: [],
    }),
  );
  assert.equal(audit().length, auditBefore + 2);
}

/** `nanoseg policy export SERVICE --format networkpolicy` passes the apiserver's own validation. */
export function exportSteps(cluster: TestCluster, env: NodeJS.ProcessEnv, services: readonly string[]): void {
  for (const service of services) {
    const out = nanoseg(['policy', 'export', service, '--format', 'networkpolicy'], env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /kind: NetworkPolicy/);
    const dry = cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], out.stdout);
    assert.equal(
      dry.code,
      0,
      `kubectl apply --dry-run=server of ${service}'s NetworkPolicy: ${dry.stderr}\n${out.stdout}`,
    );
    assert.match(dry.stdout, /networkpolicy\.networking\.k8s\.io\/\S+ (created|configured) \(server dry run\)/);
  }
  // nothing was created
  assert.deepEqual(cluster.getJson<{ items: unknown[] }>(['-n', 'shop', 'networkpolicies']).items, []);
}
