// End to end on a real one-node Kubernetes, the second story (the first is kubernetes.test.ts): every kind of owner —
// three Deployments (one scaled 2 → 3 midway), a StatefulSet and a CronJob — learned per owner, never per pod,
// ReplicaSet or Job; the CronJob's Jobs complete beside their sidecar, one made from it by hand (kubectl create job
// --from) too, labelled as the CronJob's; then, enforced: a rollout restart (new pods,
// new addresses) keeps the learned calls working and nothing else; the control plane killed: sidecars keep
// enforcing, pods in the labelled namespace are refused rather than created without a sidecar while pods elsewhere
// are not touched; restarted on its state: nothing opens, and injection works again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ServerProcess, isRoot, json, nanoseg, tempDir, waitFor } from '../support/cli.js';
import { TestCluster } from '../support/cluster.js';
import type { ServiceView, StatusView } from '../../xds-server/src/api/views.js';
import type { Alert } from '../../xds-server/src/model/index.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import {
  caBundlePublished,
  clusterServeArgs,
  rules,
  shopAndPlain,
  webhookConfigurations,
} from './kubernetes-support.js';
import { SERVICES, WORKLOADS, callFrom, probePod, readyPods } from './kubernetes-workloads-support.js';

/** The same version of every type, whatever order the types were ACKed in. */
const sameVersions = (a: object, b: object | undefined) =>
  b !== undefined && JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

const LEARNED: Record<string, { ingress: string[]; egress: string[] }> = {
  'shop/api': { ingress: ['shop/report http/9090', 'shop/web http/9090'], egress: ['shop/db http/8000'] },
  'shop/db': { ingress: ['shop/api http/8000', 'shop/ledger http/8000'], egress: [] },
  'shop/ledger': { ingress: [], egress: ['shop/db http/8000'] },
  'shop/report': { ingress: [], egress: ['shop/api http/9090'] },
  'shop/web': { ingress: [], egress: ['shop/api http/9090'] },
};

