import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inject, type InjectResult } from '../../../injector/index.js';
import type { Pod } from '../../../xds-server/src/inventory/kubernetes/types.js';
import { assertGolden } from '../../support/golden.js';
import { dig } from '../../support/dig.js';
import {
  applyPatch,
  BARE_POD,
  CONFIG,
  CRONJOB_POD,
  deploymentPod,
  PLAIN,
  PLAINTEXT_CONFIG,
  SHOP,
  STATEFUL_POD,
  TEST_CA,
} from './fixtures.js';

function patched(r: InjectResult): Extract<InjectResult, { action: 'inject' }> {
  assert.equal(r.action, 'inject', JSON.stringify(r));
  return r as Extract<InjectResult, { action: 'inject' }>;
}

function bootstrapOf(pod: Pod): Record<string, unknown> {
  const proxy = pod.spec!.initContainers!.find((c) => c.name === 'nanoseg-proxy') as unknown as { args: string[] };
  return JSON.parse(proxy.args[proxy.args.indexOf('--config-yaml') + 1]!) as Record<string, unknown>;
}

for (const [name, pod] of [
  ['deployment', deploymentPod()],
  ['statefulset-exclusions', STATEFUL_POD],
  ['cronjob', CRONJOB_POD],
  ['bare-pod', BARE_POD],
] as const) {
  test(`inject: ${name} (golden patch)`, () => {
    const r = patched(inject(pod, SHOP, CONFIG));
    assertGolden(`injector/${name}.json`, r.patch);
    // the patch applies to the pod as sent, adding only (never replacing what the user wrote)
    applyPatch(pod, r.patch);
  });
}

test('inject: the service is the owning workload, never the ReplicaSet hash, Job or pod name', () => {
  assert.equal(patched(inject(deploymentPod(), SHOP, CONFIG)).service, 'shop/web');
  assert.equal(patched(inject(STATEFUL_POD, SHOP, CONFIG)).service, 'shop/db');
  assert.equal(patched(inject(CRONJOB_POD, SHOP, CONFIG)).service, 'shop/report');
  assert.equal(patched(inject(BARE_POD, SHOP, CONFIG)).service, 'shop/debug');
  const pod = applyPatch(deploymentPod(), patched(inject(deploymentPod(), SHOP, CONFIG)).patch);
  const b = bootstrapOf(pod) as { node: { id: string; cluster: string } };
  assert.equal(b.node.cluster, 'shop/web');
  assert.equal(b.node.id, '$(POD_NAME).shop', 'the kubelet substitutes the pod name');
});

test('inject: with the owner looked up, a Job made from a CronJob by hand belongs to the CronJob (not to its name)', () => {
  // `kubectl create job report-manual --from=cronjob/report`: the name says nothing, the Job's owner does
  const pod: Pod = {
    metadata: {
      generateName: 'report-manual-',
      namespace: 'shop',
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'report-manual', controller: true }],
    },
    spec: { containers: [{ name: 'report', image: 'shop/report:1' }] },
  };
  const job = {
    metadata: {
      name: 'report-manual',
      namespace: 'shop',
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'report', controller: true }],
    },
  };
  const asked: string[] = [];
  const lookup = (kind: string, ns: string, name: string) => {
    asked.push(`${kind} ${ns}/${name}`);
    return kind === 'Job' && ns === 'shop' && name === 'report-manual' ? job : undefined;
  };
  const r = patched(inject(pod, SHOP, CONFIG, lookup));
  assert.equal(r.service, 'shop/report');
  assert.deepEqual(asked, ['Job shop/report-manual']);
  const out = applyPatch(pod, r.patch);
  assert.equal(out.metadata?.labels?.['nanoseg.io/workload'], 'report', 'what exported policies select');
  assert.equal((bootstrapOf(out) as { node: { cluster: string } }).node.cluster, 'shop/report');
  // the Job not known: inferred from its name, as before
  assert.equal(patched(inject(pod, SHOP, CONFIG, () => undefined)).service, 'shop/report-manual');
  // a hand-made Job whose name merely looks like a CronJob's is its own workload once it is known
  const lookalike = { metadata: { name: 'report-29001234', namespace: 'shop' } };
  assert.equal(patched(inject(CRONJOB_POD, SHOP, CONFIG, () => lookalike)).service, 'shop/report-29001234');
});

