// The injector's webhook over real HTTPS (no cluster): AdmissionReview v1 in and out, refusals with a message,
// malformed requests answered without bringing the server down, and a certificate rotated while it serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { admitSegment, createCa, issueServing, WebhookServer, type KeyPair } from '../../injector/index.js';
import { CONFIG, applyPatch, deploymentPod } from '../unit/injector/fixtures.js';
import type { JsonPatchOp } from '../../injector/index.js';
import type { Pod } from '../../xds-server/src/inventory/kubernetes/types.js';

const NAMES = ['localhost'];

interface Reply {
  readonly status: number;
  readonly body: string;
}

function post(port: number, ca: string, body: string, path = '/inject', method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        method,
        ca,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const review = (object: unknown, uid = 'uid-1'): string =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object },
  });

type WebhookOptions = ConstructorParameters<typeof WebhookServer>[0];

async function withServer(
  fn: (port: number, ca: KeyPair, server: WebhookServer) => Promise<void>,
  namespaceOf?: WebhookOptions['namespaceOf'],
  ownerOf?: WebhookOptions['ownerOf'],
): Promise<void> {
  const ca = await createCa('test-ca', Date.now());
  const tls = await issueServing(ca, NAMES, Date.now());
  const server = new WebhookServer({
    config: CONFIG,
    tls,
    ...(namespaceOf && { namespaceOf }),
    ...(ownerOf && { ownerOf }),
  });
  const port = await server.start(0, '127.0.0.1');
  try {
    await fn(port, ca, server);
  } finally {
    await server.stop();
    await server.stop(); // idempotent
  }
}

test('webhook: a pod review is answered with an AdmissionReview v1 carrying the JSON patch', async () => {
  await withServer(async (port, ca) => {
    const r = await post(port, ca.certPem, review(deploymentPod()));
    assert.equal(r.status, 200);
    const out = JSON.parse(r.body);
    assert.equal(out.apiVersion, 'admission.k8s.io/v1');
    assert.equal(out.kind, 'AdmissionReview');
    assert.equal(out.response.uid, 'uid-1');
    assert.equal(out.response.allowed, true);
    assert.equal(out.response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(out.response.patch, 'base64').toString());
    assert.ok(patch.some((op: { path: string }) => op.path === '/spec/initContainers'));
  });
});

test('webhook: a bad annotation is refused with status.message; malformed requests get 4xx and the server lives on', async () => {
  await withServer(async (port, ca, server) => {
    const bad = deploymentPod({ annotations: { 'nanoseg.io/exclude-inbound-ports': '0' } });
    const refused = JSON.parse((await post(port, ca.certPem, review(bad, 'uid-2'))).body);
    assert.equal(refused.response.uid, 'uid-2');
    assert.equal(refused.response.allowed, false);
    assert.match(refused.response.status.message, /nanoseg\.io\/exclude-inbound-ports: "0" is not a port/);
    for (const [body, status, what] of [
      ['{not json', 400, /not JSON/],
      ['[]', 400, /not a JSON object/],
      [
        JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }),
        400,
        /uid is missing/,
      ],
      [JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'v0' }), 400, /not supported/],
      ['x'.repeat(4 * 1024 * 1024), 413, /larger than/],
    ] as const) {
      const r = await post(port, ca.certPem, body);
      assert.equal(r.status, status, r.body);
      assert.match(r.body, what);
    }
    assert.equal((await post(port, ca.certPem, '', '/inject', 'GET')).status, 405);
    assert.equal((await post(port, ca.certPem, '{}', '/other')).status, 404);
    // a review whose object is garbage is refused in kind, not thrown on
    const garbage = JSON.parse((await post(port, ca.certPem, review({ spec: { containers: 7 } }, 'uid-3'))).body);
    assert.equal(garbage.response.allowed, false);
    assert.match(garbage.response.status.message, /not a list/);
    // still serving
    assert.equal(JSON.parse((await post(port, ca.certPem, review(deploymentPod()))).body).response.allowed, true);
    assert.deepEqual(server.stats, { reviews: 3, injected: 1, refused: 2, malformed: 4 });
  });
});

