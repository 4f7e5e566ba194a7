// The cluster e2e's impostor step (kubernetes.test.ts): a pod with its own valid service-account token (audience
// nanoseg) and the control plane's CA speaks as shop/api's node on ADS and ALS. Both are refused and counted;
// nothing it reports is learned.
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import type { TestCluster } from '../support/cluster.js';
import { json, waitFor } from '../support/cli.js';
import type { StatusView } from '../../xds-server/src/api/views.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';
import { METRICS_PORT, XDS_TLS_PORT, counter, poserPod, rules, type PodJson } from './kubernetes-support.js';

export async function poserSteps(
  cluster: TestCluster,
  env: NodeJS.ProcessEnv,
  { apiNode, apiPod, caPem }: { apiNode: string; apiPod: PodJson; caPem: string },
): Promise<void> {
  const k = (args: string[], input?: string) => cluster.k(args, input);
  // a pod posing as shop/api: its own valid token (audience nanoseg), the control plane's CA, but api's node id for
  // its ADS stream and its access logs. Both are refused and counted; nothing it reports is learned.
  const metrics = async () => (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)).text();
  const refusedAs = async (channel: string) =>
    counter(await metrics(), 'nanoseg_xds_auth_refused_total', { channel, reason: 'foreign-node' });
  assert.match(caPem, /BEGIN CERTIFICATE/);
  assert.equal(apiPod.metadata.annotations?.['nanoseg.io/ca-bundle'], caPem, 'the injected pod carries the CA');
  k(['-n', 'shop', 'create', 'configmap', 'poser-ca', `--from-literal=ca.pem=${caPem}`]);
  k(['apply', '-f', '-'], poserPod(apiNode, 'shop/api', { host: cluster.nodeIp, port: XDS_TLS_PORT }));
  await waitFor('the posing ADS stream refused and counted', async () => (await refusedAs('ads')) > 0, 60_000, 500);
  const poserIp = await waitFor(
    'the poser pod address',
    () => k(['-n', 'shop', 'get', 'pod', 'poser', '-o', 'jsonpath={.status.podIP}']) || undefined,
    30_000,
    500,
  );
  await waitFor(
    "the poser's access logs in shop/api's name refused and counted",
    async () => {
      spawnSync('curl', ['-s', '-m', '2', '-o', '/dev/null', `http://${poserIp}:15080/`]);
      return (await refusedAs('als')) > 0;
    },
    60_000,
    1000,
  );
  const alsRejected = counter(await metrics(), 'nanoseg_als_entries_total', { result: 'rejected:foreign-node' });
  assert.ok(alsRejected > 0, `the refused entries are counted: ${alsRejected}`);
  assert.deepEqual(
    rules(json<PolicyDocument>(['policy', 'show', 'shop/api'], env), 'ingress'),
    ['shop/web http/9090'],
    'nothing the poser said was learned',
  );
  const posing = json<StatusView>(['status'], env).envoys.filter((e) => e.node === apiNode);
  assert.equal(posing.length, 1, `only api's own sidecar is connected as ${apiNode}: ${JSON.stringify(posing)}`);
  console.log(`refused as another node: ads ${await refusedAs('ads')}, als ${await refusedAs('als')}`);
  k(['-n', 'shop', 'delete', 'pod', 'poser', '--wait=false']);
}
