// End to end on a real one-node Kubernetes (test/support/cluster.ts): `nanoseg serve --kubernetes` watches the
// cluster and serves the sidecar injector. Deployments in a labelled namespace come up with the capture init
// container and the Envoy sidecar, which gets its config from the control plane (the pod is Ready only then);
// `nanoseg services` shows the Deployments — never a ReplicaSet or a pod —, a call to a ClusterIP is learned as a
// call to the service behind it, the mode annotation on a Deployment wins over the CLI, deleted pods leave the
// inventory, and a terminating pod never keeps an address a new pod got. Unlabelled namespaces are never touched.
// Each service gets a NanoSegment whose status (written by the control plane) mirrors `nanoseg services`, and whose
// spec, applied with kubectl, changes the service as the CLI would (kubernetes-segments.ts); exported
// NetworkPolicies pass the apiserver's validation. Last, the control plane runs as the manifests deploy it
// (kubernetes-manifests.ts): in a pod, from the locally built image, with the base's RBAC.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ServerProcess, isRoot, json, nanoseg, tempDir, waitFor } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import type { ServiceView, StatusView } from '../../xds-server/src/api/views.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import {
  GHOST_NODE,
  METRICS_PORT,
  caBundlePublished,
  clusterServeArgs,
  api,
  ghostPod,
  inventory,
  type PodJson,
  readyPod,
  rules,
  segments,
  shopAndPlain,
  statusWrites,
  web,
  webhookConfigurations,
} from './kubernetes-support.js';
import { exportSteps, segmentSpecSteps } from './kubernetes-segments.js';
import { poserSteps } from './kubernetes-poser.js';
import { manifestSteps } from './kubernetes-manifests.js';

