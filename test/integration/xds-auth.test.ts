// The authenticated xDS listener over real sockets: TLS from the control plane's CA (an IP SAN), the bearer token
// checked by a TokenReview through the real Kubernetes client against an apiserver stand-in (an HTTP server started
// here: the TokenReview endpoint is our seam), and the node id a stream may speak as. Nothing fails open.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentials, status as GrpcStatus, Metadata } from '@grpc/grpc-js';
import { KubeConfig } from '@kubernetes/client-node';
import { AggregatedDiscoveryServiceClient } from '../../proto/gen/envoy/service/discovery/v3/ads.js';
import {
  authenticated,
  authorizeCall,
  kubeTokenReviewer,
  TokenAuthenticator,
} from '../../xds-server/src/auth/index.js';
import { createCa, issueServing } from '../../injector/index.js';
import { GrpcServer, ServingCertificate } from '../../xds-server/src/serve/grpc.js';
import { ADS_SERVICE, AdsServer, CDS, SnapshotCache, makeSnapshot } from '../../xds-server/src/xds/index.js';
import { SotwAdsClient } from '../support/ads-client.js';
import { cluster } from '../unit/xds/fixtures.js';

const jwt = (sub: string): string =>
  `${Buffer.from('{}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub, exp: 4e9 })).toString('base64url')}.s`;
const API_TOKEN = jwt('api');
/** what the apiserver stand-in says about each token; anything else: not authenticated */
const pods: Record<string, string> = { [API_TOKEN]: 'api-1' };
let apiserverDown = false;
let reviews = 0;

let apiserver: HttpServer;
let grpc: GrpcServer;
let address: string;
let caPem: string;
const cache = new SnapshotCache();
const ads = new AdsServer(cache);
const refusedAs: string[] = [];

before(async () => {
  apiserver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      reviews++;
      if (apiserverDown || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
        res.writeHead(500).end('{}');
        return;
      }
      const spec = (JSON.parse(body) as { spec: { token: string; audiences: string[] } }).spec;
      const pod = pods[spec.token];
      const status = pod
        ? {
            authenticated: true,
            audiences: spec.audiences,
            user: {
              username: 'system:serviceaccount:shop:default',
              extra: { 'authentication.kubernetes.io/pod-name': [pod] },
            },
          }
        : { authenticated: false, error: 'invalid bearer token' };
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec, status }));
    });
  });
  await new Promise<void>((r) => apiserver.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // plain HTTP (client-node allows it only with skipTLSVerify): the stand-in is ours, on loopback
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(apiserver.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u', token: 'control-plane' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  const auth = new TokenAuthenticator({
    reviewer: await kubeTokenReviewer(kc),
    cache: { maxEntries: 100, maxAgeMs: 60_000, negativeMs: 1 },
  });
  const ca = await createCa('test-ca', Date.now());
  caPem = ca.certPem;
  const serving = new ServingCertificate();
  serving.set(await issueServing(ca, ['127.0.0.1'], Date.now()));
  grpc = new GrpcServer();
  grpc.add(
    ADS_SERVICE,
    authenticated(
      ads.handlers((call, node) => {
        const d = authorizeCall(call, node);
        if (!d.ok) refusedAs.push(`${node} ${d.reason}`);
        return d;
      }),
      auth,
    ),
  );
  await grpc.listen({ tls: { address: '127.0.0.1:0', certificate: serving } });
  address = `127.0.0.1:${grpc.port}`;
  cache.setSnapshot('api-1.shop', makeSnapshot([cluster('a')]));
});

after(async () => {
  ads.stop();
  await grpc.stop(100);
  await new Promise((r) => apiserver.close(r));
});

function client(token: string | undefined, ca = caPem): AggregatedDiscoveryServiceClient {
  const tls = credentials.createSsl(Buffer.from(ca));
  const creds =
    token === undefined
      ? tls
      : credentials.combineChannelCredentials(
          tls,
          credentials.createFromMetadataGenerator((_p, cb) => {
            const m = new Metadata();
            m.set('authorization', `Bearer ${token}`);
            cb(null, m);
          }),
        );
  return new AggregatedDiscoveryServiceClient(address, creds);
}

async function stream(token: string | undefined, node: string) {
  const c = client(token);
  const s = new SotwAdsClient(address, { id: node, cluster: 'shop/api' }, { client: c });
  s.request(CDS);
  return { s, c };
}

test('a pod with its own token, speaking as its own node, is served over TLS', async () => {
  const { s, c } = await stream(API_TOKEN, 'api-1.shop');
  const res = await s.waitFor(CDS);
  assert.equal(res.resources.length, 1);
  assert.ok(ads.status().some((x) => x.nodeId === 'api-1.shop'));
  s.close();
  c.close();
});

test('its own token but another node id: PERMISSION_DENIED, nothing served, counted', async () => {
  const { s, c } = await stream(API_TOKEN, 'web-1.shop');
  const st = await s.closed;
  assert.equal(st.code, GrpcStatus.PERMISSION_DENIED);
  assert.match(st.details, /may speak only as node api-1\.shop, not web-1\.shop/);
  assert.equal(s.responses.length, 0);
  assert.deepEqual(refusedAs, ['web-1.shop foreign-node']);
  c.close();
});

test('no token, a token the apiserver rejects, or an apiserver that fails: UNAUTHENTICATED', async () => {
  for (const token of [undefined, jwt('nobody')]) {
    const { s, c } = await stream(token, 'api-1.shop');
    const st = await s.closed;
    assert.equal(st.code, GrpcStatus.UNAUTHENTICATED, String(token));
    assert.equal(s.responses.length, 0);
    c.close();
  }
  apiserverDown = true;
  const before = reviews;
  const { s, c } = await stream(jwt('api-again'), 'api-1.shop');
  const st = await s.closed;
  assert.equal(st.code, GrpcStatus.UNAUTHENTICATED);
  assert.match(st.details, /TokenReview failed/);
  assert.equal(reviews, before + 1, 'the review was asked for, and failed closed');
  apiserverDown = false;
  c.close();
});

test('the listener is TLS only: a client that does not trust the CA or speaks plaintext gets nothing', async () => {
  const other = await createCa('other-ca', Date.now());
  for (const c of [
    client(API_TOKEN, other.certPem),
    new AggregatedDiscoveryServiceClient(address, credentials.createInsecure()),
  ]) {
    const s = new SotwAdsClient(address, { id: 'api-1.shop' }, { client: c });
    s.request(CDS);
    const st = await s.closed;
    assert.equal(st.code, GrpcStatus.UNAVAILABLE);
    assert.equal(s.responses.length, 0);
    c.close();
  }
});