test('inject: capture runs first with NET_ADMIN, then Envoy as 1337 (a native sidecar that waits for config), then the rest', () => {
  const pod = applyPatch(STATEFUL_POD, patched(inject(STATEFUL_POD, SHOP, CONFIG)).patch);
  const inits = dig(pod, 'spec', 'initContainers') as unknown[];
  const init = inits[0];
  assert.deepEqual(
    inits.map((c) => dig(c, 'name')),
    ['nanoseg-init', 'nanoseg-proxy', 'migrate'],
    "the user's init containers run after the sidecar started, in their order",
  );
  assert.deepEqual(
    (dig(pod, 'spec', 'containers') as unknown[]).map((c) => dig(c, 'name')),
    ['postgres'],
    'no container of ours among the app containers (a Job completes when they have)',
  );
  assert.equal(dig(init, 'name'), 'nanoseg-init');
  assert.equal(dig(init, 'restartPolicy'), undefined, 'capture runs once');
  assert.deepEqual(dig(init, 'securityContext', 'capabilities'), { drop: ['ALL'], add: ['NET_ADMIN'] });
  const rules = String(dig(init, 'env', 0, 'value'));
  assert.equal(dig(init, 'env', 0, 'name'), 'NANOSEG_CAPTURE_RULES');
  assert.match(rules, /meta skuid 1337 return/);
  assert.match(rules, /tcp dport \{ 9187, 15021 \} return/, 'excluded inbound ports and the readiness port');
  assert.match(rules, /ip daddr 10\.96\.0\.1\/32 return/);
  assert.match(rules, /ip6 daddr fd00::\/8 return/);
  const proxy = inits[1];
  assert.equal(dig(proxy, 'restartPolicy'), 'Always', 'a native sidecar: it keeps running beside the app');
  assert.deepEqual(dig(proxy, 'lifecycle', 'preStop'), { sleep: { seconds: 2 } }, 'it drains its last access logs');
  assert.deepEqual(dig(proxy, 'startupProbe', 'httpGet'), { path: '/healthz/ready', port: 15021 });
  assert.equal(dig(proxy, 'securityContext', 'runAsUser'), 1337);
  assert.equal(dig(proxy, 'securityContext', 'runAsGroup'), 1337);
  assert.deepEqual(dig(proxy, 'readinessProbe', 'httpGet'), { path: '/healthz/ready', port: 15021 });
  const b = bootstrapOf(pod);
  assert.equal(dig(b, 'dynamic_resources', 'lds_config', 'initial_fetch_timeout'), '0s', 'never LIVE without config');
});

test('inject: idempotent — an injected pod is left alone on re-invocation', () => {
  for (const pod of [deploymentPod(), STATEFUL_POD, CRONJOB_POD, BARE_POD]) {
    const once = applyPatch(pod, patched(inject(pod, SHOP, CONFIG)).patch);
    assert.deepEqual(inject(once, SHOP, CONFIG), { action: 'skip', reason: 'already injected' });
  }
  // a pod that already carries our container (injected by an older webhook without the annotation, as an app
  // container, or now as a native sidecar) too
  const withProxy = deploymentPod();
  const pod: Pod = { ...withProxy, spec: { containers: [...withProxy.spec!.containers!, { name: 'nanoseg-proxy' }] } };
  assert.equal(inject(pod, SHOP, CONFIG).action, 'skip');
  const native: Pod = { ...withProxy, spec: { ...withProxy.spec, initContainers: [{ name: 'nanoseg-proxy' }] } };
  assert.equal(inject(native, SHOP, CONFIG).action, 'skip');
});

test('inject: unlabelled namespaces, opt-out label or annotation, hostNetwork pods are left alone', () => {
  assert.match(
    (inject(deploymentPod(), PLAIN, CONFIG) as { reason: string }).reason,
    /not labelled nanoseg.io\/inject=enabled/,
  );
  const off = { 'nanoseg.io/inject': 'false' };
  assert.equal(inject(deploymentPod({ labels: off }), SHOP, CONFIG).action, 'skip');
  assert.equal(inject(deploymentPod({ annotations: off }), SHOP, CONFIG).action, 'skip');
  assert.equal(inject(deploymentPod({ annotations: { 'nanoseg.io/inject': 'true' } }), SHOP, CONFIG).action, 'inject');
  const host: Pod = { ...BARE_POD, spec: { ...BARE_POD.spec, hostNetwork: true } };
  assert.match((inject(host, SHOP, CONFIG) as { reason: string }).reason, /hostNetwork/);
});

test('inject: bad exclusion annotations are refused, each problem naming its annotation', () => {
  const r = inject(
    deploymentPod({
      annotations: {
        'nanoseg.io/exclude-outbound-ports': '5432,http',
        'nanoseg.io/exclude-inbound-ports': '70000',
        'nanoseg.io/exclude-outbound-ip-ranges': '10.0.0.1/8',
      },
    }),
    SHOP,
    CONFIG,
  );
  assert.equal(r.action, 'refuse');
  const { message, errors } = r as Extract<InjectResult, { action: 'refuse' }>;
  assert.equal(errors.length, 3);
  assert.match(message, /nanoseg\.io\/exclude-outbound-ports: "http" is not a port/);
  assert.match(message, /nanoseg\.io\/exclude-inbound-ports: "70000" is not a port/);
  assert.match(message, /nanoseg\.io\/exclude-outbound-ip-ranges: "10\.0\.0\.1\/8" has host bits set/);
});

