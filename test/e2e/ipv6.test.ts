// IPv6 on par with IPv4, end to end in a dual-stack lab (`subnet6`), with kernel enforcement on: one replica of
// shop/app captured by nftables, one by eBPF. In learn, IPv6 TCP to a service is learned as the same edge as IPv4
// (attributed to the workload, not kept as an address), and IPv6 to an external allowed only over IPv4 works — TCP,
// UDP and ICMPv6 out, HTTP in. Enforced with a policy whose external peer is IPv4 only: the service edge keeps
// working over both families, and every IPv6 attempt to or from that external is blocked with a denied alert.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { BIN, ServerProcess, isRoot, json, nanoseg, tempDir, waitFor } from '../support/cli.js';
import type { StatusView } from '../../xds-server/src/api/views.js';
import type { Alert } from '../../xds-server/src/model/index.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';

const APP = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');
const PAY4 = '203.0.113.10';
const PAY6 = '2001:db8::10';
const DB4 = '10.213.0.31';
const DB6 = 'fd6e:7367::31';
const APP1_6 = 'fd6e:7367::11';

const LAB = `
apiVersion: nanoseg.io/v1alpha1
kind: Lab
name: ipv6
subnet6: fd6e:7367::/64
pods:
  - name: app-1
    service: shop/app
    address: 10.213.0.11
    address6: ${APP1_6}
    capture: nftables
    run: "python3 ${APP} http 8080"
  - name: app-2
    service: shop/app
    address: 10.213.0.12
    address6: fd6e:7367::12
    capture: ebpf
    run: "python3 ${APP} http 8080"
  - name: db-1
    service: data/db
    address: ${DB4}
    address6: ${DB6}
    run: "python3 ${APP} tcp 5432"
externals:
  - name: payments
    address: ${PAY4}
    address6: ${PAY6}
    run: ["python3 ${APP} http 443", "python3 ${APP} udp 5353"]
`;

// What a person keeps of the learned policy: the database (a service: both families) and payments by its IPv4
// address only — the IPv6 calls of the learn phase were learned too, and are left out.
const POLICY = `
apiVersion: nanoseg.io/v1alpha1
kind: Policy
service: shop/app
ingress:
  - {peer: {cidr: ${PAY4}/32}, protocol: http, port: 8080}
egress:
  - {peer: {service: data/db}, protocol: tcp, port: 5432}
  - {peer: {cidr: ${PAY4}/32}, protocol: http, port: 443}
  - {peer: {cidr: ${PAY4}/32}, protocol: udp, port: 5353}
  - {peer: {cidr: ${PAY4}/32}, protocol: icmp}
`;

const root = !isRoot && 'needs root (network namespaces, nftables, eBPF)';

