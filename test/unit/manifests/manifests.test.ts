// The kustomize base parses, its files reference each other consistently, and the committed CRD is exactly what
// scripts/gen-crd.mjs generates from the schema in code (and that schema compiles and validates a NanoSegment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { Ajv } from 'ajv';
import { projectRoot } from '../../../xds-server/src/util/envoy.js';
import { crdYaml, CRD_FILE } from '../../../xds-server/src/inventory/kubernetes/crd-yaml.js';
import { NANOSEGMENT_SPEC_SCHEMA } from '../../../xds-server/src/inventory/kubernetes/crd.js';
import {
  DEFAULT_VALIDATING_CONFIGURATION,
  INJECT_ENABLED,
  INJECT_LABEL,
  INJECT_PATH,
  VALIDATE_PATH,
} from '../../../injector/index.js';
import { dig } from '../../support/dig.js';
import { buildProgram } from '../../../xds-server/src/cli/program.js';

const BASE = join(projectRoot(), 'manifests', 'base');
const OVERLAY = join(projectRoot(), 'manifests', 'overlays', 'test-cluster');
type Obj = Record<string, unknown>;

function load(dir = BASE, files?: string[]): Obj[] {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return (files ?? k.resources).flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
      assert.equal(d.errors.length, 0, `${f}: ${d.errors[0]?.message}`);
      return d.toJS() as Obj;
    }),
  );
}
const find = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x.kind === kind && dig(x, 'metadata', 'name') === name);
  assert.ok(o, `no ${kind} ${name}`);
  return o;
};

test('manifests: the committed CRD is the generated one (node scripts/gen-crd.mjs after a build)', () => {
  assert.equal(readFileSync(CRD_FILE, 'utf8'), crdYaml(), 'run `npm run -s build && node scripts/gen-crd.mjs`');
});

test('manifests: every object has apiVersion, kind and a name; namespaced ones live in nanoseg-system', () => {
  const objs = load();
  const clusterScoped = new Set([
    'Namespace',
    'CustomResourceDefinition',
    'ClusterRole',
    'ClusterRoleBinding',
    'MutatingWebhookConfiguration',
    'ValidatingWebhookConfiguration',
  ]);
  for (const o of objs) {
    assert.ok(typeof o.apiVersion === 'string' && typeof o.kind === 'string' && dig(o, 'metadata', 'name'));
    if (!clusterScoped.has(o.kind as string))
      assert.equal(dig(o, 'metadata', 'namespace'), 'nanoseg-system', String(o.kind));
  }
});