test('webhook: an unknown namespace (not yet seen by the informer) is refused, not let through unprotected', async () => {
  await withServer(
    async (port, ca) => {
      const out = JSON.parse((await post(port, ca.certPem, review(deploymentPod()))).body);
      assert.equal(out.response.allowed, false);
      assert.match(out.response.status.message, /namespace shop is not known yet/);
    },
    () => undefined,
  );
});

test('webhook: the pod’s owning Job is looked up, so a Job made from a CronJob by hand belongs to the CronJob', async () => {
  const asked: string[] = [];
  const manual: Pod = {
    metadata: {
      generateName: 'report-manual-',
      namespace: 'shop',
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'report-manual', controller: true, uid: 'j1' }],
    },
    spec: { containers: [{ name: 'report', image: 'shop/report:1' }] },
  };
  await withServer(
    async (port, ca) => {
      const labelOf = async (object: Pod) => {
        const out = JSON.parse((await post(port, ca.certPem, review(object))).body);
        const patch = JSON.parse(Buffer.from(out.response.patch, 'base64').toString()) as JsonPatchOp[];
        return applyPatch(object, patch).metadata?.labels?.['nanoseg.io/workload'];
      };
      assert.equal(await labelOf(manual), 'report');
      assert.equal(await labelOf(deploymentPod()), 'web', 'a ReplicaSet not known: its Deployment from the hash');
    },
    undefined,
    async (kind, namespace, name) => {
      asked.push(`${kind} ${namespace}/${name}`);
      await new Promise((r) => setTimeout(r, 5)); // an apiserver read
      return kind === 'Job' && name === 'report-manual'
        ? { metadata: { name, namespace, ownerReferences: [{ kind: 'CronJob', name: 'report', controller: true }] } }
        : undefined;
    },
  );
  assert.equal(asked.length, 2);
  assert.equal(asked[0], 'Job shop/report-manual');
  assert.match(asked[1]!, /^ReplicaSet shop\/web-/);
});

test('webhook: a rotated certificate is served to new connections without a restart', async () => {
  await withServer(async (port, ca, server) => {
    const ca2 = await createCa('test-ca-2', Date.now());
    await assert.rejects(post(port, ca2.certPem, review(deploymentPod())), /self-signed|unable to verify|certificate/);
    server.setCertificate(await issueServing(ca2, NAMES, Date.now()));
    assert.equal((await post(port, ca2.certPem, review(deploymentPod()))).status, 200);
    await assert.rejects(post(port, ca.certPem, review(deploymentPod())), /certificate|verify/);
  });
});

test('webhook: /validate answers NanoSegment reviews with the control plane’s decision; without one it is not served', async () => {
  const ca = await createCa('test-ca', Date.now());
  const tls = await issueServing(ca, NAMES, Date.now());
  const seen: string[] = [];
  const server = new WebhookServer({
    config: CONFIG,
    tls,
    validate: (req) => {
      seen.push(`${req.userInfo?.username}:${req.operation}`);
      return admitSegment(req, () => undefined).response;
    },
  });
  const port = await server.start(0, '127.0.0.1');
  try {
    const body = (spec: unknown) =>
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'v-1',
          kind: { group: 'nanoseg.io', version: 'v1alpha1', kind: 'NanoSegment' },
          operation: 'CREATE',
          namespace: 'shop',
          userInfo: { username: 'alice' },
          object: { metadata: { name: 'web', namespace: 'shop' }, spec },
        },
      });
    const ok = JSON.parse((await post(port, ca.certPem, body({ mode: 'enforce' }), '/validate')).body);
    assert.deepEqual(ok.response, { uid: 'v-1', allowed: true });
    const bad = JSON.parse((await post(port, ca.certPem, body({ egress: [{}] }), '/validate')).body);
    assert.equal(bad.response.allowed, false);
    assert.match(bad.response.status.message, /spec\.egress\[0\]: missing field peer/);
    assert.deepEqual(seen, ['alice:CREATE', 'alice:CREATE']);
    assert.equal(server.stats.refused, 1);
  } finally {
    await server.stop();
  }
  await withServer(async (p, c) => assert.equal((await post(p, c.certPem, '{}', '/validate')).status, 404));
});