test(
  'every kind of owner learned as its service; enforced through a rollout restart and a control plane restart',
  { skip: !isRoot && 'needs root (a real cluster: cgroups, network namespaces, mounts)', timeout: 50 * 60_000 },
  async (t) => {
    const cluster = TestCluster.start();
    const tmp = tempDir('nanoseg-k8s-');
    // with the kernel point for this node: every protocol enforced outside the pods (docs/kubernetes.md)
    const server = new ServerProcess(tmp.dir, [...clusterServeArgs(cluster), '--kernel-node']);
    t.after(async () => {
      await server.stop();
      // the kernel rules outlive the control plane by design: removed here, with the cluster
      spawnSync('nft', ['delete', 'table', 'inet', 'nanoseg'], { stdio: 'ignore' });
      cluster.stop();
      tmp.remove();
    });
    const k = (args: string[], input?: string) => cluster.k(args, input);
    const services = () => json<ServiceView[]>(['services'], server.env);
    const policies = () =>
      Object.fromEntries(
        Object.keys(LEARNED).map((s) => {
          const p = json<PolicyDocument>(['policy', 'show', s], server.env);
          return [s, { ingress: rules(p, 'ingress'), egress: rules(p, 'egress') }];
        }),
      );

    k(['apply', '-f', '-'], webhookConfigurations);
    k(['apply', '-f', join(projectRoot(), 'manifests', 'base', 'crd-nanosegment.yaml')]);
    await server.start();
    await caBundlePublished(k);
    await shopAndPlain(k);
    await waitFor(
      'the webhook to inject pods in shop',
      () => {
        const p = JSON.parse(k(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], probePod('dry', 'shop'))) as {
          spec: { initContainers?: unknown[] };
        };
        return (p.spec.initContainers?.length ?? 0) === 2;
      },
      30_000,
      300,
    );

    // the Services first, so that every pod gets their <NAME>_SERVICE_HOST variables
    k(['apply', '-f', '-'], SERVICES);
    k(['apply', '-f', '-'], WORKLOADS);
    for (const [app, n] of [
      ['db', 1],
      ['api', 2],
      ['web', 1],
      ['ledger', 1],
    ] as const) {
      await waitFor(`${n} Ready pod(s) of ${app}`, () => readyPods(cluster, app).length === n, 120_000, 500);
    }
    // midway: api scaled 2 → 3; the third replica is one more workload of shop/api, never a service of its own
    await waitFor('api → db learned', () => policies()['shop/api']?.egress.length === 1, 60_000, 500);
    k(['-n', 'shop', 'scale', 'deployment', 'api', '--replicas=3']);
    await waitFor('3 Ready pods of api', () => readyPods(cluster, 'api').length === 3, 120_000, 500);
    const apiPods = readyPods(cluster, 'api');
    await waitFor(
      'shop/api with 3 workloads, each sidecar connected as shop/api',
      () => {
        const view = services().find((s) => s.name === 'shop/api');
        const envoys = json<StatusView>(['status'], server.env).envoys.filter((e) => e.service === 'shop/api');
        return view?.workloads.length === 3 && envoys.filter((e) => e.acked.lds).length === 3;
      },
      30_000,
      500,
    );
    assert.deepEqual(
      services()
        .find((s) => s.name === 'shop/api')
        ?.workloads.map((w) => w.address)
        .sort(),
      apiPods.map((p) => p.status.podIP).sort(),
    );

    // a Job's pod calls api once and completes, its sidecar stopped after it; a failed Job fails the test at once
    type JobJson = { metadata: { name: string }; status: { succeeded?: number; failed?: number } };
    const completed = (j: JobJson) => {
      if (j.status.failed) {
        // what the next engineer needs to tell why (the app's wget, the sidecar, the pod's states)
        const of = (args: string[]) => {
          const r = cluster.kubectl(['-n', 'shop', ...args]);
          return `${r.stdout}${r.stderr}`.trim();
        };
        const sel = `job-name=${j.metadata.name}`;
        throw new Error(
          `Job ${j.metadata.name} failed; app: ${of(['logs', '-l', sel, '-c', 'report', '--tail', '20'])}; ` +
            `sidecar: ${of(['logs', '-l', sel, '-c', 'nanoseg-proxy', '--tail', '40'])}; ` +
            `pod: ${of(['get', 'pods', '-l', sel, '-o', 'jsonpath={.items[*].status}'])}`,
        );
      }
      return (j.status.succeeded ?? 0) > 0;
    };
    // the CronJob fires on the minute
    const job = await waitFor(
      "a Job of the CronJob report to complete (the sidecar does not hold the Job's pod)",
      () => cluster.getJson<{ items: JobJson[] }>(['-n', 'shop', 'jobs']).items.find(completed),
      100_000,
      1000,
    );
    t.diagnostic(`${job.metadata.name} completed`);
    // one run is enough: no Job pods coming and going under the checks below
    k(['-n', 'shop', 'patch', 'cronjob', 'report', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    // a run by hand: the Job's name says nothing of the CronJob, its owner reference does (the webhook reads it)
    k(['-n', 'shop', 'create', 'job', 'report-manual', '--from=cronjob/report']);
    await waitFor(
      'the Job report-manual (made from the CronJob by hand) to complete',
      () => completed(cluster.getJson<JobJson>(['-n', 'shop', 'job', 'report-manual'])),
      60_000,
      1000,
    );
    const manual = cluster.getJson<{
      items: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } }[];
    }>(['-n', 'shop', 'pods', '-l', 'job-name=report-manual']).items;
    assert.equal(manual.length, 1);
    assert.equal(manual[0]!.metadata.labels?.['nanoseg.io/workload'], 'report');
    assert.equal(manual[0]!.metadata.annotations?.['nanoseg.io/service'], 'shop/report');

    const learned = await waitFor(
      'the edges of every owner learned on both sides',
      () => {
        const p = policies();
        return JSON.stringify(p) === JSON.stringify(LEARNED) ? p : undefined;
      },
      60_000,
      1000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; learned: ${JSON.stringify(policies())}`);
    });
    assert.deepEqual(learned, LEARNED);
    assert.deepEqual(
      services().map((s) => s.name),
      Object.keys(LEARNED),
      'one service per owner: never a pod, a ReplicaSet or a Job',
    );

    // enforced: learned calls work, off-segment calls are blocked
    const r = nanoseg(['mode', '--all', 'enforce'], server.env);
    assert.equal(r.code, 0, r.stderr);
    const settled = () =>
      waitFor(
        'every sidecar in enforce with its latest config ACKed',
        () => {
          const envoys = json<StatusView>(['status'], server.env).envoys;
          return (
            services().every((s) => s.mode === 'enforce') &&
            envoys.length > 0 &&
            envoys.every((e) => ['lds', 'cds'].every((x) => e.sent[x as 'lds'] === e.acked[x as 'lds']))
          );
        },
        30_000,
        500,
      );
    await settled();
    const web = () => readyPods(cluster, 'web')[0]!.metadata.name;
    const anApi = () => readyPods(cluster, 'api')[0]!.metadata.name;
    const checkSegments = async (when: string) => {
      assert.equal(callFrom(cluster, web(), 'web', '$API_SERVICE_HOST:9090'), 0, `${when}: web → api works`);
      assert.equal(callFrom(cluster, anApi(), 'api', '$DB_SERVICE_HOST:8000'), 0, `${when}: api → db works`);
      await waitFor(
        `${when}: web → db blocked`,
        () => callFrom(cluster, web(), 'web', '$DB_SERVICE_HOST:8000') !== 0,
        20_000,
        1000,
      );
      assert.notEqual(
        callFrom(cluster, anApi(), 'api', '$LEDGER_SERVICE_HOST:7000'),
        0,
        `${when}: api → ledger blocked`,
      );
    };
    await checkSegments('enforced');
    // what the sidecar never sees, the node's kernel rules drop: UDP from web's app to db, alerted as the kernel's
    const alerts = () => json<Alert[]>(['alerts'], server.env);
    const db = readyPods(cluster, 'db')[0]!;
    // a DNS query straight to db's address (busybox's nc has no UDP): no answer comes, the query must not get there
    cluster.kubectl([
      '-n',
      'shop',
      'exec',
      web(),
      '-c',
      'web',
      '--',
      'timeout',
      '3',
      'nslookup',
      'probe',
      db.status.podIP!,
    ]);
    const denied = await waitFor(
      'a kernel denied alert web → db udp/53',
      () =>
        alerts().find(
          (a) =>
            a.verdict === 'denied' &&
            a.point === 'kernel' &&
            a.source.service === 'shop/web' &&
            a.destination.service === 'shop/db' &&
            a.protocol === 'udp' &&
            a.destination.port === 53,
        ),
      15_000,
      500,
    );
    assert.match(denied.reason, /shop\/web egress has no rule for .* udp\/53/);
    const kernel = json<StatusView>(['status'], server.env).kernel;
    assert.equal(kernel?.state, 'ok', JSON.stringify(kernel));

    // a rollout restart while enforced: new pods, new addresses; peers accept them, they get nothing more
    const oldApi = new Set(apiPods.map((p) => p.status.podIP));
    k(['-n', 'shop', 'rollout', 'restart', 'deployment', 'api']);
    const st = cluster.kubectl(
      ['-n', 'shop', 'rollout', 'status', 'deployment', 'api', '--timeout=180s'],
      undefined,
      200_000,
    );
    assert.equal(st.code, 0, `rollout: ${st.stdout}${st.stderr}`);
    await waitFor(
      '3 new Ready api pods, on new addresses, in the inventory',
      () => {
        const now = readyPods(cluster, 'api');
        const view = services().find((s) => s.name === 'shop/api');
        return (
          now.length === 3 &&
          now.every((p) => !oldApi.has(p.status.podIP!)) &&
          view?.workloads.every((w) => !oldApi.has(w.address))
        );
      },
      60_000,
      500,
    );
    await settled();
    await checkSegments('after the rollout restart');
    assert.deepEqual(policies(), LEARNED, 'the restart learned nothing new');

    // the control plane killed: the sidecars keep enforcing; pods in shop are refused, not created unprotected
    const before = new Map(json<StatusView>(['status'], server.env).envoys.map((e) => [e.node, e.acked]));
    server.kill9();
    await server.waitExit();
    await checkSegments('control plane down');
    const refused = cluster.kubectl(['apply', '-f', '-'], probePod('unprotected', 'shop'));
    assert.notEqual(refused.code, 0, 'a pod in a labelled namespace is not created without its sidecar');
    assert.match(refused.stderr, /failed calling webhook "inject\.nanoseg\.io"/);
    k(['apply', '-f', '-'], probePod('elsewhere', 'plain'));
    const plain = cluster.getJson<{ spec: { initContainers?: unknown[] } }>(['-n', 'plain', 'pod', 'elsewhere']);
    assert.equal(plain.spec.initContainers, undefined, 'a pod in an unlabelled namespace is created, untouched');

    // restarted on its state: the same config, nothing more open, and injection works again
    await server.start();
    await waitFor(
      'every sidecar reconnected with the config it had',
      () => {
        const envoys = json<StatusView>(['status'], server.env).envoys;
        return envoys.length === before.size && envoys.every((e) => sameVersions(e.acked, before.get(e.node)));
      },
      60_000,
      500,
    ).catch((e: Error) => {
      const now = json<StatusView>(['status'], server.env).envoys.map((x) => [x.node, x.acked]);
      throw new Error(`${e.message}: ${JSON.stringify(now)} before: ${JSON.stringify([...before])}`);
    });
    await checkSegments('after the control plane restart');
    assert.deepEqual(policies(), LEARNED);
    await waitFor(
      'a pod in shop created with its sidecar again',
      () => cluster.kubectl(['apply', '-f', '-'], probePod('protected', 'shop')).code === 0,
      30_000,
      1000,
    );
    const protectedPod = cluster.getJson<{ spec: { initContainers?: { name: string }[] } }>([
      '-n',
      'shop',
      'pod',
      'protected',
    ]);
    assert.deepEqual(
      protectedPod.spec.initContainers?.map((c) => c.name),
      ['nanoseg-init', 'nanoseg-proxy'],
    );
  },
);
