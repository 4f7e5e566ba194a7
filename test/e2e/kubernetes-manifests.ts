// The last steps of the cluster e2e (kubernetes.test.ts): the control plane as the manifests deploy it. The one the
// test ran on the host is stopped, its webhook configurations removed, and `kubectl apply -k
// manifests/overlays/test-cluster` runs the base (RBAC, Deployment, PVC, Services, webhooks) with the locally built
// nanoseg/control-plane:dev. A new pod of a labelled namespace is then injected through the webhook Service and its
// sidecar configured over the authenticated TLS listener by that control plane, which runs as its own non-root user
// with only the base's RBAC. Restarted, it keeps its store and CA (the state volume), and the sidecar reconnects.
// Last, the node agent DaemonSet's kernel rules (kubernetes-node-agent.ts).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { json, waitFor } from '../support/cli.js';
import type { TestCluster } from '../support/cluster.js';
import type { ServiceView, StatusView } from '../../xds-server/src/api/views.js';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { api, caBundlePublished, readyPod } from './kubernetes-support.js';
import { KERNEL_TABLE_ABSENT, nodeAgentSteps } from './kubernetes-node-agent.js';

/** the overlay's hostPath volume: the in-cluster control plane's state dir, and its API socket, seen from the node */
const STATE_ON_NODE = '/var/lib/nanoseg-test-cluster/state';

export async function manifestSteps(cluster: TestCluster, stopHostControlPlane: () => Promise<void>): Promise<void> {
  const k = (args: string[], input?: string) => cluster.k(args, input);
  await stopHostControlPlane();
  // no kernel rules on the node before the manifests: the node agent DaemonSet installs them (nodeAgentSteps)
  spawnSync('nft', ['delete', 'table', 'inet', 'nanoseg'], { stdio: 'ignore' });
  assert.ok(KERNEL_TABLE_ABSENT());
  k(['delete', 'mutatingwebhookconfiguration', 'nanoseg-injector']);
  k(['delete', 'validatingwebhookconfiguration', 'nanoseg-validator']);
  const image = spawnSync(join(projectRoot(), 'scripts', 'k8s', 'control-plane-image.sh'), ['--import'], {
    encoding: 'utf8',
    timeout: 5 * 60_000,
  });
  assert.equal(image.status, 0, `scripts/k8s/control-plane-image.sh --import failed:\n${image.stderr}`);

  k(['apply', '-k', join(projectRoot(), 'manifests', 'overlays', 'test-cluster')]);
  const rollout = cluster.kubectl(
    ['-n', 'nanoseg-system', 'rollout', 'status', 'deployment/nanoseg-control-plane', '--timeout=90s'],
    undefined,
    100_000,
  );
  const logs = () =>
    cluster.kubectl(['-n', 'nanoseg-system', 'logs', 'deployment/nanoseg-control-plane', '--all-containers']).stdout;
  assert.equal(rollout.code, 0, `the control plane Deployment did not become ready:\n${rollout.stderr}\n${logs()}`);
  // the in-cluster control plane owns a CA of its own and publishes it on both webhook configurations
  await caBundlePublished(k);
  const env = { NANOSEG_API: join(STATE_ON_NODE, 'api.sock') };
  const before = json<StatusView>(['status'], env);
  assert.equal(before.stateDir, '/var/lib/nanoseg', 'the status comes from the control plane in the pod');

  // a new pod in the labelled namespace: injected through the webhook Service, configured over TLS with its token
  k(['apply', '-f', '-'], api);
  const pod = await waitFor(
    'shop/api to be Ready under the in-cluster control plane',
    () => readyPod(cluster, 'api'),
    90_000,
    500,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\ncontrol plane:\n${logs().split('\n').slice(-30).join('\n')}`);
  });
  assert.deepEqual(
    (pod.spec.initContainers ?? []).map((c) => c.name),
    ['nanoseg-init', 'nanoseg-proxy'],
    'the pod got the capture init container and the sidecar from the manifests webhook',
  );
  const node = `${pod.metadata.name}.shop`;
  const configured = (what: string, after = 0) =>
    waitFor(
      `${node} connected and ACKing the in-cluster control plane${what}`,
      () => {
        const s = json<StatusView>(['status'], env);
        return s.startedAt > after && s.envoys.some((e) => e.node === node && e.acked.lds !== undefined)
          ? s
          : undefined;
      },
      30_000,
      500,
    );
  const status = await configured('');
  assert.equal(status.xds.nacks, 0, 'no NACK from the sidecar');
  const services = json<ServiceView[]>(['services'], env);
  assert.deepEqual(
    services.find((s) => s.name === 'shop/api')?.workloads.map((w) => w.name),
    [node],
    'the in-cluster control plane knows the pod by its Deployment',
  );

  // the state is on the volume: the restarted control plane (Recreate: the old pod is gone first) has the same store
  // and the same CA, so the caBundle stays and the sidecar, which trusts the CA it was injected with, reconnects
  const bundle = await caBundlePublished(k);
  k(['-n', 'nanoseg-system', 'rollout', 'restart', 'deployment/nanoseg-control-plane']);
  const again = cluster.kubectl(
    ['-n', 'nanoseg-system', 'rollout', 'status', 'deployment/nanoseg-control-plane', '--timeout=90s'],
    undefined,
    100_000,
  );
  assert.equal(again.code, 0, `the restarted control plane did not become ready:\n${again.stderr}\n${logs()}`);
  const restarted = await configured(' after its restart', status.startedAt);
  assert.equal(restarted.storeId, status.storeId, 'the restarted control plane opened the same store (the PVC)');
  assert.equal(await caBundlePublished(k), bundle, 'the same CA: the caBundle did not change');
  assert.equal(restarted.xds.nacks, 0, 'no NACK after the restart');
  assert.deepEqual(restarted.held, [], 'no sidecar held (fail-static) by the restarted control plane');

  // the node agent, reconnected to the restarted control plane, enforces every protocol on the node
  await nodeAgentSteps(cluster, env);
}