test('inject: a workload name that is no nanoseg service name is refused with the way out', () => {
  const pod: Pod = { metadata: { name: 'a.b', namespace: 'shop' }, spec: { containers: [{ name: 'x' }] } };
  const r = inject(pod, SHOP, CONFIG);
  assert.equal(r.action, 'refuse');
  assert.match((r as { message: string }).message, /"shop\/a\.b".*nanoseg\.io\/inject: "false"/);
});

test('inject: the sidecar reaches the control plane over TLS with its projected token, and carries the CA', () => {
  const pod = applyPatch(deploymentPod(), patched(inject(deploymentPod(), SHOP, CONFIG)).patch);
  assert.equal(pod.metadata?.annotations?.['nanoseg.io/ca-bundle'], TEST_CA);
  const volume = (dig(pod, 'spec', 'volumes') as unknown[]).find((v) => dig(v, 'name') === 'nanoseg-xds-auth');
  assert.deepEqual(dig(volume, 'projected', 'sources', 0, 'serviceAccountToken'), {
    audience: 'nanoseg',
    expirationSeconds: 3600,
    path: 'token',
  });
  assert.deepEqual(dig(volume, 'projected', 'sources', 1, 'downwardAPI', 'items', 0), {
    path: 'ca.pem',
    fieldRef: { fieldPath: "metadata.annotations['nanoseg.io/ca-bundle']" },
  });
  const proxy = (dig(pod, 'spec', 'initContainers') as unknown[]).find((c) => dig(c, 'name') === 'nanoseg-proxy');
  assert.deepEqual(dig(proxy, 'volumeMounts'), [
    { name: 'nanoseg-xds-auth', mountPath: '/var/run/secrets/nanoseg', readOnly: true },
  ]);
  const b = bootstrapOf(pod);
  const g = dig(b, 'dynamic_resources', 'ads_config', 'grpc_services', 0, 'google_grpc');
  assert.equal(dig(g, 'target_uri'), 'nanoseg-control-plane.nanoseg-system.svc:15012');
  assert.deepEqual(dig(g, 'channel_credentials'), {
    ssl_credentials: { root_certs: { filename: '/var/run/secrets/nanoseg/ca.pem' } },
  });
  assert.equal(dig(g, 'call_credentials', 0, 'from_plugin', 'typed_config', 'header_key'), 'authorization');
  assert.deepEqual(dig(g, 'call_credentials', 0, 'from_plugin', 'typed_config', 'secret_data'), {
    filename: '/var/run/secrets/nanoseg/token',
  });
  const clusters = dig(b, 'static_resources', 'clusters') as unknown[];
  assert.ok(!clusters.some((c) => dig(c, 'name') === 'xds_cluster'), 'no plaintext cluster to the control plane');
});

test('inject: without the authenticated listener the sidecar gets the plaintext channel and no token', () => {
  const pod = applyPatch(deploymentPod(), patched(inject(deploymentPod(), SHOP, PLAINTEXT_CONFIG)).patch);
  assert.equal(pod.metadata?.annotations?.['nanoseg.io/ca-bundle'], undefined);
  assert.equal(dig(pod, 'spec', 'volumes'), undefined);
  const b = bootstrapOf(pod);
  assert.deepEqual(dig(b, 'dynamic_resources', 'ads_config', 'grpc_services', 0), {
    envoy_grpc: { cluster_name: 'xds_cluster' },
  });
});

test('inject: the sidecar drains for less than the pod’s grace period (the apiserver refuses a longer preStop sleep)', () => {
  const drainOf = (grace?: number) => {
    const base = deploymentPod();
    const pod: Pod = { ...base, spec: { ...base.spec, terminationGracePeriodSeconds: grace } };
    const proxy = (
      dig(applyPatch(pod, patched(inject(pod, SHOP, CONFIG)).patch), 'spec', 'initContainers') as unknown[]
    )[1];
    return dig(proxy, 'lifecycle', 'preStop', 'sleep', 'seconds');
  };
  assert.equal(drainOf(undefined), 2, 'the default grace period is 30 s');
  assert.equal(drainOf(30), 2);
  assert.equal(drainOf(3), 2);
  assert.equal(drainOf(2), 1);
  assert.equal(drainOf(1), undefined, 'no preStop: nothing shorter than 1 s fits');
  assert.equal(drainOf(0), undefined);
});