test(
  'Deployments in a labelled namespace are injected, configured, learned per Deployment and pinned by annotation',
  { skip: !isRoot && 'needs root (a real cluster: cgroups, network namespaces, mounts)', timeout: 50 * 60_000 },
  async (t) => {
    const cluster = TestCluster.start();
    const tmp = tempDir('nanoseg-k8s-');
    const server = new ServerProcess(tmp.dir, [
      ...clusterServeArgs(cluster),
      '--metrics-address',
      `127.0.0.1:${METRICS_PORT}`,
    ]);
    t.after(async () => {
      await server.stop();
      cluster.stop();
      // the node agent's kernel rules outlive it by design: removed here, with the cluster
      spawnSync('nft', ['delete', 'table', 'inet', 'nanoseg'], { stdio: 'ignore' });
      tmp.remove();
    });
    const k = (args: string[], input?: string) => cluster.k(args, input);

    k(['apply', '-f', '-'], webhookConfigurations);
    k(['apply', '-f', join(projectRoot(), 'manifests', 'base', 'crd-nanosegment.yaml')]);
    await waitFor(
      'the NanoSegment CRD to be served',
      () => cluster.kubectl(['get', 'nanosegments', '-A']).code === 0,
      20_000,
      300,
    );
    await server.start();
    const servedAt = Date.now();
    // the control plane owns the webhook's CA and fills the caBundle in
    const caPem = await caBundlePublished(k);
    await waitFor(
      'the caBundle on the ValidatingWebhookConfiguration',
      () =>
        k([
          'get',
          'validatingwebhookconfiguration',
          'nanoseg-validator',
          '-o',
          'jsonpath={.webhooks[0].clientConfig.caBundle}',
        ]).length > 100,
      20_000,
    );

    await shopAndPlain(k);
    // the apiserver picks a webhook configuration up asynchronously: wait until a dry run is mutated
    const dryRun = (ns: string) =>
      JSON.parse(
        k([
          '-n',
          ns,
          'run',
          'probe',
          '--image=local/busybox:1',
          '--image-pull-policy=Never',
          '--dry-run=server',
          '-o',
          'json',
          '--',
          'sleep',
          '1',
        ]),
      ) as PodJson;
    await waitFor(
      'the webhook to mutate pods in shop',
      () => dryRun('shop').spec.initContainers?.length === 2,
      30_000,
      300,
    );
    assert.deepEqual(
      dryRun('plain').spec.containers.map((c) => c.name),
      ['probe'],
      'a pod in an unlabelled namespace is left alone',
    );

    k(['apply', '-f', '-'], api);
    const apiPod = await waitFor(
      'the api pod to be Ready (its sidecar configured over ADS)',
      () => readyPod(cluster, 'api'),
      90_000,
      500,
    ).catch((e: unknown) => {
      // what the sidecar and the control plane said, for whoever reads the failure
      const logs = cluster.kubectl(['-n', 'shop', 'logs', '-l', 'app=api', '-c', 'nanoseg-proxy', '--tail', '30']);
      console.log(`nanoseg-proxy:\n${logs.stdout}${logs.stderr}`);
      console.log(
        readFileSync(server.log, 'utf8')
          .split('\n')
          .filter((l) => /warn|error|ADS|auth/i.test(l))
          .slice(-40)
          .join('\n'),
      );
      throw e;
    });
    // capture first, then the sidecar as a native sidecar (an init container that keeps running), then the app
    assert.deepEqual(
      apiPod.spec.initContainers?.map((c) => `${c.name}${c.restartPolicy ? ` (${c.restartPolicy})` : ''}`),
      ['nanoseg-init', 'nanoseg-proxy (Always)'],
    );
    assert.deepEqual(
      apiPod.spec.containers.map((c) => c.name),
      ['api'],
    );
    assert.equal(apiPod.metadata.annotations?.['nanoseg.io/service'], 'shop/api');
    assert.equal(apiPod.metadata.annotations?.['nanoseg.io/status'], 'injected');
    assert.equal(apiPod.status.phase, 'Running');
    const apiNode = `${apiPod.metadata.name}.shop`;

    // the inventory names the Deployment (through its ReplicaSet), with the pod's address, and the Service's
    // ClusterIP is a VIP of shop/api once its EndpointSlice lists the pod
    const clusterIp = k(['-n', 'shop', 'get', 'service', 'api', '-o', 'jsonpath={.spec.clusterIP}']);
    const apiView = await waitFor(
      'shop/api in nanoseg services',
      () => json<ServiceView[]>(['services'], server.env).find((s) => s.name === 'shop/api'),
      20_000,
    );
    assert.deepEqual(apiView.workloads, [{ name: apiNode, address: apiPod.status.podIP }]);
    const status = json<StatusView>(['status'], server.env);
    const envoy = status.envoys.find((e) => e.node === apiNode);
    assert.ok(envoy, `the sidecar ${apiNode} is connected: ${JSON.stringify(status.envoys)}`);
    assert.equal(envoy.service, 'shop/api');
    assert.ok(
      envoy.acked.lds && envoy.acked.cds,
      `the sidecar ACKed listeners and clusters: ${JSON.stringify(envoy.acked)}`,
    );
    await waitFor(
      `the VIP ${clusterIp} of shop/api`,
      async () =>
        (await inventory(server.apiSocket)).vips.some((v) => v.address === clusterIp && v.service === 'shop/api'),
      30_000,
      500,
    );

    // web calls the ClusterIP through its sidecar: learned as shop/web → shop/api, never as a pod, a ReplicaSet or
    // the ClusterIP as an external
    k(['apply', '-f', '-'], web);
    await waitFor('the web pod to be Ready', () => readyPod(cluster, 'web'), 90_000, 500);
    const learned = await waitFor(
      'shop/web → shop/api http/9090 learned on both sides',
      () => {
        const w = json<PolicyDocument>(['policy', 'show', 'shop/web'], server.env);
        const a = json<PolicyDocument>(['policy', 'show', 'shop/api'], server.env);
        return rules(w, 'egress').length > 0 && rules(a, 'ingress').length > 0 ? { w, a } : undefined;
      },
      60_000,
      500,
    );
    assert.deepEqual(rules(learned.w, 'egress'), ['shop/api http/9090']);
    assert.deepEqual(rules(learned.a, 'ingress'), ['shop/web http/9090']);
    assert.deepEqual(
      json<ServiceView[]>(['services'], server.env).map((s) => s.name),
      ['shop/api', 'shop/web'],
      'one service per Deployment',
    );

    await poserSteps(cluster, server.env, { apiNode, apiPod, caPem });

    // each service's NanoSegment (created by the control plane) mirrors `nanoseg services` in its status
    const learnedSegments = await waitFor(
      'the NanoSegments of shop/api and shop/web with their learned edge',
      () => {
        const m = segments(cluster, 'shop');
        return m.get('api')?.edges === 1 && m.get('web')?.edges === 1 ? m : undefined;
      },
      20_000,
      500,
    );
    for (const [name, st] of learnedSegments) {
      assert.equal(st.state, 'learning', `${name}: ${JSON.stringify(st)}`);
      assert.ok(st.confidence !== undefined && st.confidence >= 0 && st.confidence < 1, `${name}: ${st.confidence}`);
      assert.match(st.reason ?? '', /observations/);
      assert.equal(st.conditions?.find((c) => c.type === 'Converged')?.status, 'False');
    }
    const table = k(['-n', 'shop', 'get', 'nanosegments']);
    assert.match(table, /^NAME\s+STATE\s+MODE\s+CONFIDENCE\s+EDGES\s+AGE$/m);
    assert.match(table, /^api\s+learning\s+/m);
    assert.match(table, /^web\s+learning\s+/m);

    // the mode annotation on the Deployment sets the service's mode and wins over the CLI while it is there
    k(['-n', 'shop', 'annotate', 'deployment', 'web', 'nanoseg.io/mode=monitor']);
    await waitFor(
      'shop/web in monitor by its annotation',
      () => json<ServiceView[]>(['services'], server.env).find((s) => s.name === 'shop/web')?.mode === 'monitor',
      20_000,
    );
    const refused = nanoseg(['mode', 'shop/web', 'enforce'], server.env);
    assert.notEqual(refused.code, 0, 'the CLI cannot override the annotation');
    assert.match(refused.stderr, /annotation nanoseg\.io\/mode=monitor on Deployment shop\/web/);
    // audited with the Kubernetes user who annotated (the validating webhook saw the change)
    const modeChange = json<{ actor: string; action: string; target: string; after: unknown }[]>(['audit'], server.env)
      .filter((e) => e.action === 'mode' && e.target === 'shop/web')
      .at(-1);
    assert.match(
      modeChange?.actor ?? '',
      /^kubernetes user \S+ \(annotation nanoseg\.io\/mode=monitor on Deployment shop\/web\)$/,
      JSON.stringify(modeChange),
    );
    // a value that is not a mode is refused by the webhook and changes nothing
    const bogus = cluster.kubectl([
      '-n',
      'shop',
      'annotate',
      '--overwrite',
      'deployment',
      'web',
      'nanoseg.io/mode=bogus',
    ]);
    assert.notEqual(bogus.code, 0, 'the annotation is refused');
    assert.match(bogus.stderr, /nanoseg\.io\/mode="bogus" on Deployment shop\/web refused: expected one of learn/);
    const webDeploy = cluster.getJson<{ metadata: { annotations?: Record<string, string> } }>([
      '-n',
      'shop',
      'deployment',
      'web',
    ]);
    assert.equal(webDeploy.metadata.annotations?.['nanoseg.io/mode'], 'monitor', 'the refused value changed nothing');

    // enforce (by the annotation): the allowed call keeps working, an off-segment one is blocked, with an Event on
    // the calling pod. api:9091 answers anyone (the host shows it), but web never called it.
    const port9091 = spawnSync('curl', ['-s', '-m', '5', `http://${apiPod.status.podIP}:9091/`], { encoding: 'utf8' });
    assert.equal(port9091.stdout.trim(), 'items', `api:9091 answers: ${port9091.stderr}`);
    k(['-n', 'shop', 'annotate', '--overwrite', 'deployment', 'web', 'nanoseg.io/mode=enforce']);
    await waitFor(
      'shop/web in enforce by its annotation',
      () => json<ServiceView[]>(['services'], server.env).find((s) => s.name === 'shop/web')?.mode === 'enforce',
      20_000,
    );
    const webPod = readyPod(cluster, 'web')!.metadata.name;
    const wget = (url: string) =>
      cluster.kubectl(['-n', 'shop', 'exec', webPod, '-c', 'web', '--', 'timeout', '3', 'wget', '-q', '-O', '-', url]);
    const allowed = wget(`http://${clusterIp}:9090/`);
    assert.equal(allowed.stdout.trim(), 'items', `the allowed call works in enforce: ${allowed.stderr}`);
    await waitFor(
      'the off-segment call to be blocked',
      () => wget(`http://${apiPod.status.podIP}:9091/`).code !== 0,
      20_000,
      1000,
    );
    const event = await waitFor(
      'a NanosegDenied Event on the web pod',
      () =>
        cluster
          .getJson<{ items: { message: string; involvedObject: { name: string } }[] }>([
            '-n',
            'shop',
            'events',
            '--field-selector',
            'reason=NanosegDenied',
          ])
          .items.find((e) => e.involvedObject.name === webPod),
      20_000,
      500,
    );
    assert.match(event.message, /^shop\/web → shop\/api:9091 /, 'the pod address is named as its service');
    assert.match(event.message, /denied \(enforce/);
    // the denial and the mode show in web's NanoSegment status too
    const webSegment = await waitFor(
      'the denial in the status of NanoSegment shop/web',
      () => {
        const st = segments(cluster, 'shop').get('web');
        return st?.lastDenied && st.conditions?.find((c) => c.type === 'Enforcing')?.status === 'True' ? st : undefined;
      },
      20_000,
      500,
    );
    assert.equal(webSegment.lastDenied?.source, 'shop/web');
    assert.match(webSegment.lastDenied?.destination ?? '', /^shop\/api:9091\//);
    // status writes stay bounded, as the apiserver counts them: only on change, at most one per object every 2 s
    const writes = statusWrites(cluster);
    const bound = 2 * Math.ceil((Date.now() - servedAt) / 2000);
    console.log(`NanoSegment status writes: ${writes} in ${Date.now() - servedAt} ms (rate limit: ${bound})`);
    assert.ok(writes >= 2 && writes <= bound / 2, `${writes} status writes (limit ${bound})`);

    // NanoSegment spec: kubectl apply round trip, refusals naming the field and the annotation; then the exports
    await segmentSpecSteps(cluster, server.env);
    exportSteps(cluster, server.env, ['shop/web', 'shop/api']);

    // deleted: the workloads leave the inventory (the services stay known by what they learned)
    k(['-n', 'shop', 'delete', 'deployment', 'web', 'api', '--wait=false']);
    await waitFor(
      'the shop workloads to leave the inventory',
      () => json<ServiceView[]>(['services'], server.env).every((s) => s.workloads.length === 0),
      60_000,
      500,
    );

    // pod IP churn: a terminating pod still listed with an address that a new pod got belongs to the new pod only.
    // Bare pods bound to a node object without a kubelet, addresses set through the status subresource.
    k(['apply', '-f', '-'], GHOST_NODE);
    k(['create', 'namespace', 'churn']);
    const setIp = (pod: string, ip: string) =>
      k([
        '-n',
        'churn',
        'patch',
        'pod',
        pod,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } }),
      ]);
    await waitFor('the default ServiceAccount in churn', () => k(['-n', 'churn', 'get', 'sa', 'default']), 30_000);
    k(['apply', '-f', '-'], ghostPod('old'));
    setIp('old', '10.244.0.200');
    await waitFor(
      'churn/old with 10.244.0.200',
      () =>
        json<ServiceView[]>(['services'], server.env).find((s) => s.name === 'churn/old')?.workloads[0]?.address ===
        '10.244.0.200',
      20_000,
    );
    // a finalizer keeps the deleted pod listed (terminating) while its address is handed to the new one
    k(['-n', 'churn', 'delete', 'pod', 'old', '--wait=false']);
    k(['apply', '-f', '-'], ghostPod('new'));
    setIp('new', '10.244.0.200');
    const after = await waitFor(
      'the address to move to churn/new',
      () => {
        const list = json<ServiceView[]>(['services'], server.env);
        return list.some((s) => s.name === 'churn/new') ? list : undefined;
      },
      20_000,
    );
    assert.deepEqual(after.find((s) => s.name === 'churn/new')?.workloads, [
      { name: 'new.churn', address: '10.244.0.200' },
    ]);
    assert.ok(!after.some((s) => s.name === 'churn/old'), 'the terminating pod keeps no address (and no allows)');
    k(['-n', 'churn', 'patch', 'pod', 'old', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);

    // the control plane as manifests/overlays/test-cluster deploys it, in place of the one on the host
    await manifestSteps(cluster, () => server.stop());
  },
);
