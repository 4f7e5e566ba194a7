// The cluster e2e's node agent step (called by kubernetes-manifests.ts once the in-cluster control plane runs): the
// DaemonSet's agent holds the node's kernel rules. The table inet nanoseg was absent before the manifests were
// applied, so it is the agent that installed it; web, enforced by its annotation, sends UDP straight to api's pod
// address (which its sidecar never sees): the kernel drops it, and the denied alert, `point: "kernel"`, comes from
// the agent's flow log through the in-cluster control plane.
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { json, waitFor } from '../support/cli.js';
import type { TestCluster } from '../support/cluster.js';
import type { Alert } from '../../xds-server/src/model/index.js';
import type { ServiceView, StatusView } from '../../xds-server/src/api/views.js';
import { readyPod, web } from './kubernetes-support.js';

export const KERNEL_TABLE_ABSENT = () =>
  spawnSync('nft', ['list', 'table', 'inet', 'nanoseg'], { stdio: 'ignore' }).status !== 0;

export async function nodeAgentSteps(cluster: TestCluster, env: Record<string, string>): Promise<void> {
  const k = (args: string[], input?: string) => cluster.k(args, input);
  const logs = () =>
    cluster.kubectl(['-n', 'nanoseg-system', 'logs', 'daemonset/nanoseg-node-agent', '--tail=30']).stdout;
  // the agent of this node (not rollout status: the DaemonSet also has a pod for the test's ghost node, which has no
  // kubelet and never runs it)
  await waitFor(
    `the node agent of ${cluster.nodeName} Running`,
    () =>
      cluster
        .getJson<{ items: { status: { phase?: string } }[] }>([
          '-n',
          'nanoseg-system',
          'pods',
          '-l',
          'app.kubernetes.io/name=nanoseg-node-agent',
          '--field-selector',
          `spec.nodeName=${cluster.nodeName}`,
        ])
        .items.some((p) => p.status.phase === 'Running'),
    90_000,
    500,
  );
  const inForce = (what: string) =>
    waitFor(
      `the node agent connected, ${what}`,
      () => {
        const a = json<StatusView>(['status'], env).nodeAgents?.find((x) => x.node === cluster.nodeName);
        return a?.connected && a.applied?.state === 'ok' && a.applied.version === a.sentVersion ? a : undefined;
      },
      30_000,
      500,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(json<StatusView>(['status'], env).nodeAgents)}\n${logs()}`);
    });
  const agent = await inForce('the rules it was sent in force');
  assert.match(agent.pod, /^nanoseg-system\/nanoseg-node-agent-/);
  assert.equal(KERNEL_TABLE_ABSENT(), false, 'the agent installed table inet nanoseg on the node');

  // web (injected by the in-cluster control plane) enforced: UDP to api's pod address is dropped by the node's rules
  k(['apply', '-f', '-'], web);
  const webPod = await waitFor('shop/web to be Ready', () => readyPod(cluster, 'web'), 90_000, 500);
  const apiPod = readyPod(cluster, 'api')!;
  k(['-n', 'shop', 'annotate', '--overwrite', 'deployment', 'web', 'nanoseg.io/mode=enforce']);
  await waitFor(
    'shop/web in enforce by its annotation',
    () => json<ServiceView[]>(['services'], env).find((s) => s.name === 'shop/web')?.mode === 'enforce',
    20_000,
  );
  await inForce('the enforce rules in force');
  const denied = await waitFor(
    'a kernel denied alert web → api udp/53 from the node agent',
    () => {
      // a DNS query straight to api's address (busybox's nc has no UDP): no answer comes, it must not get there
      cluster.kubectl([
        '-n',
        'shop',
        'exec',
        webPod.metadata.name,
        '-c',
        'web',
        '--',
        'timeout',
        '2',
        'nslookup',
        'probe',
        apiPod.status.podIP!,
      ]);
      return json<Alert[]>(['alerts'], env).find(
        (a) =>
          a.verdict === 'denied' &&
          a.point === 'kernel' &&
          a.source.service === 'shop/web' &&
          a.destination.service === 'shop/api' &&
          a.protocol === 'udp' &&
          a.destination.port === 53,
      );
    },
    30_000,
    500,
  );
  assert.match(denied.reason, /shop\/web egress has no rule for .* udp\/53/);
  const after = json<StatusView>(['status'], env).nodeAgents?.find((x) => x.node === cluster.nodeName);
  assert.ok((after?.flows.lines ?? 0) > 0, 'the flow log came up the agent stream');
}