test('manifests: webhook → Service → Deployment port; RBAC → ServiceAccount; PVC; label selector matches the injector', () => {
  const objs = load();
  const mwc = find(objs, 'MutatingWebhookConfiguration', 'nanoseg-injector');
  const hook = dig(mwc, 'webhooks', 0) as Obj;
  assert.equal(hook.sideEffects, 'None');
  assert.equal(hook.failurePolicy, 'Fail');
  assert.ok((hook.timeoutSeconds as number) <= 10);
  assert.deepEqual(hook.admissionReviewVersions, ['v1']);
  assert.deepEqual(dig(hook, 'namespaceSelector', 'matchLabels'), { [INJECT_LABEL]: INJECT_ENABLED });
  const svcRef = dig(hook, 'clientConfig', 'service') as Obj;
  assert.equal(svcRef.path, INJECT_PATH);
  const svc = find(objs, 'Service', svcRef.name as string);
  assert.equal(svcRef.namespace, dig(svc, 'metadata', 'namespace'));
  const port = (dig(svc, 'spec', 'ports') as Obj[]).find((p) => p.port === svcRef.port);
  assert.ok(port, 'the webhook port exists on the Service');
  const deploy = find(objs, 'Deployment', 'nanoseg-control-plane');
  const podLabels = dig(deploy, 'spec', 'template', 'metadata', 'labels') as Obj;
  for (const s of objs.filter((o) => o.kind === 'Service')) {
    for (const [k, v] of Object.entries(dig(s, 'spec', 'selector') as Obj))
      assert.equal(podLabels[k], v, `Service selector ${k}`);
    for (const p of dig(s, 'spec', 'ports') as Obj[]) {
      const names = (dig(deploy, 'spec', 'template', 'spec', 'containers', 0, 'ports') as Obj[]).map((c) => c.name);
      assert.ok(names.includes(p.targetPort), `targetPort ${String(p.targetPort)} is a container port`);
    }
  }
  assert.deepEqual(dig(deploy, 'spec', 'selector', 'matchLabels'), podLabels);
  const sa = dig(deploy, 'spec', 'template', 'spec', 'serviceAccountName');
  find(objs, 'ServiceAccount', sa as string);
  const binding = find(objs, 'ClusterRoleBinding', 'nanoseg-control-plane');
  assert.equal(dig(binding, 'subjects', 0, 'name'), sa);
  find(objs, 'ClusterRole', dig(binding, 'roleRef', 'name') as string);
  const volumes = dig(deploy, 'spec', 'template', 'spec', 'volumes') as Obj[];
  const claim = volumes.map((v) => dig(v, 'persistentVolumeClaim', 'claimName')).find((c) => c !== undefined);
  find(objs, 'PersistentVolumeClaim', claim as string);
  const args = dig(deploy, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
  assert.equal(args[0], 'serve', 'the control plane runs a real nanoseg subcommand');
  // RBAC lets the control plane patch exactly its webhook configuration (caBundle)
  const role = find(objs, 'ClusterRole', 'nanoseg-control-plane');
  const mwcRule = (dig(role, 'rules') as Obj[]).find((r) =>
    (r.resources as string[]).includes('mutatingwebhookconfigurations'),
  );
  assert.deepEqual(mwcRule?.resourceNames, ['nanoseg-injector']);
});

test('manifests: the NanoSegment validating webhook reaches the same Service on /validate; RBAC patches only it', () => {
  const objs = load();
  const vwc = find(objs, 'ValidatingWebhookConfiguration', DEFAULT_VALIDATING_CONFIGURATION);
  const hook = dig(vwc, 'webhooks', 0) as Obj;
  assert.equal(hook.sideEffects, 'None');
  assert.equal(hook.failurePolicy, 'Fail');
  assert.ok((hook.timeoutSeconds as number) <= 10);
  assert.deepEqual(hook.admissionReviewVersions, ['v1']);
  assert.deepEqual(dig(hook, 'rules', 0), {
    apiGroups: ['nanoseg.io'],
    apiVersions: ['v1alpha1'],
    operations: ['CREATE', 'UPDATE'],
    resources: ['nanosegments'],
    scope: 'Namespaced',
  });
  const svcRef = dig(hook, 'clientConfig', 'service') as Obj;
  assert.equal(svcRef.path, VALIDATE_PATH);
  const injector = dig(find(objs, 'MutatingWebhookConfiguration', 'nanoseg-injector'), 'webhooks', 0, 'clientConfig');
  assert.deepEqual({ ...svcRef, path: INJECT_PATH }, dig(injector, 'service'), 'the same server as the injector');
  const role = find(objs, 'ClusterRole', 'nanoseg-control-plane');
  const rule = (dig(role, 'rules') as Obj[]).find((r) =>
    (r.resources as string[]).includes('validatingwebhookconfigurations'),
  );
  assert.deepEqual(rule?.resourceNames, [DEFAULT_VALIDATING_CONFIGURATION]);
});

test('manifests: the CRD spec schema compiles and validates a NanoSegment spec', () => {
  const validate = new Ajv({ strict: false }).compile(NANOSEGMENT_SPEC_SCHEMA);
  assert.ok(
    validate({
      mode: 'enforce',
      l7: false,
      ingress: [{ peer: { service: 'shop/web' }, protocol: 'http', port: 9090 }],
      egress: [{ peer: { cidr: '203.0.113.10/32', sni: 'payments' }, protocol: 'tcp', port: 443 }],
    }),
  );
  assert.equal(validate({ mode: 'block' }), false);
  assert.equal(validate({ ingress: [{ peer: { service: 'Shop/Web' }, protocol: 'http', port: 1 }] }), false);
  assert.equal(validate({ egress: [{ peer: {}, protocol: 'tcp', port: 70000 }] }), false);
  const crd = parse(readFileSync(CRD_FILE, 'utf8')) as Obj;
  assert.deepEqual(dig(crd, 'spec', 'versions', 0, 'subresources'), { status: {} });
  const cols = (dig(crd, 'spec', 'versions', 0, 'additionalPrinterColumns') as Obj[]).map((c) => c.name);
  assert.deepEqual(cols.slice(0, 4), ['State', 'Mode', 'Confidence', 'Edges']);
});

/** the long options a `nanoseg` subcommand accepts (its own and the program's), as `--name` */
function subcommandOptions(name: string): Set<string> {
  const program = buildProgram();
  const sub = program.commands.find((c) => c.name() === name);
  assert.ok(sub, `nanoseg has a ${name} subcommand`);
  return new Set([...sub.options, ...program.options].map((o) => o.long ?? ''));
}
const serveOptions = () => subcommandOptions('serve');
const assertArgs = (command: string, args: string[], where: string, known: Set<string>) => {
  assert.equal(args[0], command, `${where}: runs nanoseg ${command}`);
  for (const a of args.slice(1))
    assert.ok(known.has(a.split('=')[0] ?? ''), `${where}: ${a} is an option of nanoseg ${command}`);
};
const assertServeArgs = (args: string[], where: string, known: Set<string>) => assertArgs('serve', args, where, known);

test('manifests: the control plane arguments of the base and of the test-cluster overlay are options serve knows', () => {
  const known = serveOptions();
  const base = find(load(), 'Deployment', 'nanoseg-control-plane');
  assertServeArgs(dig(base, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[], 'base', known);
  const k = parse(readFileSync(join(OVERLAY, 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
    patches: { path: string }[];
  };
  assert.ok(k.resources.includes('../../base'), 'the overlay builds on the base');
  const patches = load(
    OVERLAY,
    k.patches.map((p) => p.path),
  );
  const patch = find(patches, 'Deployment', 'nanoseg-control-plane');
  assertServeArgs(dig(patch, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[], 'overlay', known);
  // the patched claim binds the overlay's volume, and that volume is claimed by the base's claim only
  const volume = find(load(OVERLAY, k.resources.slice(1)), 'PersistentVolume', 'nanoseg-state');
  const claim = find(patches, 'PersistentVolumeClaim', 'nanoseg-state');
  assert.equal(dig(claim, 'spec', 'volumeName'), dig(volume, 'metadata', 'name'));
  assert.deepEqual(dig(volume, 'spec', 'claimRef'), { namespace: 'nanoseg-system', name: 'nanoseg-state' });
  find(load(), 'PersistentVolumeClaim', 'nanoseg-state');
});

test('manifests: the node agent DaemonSet runs nanoseg node-agent on the node network, as the account serve trusts', () => {
  const objs = load();
  const ds = find(objs, 'DaemonSet', 'nanoseg-node-agent');
  const pod = dig(ds, 'spec', 'template', 'spec') as Obj;
  assert.equal(pod.hostNetwork, true, "the rules go to the node's own namespace");
  const c = dig(pod, 'containers', 0) as Obj;
  const known = subcommandOptions('node-agent');
  assertArgs('node-agent', c.args as string[], 'base DaemonSet', known);
  assert.deepEqual(dig(c, 'securityContext', 'capabilities'), { drop: ['ALL'], add: ['NET_ADMIN'] });
  assert.deepEqual(dig(c, 'env', 0, 'valueFrom'), { fieldRef: { fieldPath: 'spec.nodeName' } });
  // its token (audience nanoseg) at the path node-agent reads by default, as the account serve --node-agents trusts
  const token = dig(pod, 'volumes', 0, 'projected', 'sources', 0, 'serviceAccountToken') as Obj;
  assert.equal(token.audience, 'nanoseg');
  const mount = (c.volumeMounts as Obj[]).find((m) => m.name === dig(pod, 'volumes', 0, 'name'));
  assert.equal(`${mount?.mountPath as string}/${token.path as string}`, '/var/run/secrets/nanoseg/token');
  const cp = dig(find(objs, 'Deployment', 'nanoseg-control-plane'), 'spec', 'template', 'spec', 'containers', 0);
  const cpArgs = dig(cp, 'args') as string[];
  assert.ok(cpArgs.includes('--node-agents'), 'the control plane serves the node agents');
  const account = cpArgs.find((a) => a.startsWith('--node-agent-account='))?.split('=')[1];
  const defaultAccount = buildProgram()
    .commands.find((x) => x.name() === 'serve')!
    .options.find((o) => o.long === '--node-agent-account')!.defaultValue as string;
  assert.equal(`nanoseg-system/${pod.serviceAccountName as string}`, account ?? defaultAccount);
  find(objs, 'ServiceAccount', pod.serviceAccountName as string);
  // RBAC: reading the injector's caBundle (the control plane's CA), nothing else
  const binding = find(objs, 'ClusterRoleBinding', 'nanoseg-node-agent');
  assert.equal(dig(binding, 'subjects', 0, 'name'), pod.serviceAccountName);
  assert.deepEqual(dig(find(objs, 'ClusterRole', dig(binding, 'roleRef', 'name') as string), 'rules'), [
    {
      apiGroups: ['admissionregistration.k8s.io'],
      resources: ['mutatingwebhookconfigurations'],
      resourceNames: ['nanoseg-injector'],
      verbs: ['get'],
    },
  ]);
  const k = parse(readFileSync(join(OVERLAY, 'kustomization.yaml'), 'utf8')) as { patches: { path: string }[] };
  const patch = find(
    load(
      OVERLAY,
      k.patches.map((p) => p.path),
    ),
    'DaemonSet',
    'nanoseg-node-agent',
  );
  assertArgs(
    'node-agent',
    dig(patch, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[],
    'overlay',
    known,
  );
});
