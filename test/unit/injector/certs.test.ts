import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  caBundle,
  caBundlePatch,
  CertRotator,
  createCa,
  issueServing,
  needsRenewal,
  rotate,
  type CaBundlePublisher,
} from '../../../injector/index.js';
import { FakeScheduler } from '../../support/fake-scheduler.js';

const DAY = 24 * 3600 * 1000;
const T0 = Date.parse('2026-12-01T00:00:00Z');
const NAMES = ['nanoseg-webhook.nanoseg-system.svc', 'nanoseg-webhook.nanoseg-system.svc.cluster.local'];
const OPTS = { commonName: 'nanoseg-webhook-ca', dnsNames: NAMES };

test('certs: the CA signs a serving certificate for the webhook names, which node:crypto verifies', async () => {
  const ca = await createCa('nanoseg-webhook-ca', T0);
  const s = await issueServing(ca, NAMES, T0);
  const caCert = new X509Certificate(ca.certPem);
  const cert = new X509Certificate(s.certPem);
  assert.equal(caCert.ca, true);
  assert.equal(cert.ca, false);
  assert.ok(cert.checkIssued(caCert));
  assert.ok(cert.verify(caCert.publicKey));
  assert.equal(cert.subjectAltName, NAMES.map((n) => `DNS:${n}`).join(', '));
  assert.ok(cert.checkHost(NAMES[0]!));
  assert.equal(cert.checkHost('evil.example.com'), undefined);
  assert.match(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/, 'serverAuth');
  // the key in the pair is the certificate's
  assert.equal(
    createPublicKey(createPrivateKey(s.keyPem)).export({ type: 'spki', format: 'pem' }),
    cert.publicKey.export({ type: 'spki', format: 'pem' }),
  );
  assert.equal(s.notAfter - T0, 30 * DAY);
  assert.ok(s.notBefore < T0, 'backdated for clock skew');
});

test('certs: renewal at the last third of the lifetime; a serving certificate never outlives its CA', async () => {
  const c = { notBefore: 0, notAfter: 30 * DAY };
  assert.equal(needsRenewal(c, 19 * DAY), false);
  assert.equal(needsRenewal(c, 20 * DAY), true);
  assert.equal(needsRenewal(c, 31 * DAY), true);
  const shortCa = await createCa('ca', T0, 10 * DAY);
  const s = await issueServing(shortCa, NAMES, T0);
  assert.equal(s.notAfter, shortCa.notAfter);
});

test('rotate: level-triggered — nothing due changes nothing; serving renewed under the same CA; CA renewed with overlap', async () => {
  const s0 = await rotate(undefined, T0, OPTS);
  assert.equal(await rotate(s0, T0 + DAY, OPTS), s0, 'nothing due: the same state');
  const s1 = await rotate(s0, T0 + 21 * DAY, OPTS);
  assert.equal(s1.ca, s0.ca);
  assert.notEqual(s1.serving.certPem, s0.serving.certPem);
  assert.ok(new X509Certificate(s1.serving.certPem).verify(new X509Certificate(s0.ca.certPem).publicKey));
  // other names: re-issued
  const s1b = await rotate(s1, T0 + 21 * DAY, { ...OPTS, dnsNames: [NAMES[0]!] });
  assert.notEqual(s1b.serving, s1.serving);
  // the CA in its last third: a new CA, the old one kept in the bundle while valid, serving re-issued by the new
  const at = T0 + 250 * DAY;
  const s2 = await rotate(s1, at, OPTS);
  assert.notEqual(s2.ca.certPem, s1.ca.certPem);
  assert.equal(s2.previousCa?.certPem, s1.ca.certPem);
  assert.ok(new X509Certificate(s2.serving.certPem).checkIssued(new X509Certificate(s2.ca.certPem)));
  assert.equal(caBundle(s2, at), s2.ca.certPem + s1.ca.certPem);
  assert.equal(caBundle(s2, T0 + 400 * DAY), s2.ca.certPem, 'an expired previous CA leaves the bundle');
  const s3 = await rotate(s2, T0 + 370 * DAY, OPTS);
  assert.equal(s3.previousCa, undefined);
});

test('caBundlePatch: sets each webhook whose bundle differs (add or replace), nothing when current', () => {
  const b64 = Buffer.from('PEM').toString('base64');
  const conf = {
    webhooks: [
      { name: 'a', clientConfig: {} },
      { name: 'b', clientConfig: { caBundle: 'b2xk' } },
      { name: 'c', clientConfig: { caBundle: b64 } },
    ],
  };
  assert.deepEqual(caBundlePatch(conf, 'PEM'), [
    { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: b64 },
    { op: 'replace', path: '/webhooks/1/clientConfig/caBundle', value: b64 },
  ]);
});

test('CertRotator: publishes the bundle before serving, persists 0600, reloads, renews on its timer, retries failures', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nanoseg-certs-'));
  try {
    const sched = new FakeScheduler(T0);
    const bundles: string[] = [];
    const events: string[] = [];
    let failNext = false;
    const publisher: CaBundlePublisher = {
      publish: async (b) => {
        if (failNext) {
          failNext = false;
          throw new Error('apiserver unavailable');
        }
        bundles.push(b);
        events.push('bundle');
      },
    };
    const served: string[] = [];
    const r = new CertRotator({
      ...OPTS,
      dir,
      publisher,
      scheduler: sched,
      onServing: (t) => {
        served.push(t.certPem);
        events.push('serving');
      },
    });
    const s0 = await r.start();
    assert.deepEqual(events, ['bundle', 'serving']);
    assert.equal(bundles[0], s0.ca.certPem);
    assert.equal(statSync(join(dir, 'webhook-tls.json')).mode & 0o777, 0o600);

    // a restarted control plane reuses the persisted state: no new CA, bundle unchanged
    const again = new CertRotator({ ...OPTS, dir, scheduler: new FakeScheduler(T0 + DAY) });
    assert.equal((await again.start()).ca.certPem, s0.ca.certPem);
    again.stop();

    // the timer renews the serving certificate (it checks hourly; a day's advance fires the one check due, as a
    // timer's step re-arms only once its async work is done)
    failNext = false;
    for (let d = 0; d < 21; d++) {
      sched.advance(DAY);
      await r.whenIdle();
    }
    assert.notEqual(r.current()!.serving.certPem, s0.serving.certPem);
    assert.equal(r.current()!.ca.certPem, s0.ca.certPem);
    assert.equal(served.at(-1), r.current()!.serving.certPem);

    // a CA renewal whose publish fails is retried; the new serving certificate is not handed out before
    failNext = true;
    const servedBefore = served.length;
    for (let d = 0; d < 230 && bundles.length < 2; d++) {
      sched.advance(DAY);
      await r.whenIdle();
    }
    assert.equal(bundles.length, 2);
    assert.equal(bundles[1], r.current()!.ca.certPem + s0.ca.certPem);
    assert.ok(served.length > servedBefore);
    r.stop();
    assert.equal(sched.pending, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
