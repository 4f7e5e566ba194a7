// End to end in the lab: real namespaces, real Envoys, real apps. The learned policy must equal exactly the
// connections the apps make (recall and precision 100%), every service converges, and a kill -9 of the control
// plane loses nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { ServerProcess, isRoot, json, nanoseg, tempDir, waitFor } from '../support/cli.js';
import type { ServiceView, StatusView } from '../../xds-server/src/api/views.js';
import type { PolicyDocument as PolicyView } from '../../xds-server/src/policy/index.js';

const APP = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');

// 4 services (web has 2 replicas), HTTP through service VIPs, TCP to a database, HTTP to an external host,
// and one direct pod-address connection (loadgen → db-1's own address).
const LAB = `
apiVersion: nanoseg.io/v1alpha1
kind: Lab
name: e2e
capture: ebpf
pods:
  - name: loadgen
    service: shop/loadgen
    run: "python3 ${APP} call --every 0.3 http://web.shop:8080/ tcp://10.213.0.40:5432"
  - name: web-1
    service: shop/web
    address: 10.213.0.11
    ports: [8080]
    run: ["python3 ${APP} http 8080", "python3 ${APP} call --every 0.3 http://api.shop:9090/items"]
  - name: web-2
    service: shop/web
    address: 10.213.0.12
    capture: nftables
    ports: [8080]
    run: ["python3 ${APP} http 8080", "python3 ${APP} call --every 0.3 http://api.shop:9090/items"]
  - name: api-1
    service: shop/api
    ports: [9090]
    run: ["python3 ${APP} http 9090", "python3 ${APP} call --every 0.3 tcp://db.data:5432 http://payments:443/charge"]
  - name: db-1
    service: data/db
    address: 10.213.0.40
    capture: nftables
    ports: [5432]
    run: "python3 ${APP} tcp 5432"
externals:
  - name: payments
    address: 203.0.113.10
    run: "python3 ${APP} http 443"
`;

type Rule = string;
const EXPECTED: Record<string, { ingress: Rule[]; egress: Rule[] }> = {
  'shop/loadgen': { ingress: [], egress: ['shop/web http/8080', 'data/db tcp/5432'] },
  'shop/web': { ingress: ['shop/loadgen http/8080'], egress: ['shop/api http/9090'] },
  'shop/api': { ingress: ['shop/web http/9090'], egress: ['data/db tcp/5432', '203.0.113.10/32#payments http/443'] },
  'data/db': { ingress: ['shop/loadgen tcp/5432', 'shop/api tcp/5432'], egress: [] },
};

const sorted = (x: { ingress: Rule[]; egress: Rule[] }) => ({
  ingress: [...x.ingress].sort(),
  egress: [...x.egress].sort(),
});

function rules(p: PolicyView): { ingress: Rule[]; egress: Rule[] } {
  const r = (x: PolicyView['ingress'][number]) =>
    `${'service' in x.peer ? x.peer.service : x.peer.cidr + (x.peer.sni ? '#' + x.peer.sni : '')} ${x.protocol}/${x.port}`;
  return { ingress: p.ingress.map(r).sort(), egress: p.egress.map(r).sort() };
}

test(
  'the lab learns exactly the connections the apps make, converges, and survives kill -9',
  { skip: !isRoot && 'needs root (network namespaces, nftables)', timeout: 300_000 },
  async (t) => {
    const tmp = tempDir('nanoseg-e2e-');
    const server = new ServerProcess(tmp.dir, ['--quiet-period', '6s', '--min-observations', '20']);
    const labFile = join(tmp.dir, 'lab.yaml');
    writeFileSync(labFile, LAB);
    t.after(async () => {
      nanoseg(['lab', 'down'], server.env);
      await server.stop();
      tmp.remove();
    });
    await server.start();

    const up = nanoseg(['lab', 'up', '-f', labFile], server.env, 180_000);
    assert.equal(up.code, 0, `lab up failed: ${up.stderr}`);
    // capture: ebpf for loadgen, web-1 and api-1 (their outbound goes through connect4), nftables for the others;
    // every pod has the bind guard
    const pins = readdirSync('/run/nanoseg/bpffs').map((ns) => join('/run/nanoseg/bpffs', ns));
    assert.equal(pins.filter((d) => existsSync(join(d, 'link_nsg_bind4'))).length, 5, pins.join(' '));
    assert.equal(pins.filter((d) => existsSync(join(d, 'link_nsg_connect4'))).length, 3, pins.join(' '));

    // every pod's sidecar is connected and has ACKed its config
    const status = json<StatusView>(['status'], server.env);
    assert.equal(status.envoys.length, 5, JSON.stringify(status.envoys.map((e) => e.node)));

    const services = await waitFor(
      'every service to converge',
      () => {
        const list = json<ServiceView[]>(['services'], server.env);
        return list.length === 4 && list.every((s) => s.state === 'converged') ? list : undefined;
      },
      120_000,
      1000,
    );
    assert.deepEqual(services.map((s) => s.name).sort(), Object.keys(EXPECTED).sort());
    const web = services.find((s) => s.name === 'shop/web')!;
    assert.deepEqual(
      web.workloads.map((w) => w.name),
      ['web-1', 'web-2'],
      'replicas collapse into one service',
    );

    const before: Record<string, PolicyView> = {};
    for (const name of Object.keys(EXPECTED)) {
      const p = json<PolicyView>(['policy', 'show', name], server.env);
      assert.deepEqual(rules(p), sorted(EXPECTED[name]!), `learned policy of ${name}`);
      before[name] = p;
    }
    const ackedBefore = new Map(json<StatusView>(['status'], server.env).envoys.map((e) => [e.node, e.acked]));

    // kill -9 and restart: nothing learned is lost, and sidecars get the same config (same versions)
    server.kill9();
    await server.waitExit();
    await server.start();
    for (const name of Object.keys(EXPECTED)) {
      const p = json<PolicyView>(['policy', 'show', name], server.env);
      assert.deepEqual(rules(p), sorted(EXPECTED[name]!), `policy of ${name} after kill -9`);
      for (const side of ['ingress', 'egress'] as const) {
        p[side].forEach((r, i) => {
          const old = before[name]![side][i]!;
          assert.equal(r.evidence!.firstSeen, old.evidence!.firstSeen);
          assert.ok(
            r.evidence!.count >= old.evidence!.count - 20,
            `${name} ${side}[${i}] count ${r.evidence!.count} vs ${old.evidence!.count} before`,
          );
        });
      }
    }
    await waitFor(
      'every sidecar to reconnect and ACK',
      () => {
        const s = json<StatusView>(['status'], server.env);
        return s.envoys.length === 5 && s.envoys.every((e) => e.acked.lds && e.acked.cds) ? s : undefined;
      },
      60_000,
      500,
    ).then((s) => {
      for (const e of s.envoys) {
        const was = ackedBefore.get(e.node) as Record<string, string>;
        for (const [t, v] of Object.entries(e.acked))
          assert.equal(v, was[t], `${e.node} ${t}: same config after restart`);
      }
    });
    // learning goes on after the restart
    const after = await waitFor(
      'access logs after restart',
      () => {
        const s = json<StatusView>(['status'], server.env);
        return s.accessLogs.entries > 0 ? s : undefined;
      },
      30_000,
    );
    assert.equal(after.accessLogs.rejected, 0, JSON.stringify(after.accessLogs.rejectedByKind));
  },
);