describe('IPv6 on par with IPv4 (dual-stack lab, both capture modes)', { skip: root, timeout: 300_000 }, () => {
  const tmp = isRoot ? tempDir('nanoseg-ipv6-') : undefined;
  const dir = tmp?.dir ?? '/nonexistent';
  const server = new ServerProcess(dir, ['--kernel-netns', 'nsg-lab']);
  const env = () => server.env;
  const once = (target: string) => ['python3', APP, 'call', '--count', '1', '--timeout', '2', target];
  /** runs calls concurrently (a blocked one waits out its timeout): [member, target] → exit codes */
  const parallel = (list: readonly (readonly [string, string])[]) =>
    Promise.all(
      list.map(
        ([member, target]) =>
          new Promise<number>((resolve) => {
            const p = spawn(process.execPath, [BIN, 'lab', 'exec', member, '--', ...once(target)], {
              env: { ...process.env, ...env() },
              stdio: 'ignore',
            });
            p.on('close', (code) => resolve(code ?? -1));
          }),
      ),
    );
  const alerts = () => json<Alert[]>(['alerts'], env());
  const denied = (src: string, dst: string, port: number) =>
    waitFor(
      `a denied alert ${src} → ${dst}:${port}`,
      () =>
        alerts().find(
          (a) =>
            a.verdict === 'denied' &&
            (a.source.service ?? a.source.ip) === src &&
            (a.destination.service ?? a.destination.ip) === dst &&
            a.destination.port === port,
        ),
      15_000,
    );
  const updates = () => json<StatusView>(['status'], env()).kernel?.updates ?? 0;

  const CLIENTS = ['app-1', 'app-2'] as const; // nftables and eBPF capture
  const TO_DB = [`tcp://${DB4}:5432`, `tcp://[${DB6}]:5432`];
  // IPv6 to the external that the policy will allow over IPv4 only: tcp (http), udp, icmpv6 out; http in
  const V6_TO_PAYMENTS = [`http://[${PAY6}]:443/charge`, `udp://[${PAY6}]:5353`, `icmp://[${PAY6}]`];
  const V6_FROM_PAYMENTS = [`http://[${APP1_6}]:8080/`, `http://[fd6e:7367::12]:8080/`];
  const bypasses = (): [string, string][] => [
    ...CLIENTS.flatMap((c) => V6_TO_PAYMENTS.map((t): [string, string] => [c, t])),
    ...V6_FROM_PAYMENTS.map((t): [string, string] => ['payments', t]),
  ];

  before(async () => {
    writeFileSync(join(dir, 'lab.yaml'), LAB);
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
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

  test('learn: IPv6 works everywhere, and IPv6 to a service is the same edge as IPv4', async () => {
    const list = bypasses();
    const calls: [string, string][] = [...CLIENTS.flatMap((c) => TO_DB.map((t): [string, string] => [c, t])), ...list];
    const codes = await parallel(calls);
    calls.forEach(([m, t], i) => assert.equal(codes[i], 0, `${m} → ${t} works in learn`));
    const p = await waitFor(
      'shop/app egress to data/db and to payments over IPv6',
      () => {
        const d = json<PolicyDocument>(['policy', 'show', 'shop/app'], env());
        const peer = (r: PolicyDocument['egress'][number]) => ('service' in r.peer ? r.peer.service : r.peer.cidr);
        const db = d.egress.find((r) => peer(r) === 'data/db' && r.port === 5432);
        // 4 connections to the database, 2 of them over IPv6
        return (db?.evidence?.count ?? 0) >= 4 && d.egress.some((r) => peer(r) === `${PAY6}/128` && r.port === 443)
          ? d
          : undefined;
      },
      30_000,
      500,
    );
    // the IPv6 calls to db-1 were attributed to its workload: no rule names its IPv6 address
    assert.ok(!p.egress.some((r) => 'cidr' in r.peer && r.peer.cidr.startsWith('fd6e')), JSON.stringify(p.egress));
    assert.equal(alerts().length, 0, JSON.stringify(alerts()));
    const k = json<StatusView>(['status'], env()).kernel!;
    assert.equal(k.state, 'ok');
  });

  test('enforce: the service edge works over both families; IPv6 to and from an IPv4-only peer is denied', async () => {
    const before = updates();
    assert.equal(nanoseg(['mode', '--all', 'enforce'], env()).code, 0);
    const applied = nanoseg(['policy', 'apply', '-f', join(dir, 'policy.yaml')], env());
    assert.equal(applied.code, 0, applied.stderr);
    await waitFor('the kernel rules to be in force', () => (updates() > before ? true : undefined), 10_000, 100);
    await new Promise((res) => setTimeout(res, 1500)); // the sidecars' debounced push

    const allowed: [string, string][] = [
      ...CLIENTS.flatMap((c) => TO_DB.map((t): [string, string] => [c, t])),
      ...CLIENTS.flatMap((c) =>
        [`http://${PAY4}:443/charge`, `udp://${PAY4}:5353`, `icmp://${PAY4}`].map((t): [string, string] => [c, t]),
      ),
      ['payments', 'http://10.213.0.11:8080/'],
      ['payments', 'http://10.213.0.12:8080/'],
    ];
    const blocked = bypasses();
    const codes = await parallel([...allowed, ...blocked]);
    allowed.forEach(([m, t], i) => assert.equal(codes[i], 0, `${m} → ${t} is allowed`));
    blocked.forEach(([m, t], i) => assert.notEqual(codes[allowed.length + i], 0, `${m} → ${t} must be blocked`));

    // out: the sidecar never dials it (tcp); the kernel drops udp and icmpv6 — each with a denied alert
    const tcp = await denied('shop/app', PAY6, 443);
    assert.equal(tcp.point, 'sidecar');
    assert.match(tcp.reason, /shop\/app egress has no rule for 2001:db8::10\/128/);
    const udp = await denied('shop/app', PAY6, 5353);
    assert.equal(udp.point, 'kernel');
    assert.equal(udp.protocol, 'udp');
    const icmp = await denied('shop/app', PAY6, 0);
    assert.equal(icmp.point, 'kernel');
    assert.equal(icmp.protocol, 'icmp');
    // in: the kernel drops it before any sidecar sees it
    const inbound = await denied(PAY6, 'shop/app', 8080);
    assert.equal(inbound.side, 'ingress');
    assert.match(inbound.reason, /shop\/app ingress allows 203\.0\.113\.10\/32 on 8080 but not 2001:db8::10/);
    const k = json<StatusView>(['status'], env()).kernel!;
    assert.equal(k.state, 'ok');
  });
});
