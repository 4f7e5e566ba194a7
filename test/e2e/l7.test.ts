// L7 segments end to end, real Envoys in the lab: an app calling REST-style paths with ids teaches exactly its
// templates (`GET /items/{id}`, `GET /v1/cart`), shown by `policy show`; with `mode shop/api enforce --l7` the
// learned templates pass with new ids, while a new path and a new method are refused by the server's sidecar (403)
// and alerted with the request and the closest learned template.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { ServerProcess, isRoot, json, nanoseg, tempDir, waitFor } from '../support/cli.js';
import type { Alert } from '../../xds-server/src/model/index.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';

const APP = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');
const API = 'http://10.213.0.21:9090';

const LAB = `
apiVersion: nanoseg.io/v1alpha1
kind: Lab
name: l7
pods:
  - name: api-1
    service: shop/api
    address: 10.213.0.21
    run: ["python3 ${APP} http 9090"]
  - name: web-1
    service: shop/web
    address: 10.213.0.11
    run: ["python3 ${APP} call --every 0.3 ${API}/items/1 ${API}/items/22?expand=1 ${API}/items/0a1b2c3d4e ${API}/v1/cart"]
`;

const root = !isRoot && 'needs root (network namespaces, nftables)';

describe('L7 segments: learned method + path templates, enforced per service', { skip: root, timeout: 240_000 }, () => {
  const tmp = isRoot ? tempDir('nanoseg-l7-') : undefined;
  const dir = tmp?.dir ?? '/nonexistent';
  const server = new ServerProcess(dir);
  const env = () => server.env;
  /** the HTTP status web-1 gets for `curl -X METHOD URL` (000 when the connection failed) */
  const status = (method: string, url: string) => {
    const r = nanoseg(
      [
        'lab',
        'exec',
        'web-1',
        '--',
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-m',
        '3',
        '-X',
        method,
        url,
      ],
      env(),
      30_000,
    );
    return r.stdout.trim();
  };
  const alerts = () => json<Alert[]>(['alerts'], env());

  before(async () => {
    writeFileSync(join(dir, 'lab.yaml'), LAB);
    await server.start();
    const up = nanoseg(['lab', 'up', '-f', join(dir, 'lab.yaml')], env(), 180_000);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    if (!tmp) return;
    nanoseg(['lab', 'down'], env());
    await server.stop();
    tmp.remove();
  });

  test('learn: the templates are exactly the calls made, ids collapsed and the query dropped', async () => {
    const rule = await waitFor(
      'shop/api to learn the paths of shop/web',
      () => {
        const p = json<PolicyDocument>(['policy', 'show', 'shop/api'], env());
        const r = p.ingress.find((x) => 'service' in x.peer && x.peer.service === 'shop/web' && x.port === 9090);
        return r && (r.paths?.length ?? 0) >= 2 ? r : undefined;
      },
      30_000,
      500,
    );
    assert.equal(rule.protocol, 'http');
    await new Promise((r) => setTimeout(r, 1000)); // a few more rounds: nothing else shows up
    const p = json<PolicyDocument>(['policy', 'show', 'shop/api'], env());
    const again = p.ingress.find((x) => 'service' in x.peer && x.peer.service === 'shop/web' && x.port === 9090)!;
    assert.deepEqual(
      (again.paths ?? []).map((x) => `${x.method} ${x.path}`),
      ['GET /items/{id}', 'GET /v1/cart'],
    );
    assert.equal(alerts().length, 0);
  });

  test('enforce --l7: learned templates pass with new ids; a new path and a new method get 403 and an alert', async () => {
    const r = nanoseg(['mode', 'shop/api', 'enforce', '--l7'], env());
    assert.equal(r.code, 0, r.stderr);
    // the server's sidecar has its L7 RBAC once a new path is refused
    await waitFor('the L7 RBAC in force', () => status('GET', `${API}/v1/orders`) === '403', 15_000, 300);
    assert.equal(status('GET', `${API}/items/999`), '200', 'a learned template with a new id');
    assert.equal(status('GET', `${API}/v1/cart?x=1`), '200', 'a learned template with a query string');
    assert.equal(status('POST', `${API}/items/5`), '403', 'a new method on a learned path');

    const denied = (method: string) =>
      waitFor(
        `a denied alert for ${method}`,
        () => alerts().find((a) => a.verdict === 'denied' && a.request?.method === method),
        15_000,
      );
    const orders = await denied('GET');
    assert.equal(orders.point, 'sidecar');
    assert.equal(orders.source.service, 'shop/web');
    assert.equal(orders.destination.service, 'shop/api');
    assert.deepEqual(orders.request, { method: 'GET', path: '/v1/orders' });
    assert.deepEqual(orders.closestTemplate, { method: 'GET', path: '/v1/cart' });
    assert.match(
      orders.reason,
      /^shop\/api ingress allows shop\/web on http\/9090 only on its learned paths, not GET \/v1\/orders \(closest: GET \/v1\/cart\)$/,
    );
    const post = await denied('POST');
    assert.deepEqual(post.request, { method: 'POST', path: '/items/5' });
    assert.deepEqual(post.closestTemplate, { method: 'GET', path: '/items/{id}' });
    // the app's own learned calls kept working: no alert names them
    assert.ok(!alerts().some((a) => a.request?.path.startsWith('/items/') && a.request.method === 'GET'));
  });
});
