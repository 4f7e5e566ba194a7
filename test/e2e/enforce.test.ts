// End to end enforcement in the lab, tested by behaviour ("web → db:5432 = denied"), not by rule text:
// learn → monitor → enforce, alerts, a replica joining while enforced, policy round trip, a long-lived connection
// across 100 policy updates, the control plane killed while enforced, and a sidecar killed in an enforced pod.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { ServerProcess, isRoot, json, nanoseg, tempDir, waitFor } from '../support/cli.js';
import { ApiClient } from '../../xds-server/src/cli/client.js';
import type { ServiceView, StatusView } from '../../xds-server/src/api/views.js';
import type { Alert } from '../../xds-server/src/model/index.js';

const APP = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');

function lab(extraWeb = false): string {
  const web = (n: number, addr: string) => `
  - name: web-${n}
    service: shop/web
    address: ${addr}
    ports: [8080]
    run: ["python3 ${APP} http 8080", "python3 ${APP} call --every 0.3 http://api.shop:9090/items"]`;
  return `
apiVersion: nanoseg.io/v1alpha1
kind: Lab
name: enforce
pods:
  - name: loadgen
    service: shop/loadgen
    address: 10.213.0.5
    run: "python3 ${APP} call --every 0.3 http://web.shop:8080/"${web(1, '10.213.0.11')}${web(2, '10.213.0.12')}${extraWeb ? web(3, '10.213.0.13') : ''}
  - name: api-1
    service: shop/api
    address: 10.213.0.21
    ports: [9090]
    run: ["python3 ${APP} http 9090", "python3 ${APP} call --every 0.3 tcp://db.data:5432 http://payments:443/charge"]
  - name: db-1
    service: data/db
    address: 10.213.0.31
    ports: [5432]
    run: "python3 ${APP} tcp 5432"
externals:
  - name: payments
    address: 203.0.113.10
    run: ["python3 ${APP} http 443", "python3 ${APP} http 444"]
  - name: stranger
    address: 203.0.113.20
    run: "python3 ${APP} http 80"
`;
}

const root = !isRoot && 'needs root (network namespaces, nftables)';

describe('enforcement in the lab', { skip: root, timeout: 600_000 }, () => {
  const tmp = isRoot ? tempDir('nanoseg-enforce-') : undefined;
  const server = new ServerProcess(tmp?.dir ?? '/nonexistent', ['--quiet-period', '5s', '--min-observations', '15']);
  const labFile = join(tmp?.dir ?? '/nonexistent', 'lab.yaml');
  const env = () => server.env;
  /** one call from POD; the exit code says whether it got through */
  const call = (pod: string, target: string) =>
    nanoseg(['lab', 'exec', pod, '--', 'python3', APP, 'call', '--count', '1', target], env(), 30_000).code;
  const alerts = () => json<Alert[]>(['alerts'], env());
  const findAlert = (verdict: string, src: string, dst: string, port: number) =>
    alerts().find(
      (a) =>
        a.verdict === verdict &&
        (a.source.service ?? a.source.ip) === src &&
        (a.destination.service ?? a.destination.ip) === dst &&
        a.destination.port === port,
    );
  const acked = () => json<StatusView>(['status'], env()).envoys;
  /** wait until every sidecar ACKed what it was last sent (pushes are debounced) */
  const settled = async () => {
    await new Promise((res) => setTimeout(res, 400)); // pushes are debounced (100 ms, at most 1 s)
    return waitFor(
      'every sidecar to ACK its latest config',
      () => {
        const e = acked();
        return e.length > 0 &&
          e.every((x) =>
            ['cds', 'lds', 'ecds'].every(
              (t) => (x.sent as Record<string, string>)[t] === (x.acked as Record<string, string>)[t],
            ),
          )
          ? e
          : undefined;
      },
      30_000,
      200,
    );
  };

  // a webhook receiver on loopback: every alert must arrive there as a JSON POST
  const received: Alert[] = [];
  let hook: Server | undefined;

  before(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push(JSON.parse(body) as Alert);
        res.writeHead(204);
        res.end();
      });
    });
    await new Promise<void>((r) => hook!.listen(0, '127.0.0.1', () => r()));
    const port = (hook.address() as { port: number }).port;
    server.args.push('--alert-webhook', `http://127.0.0.1:${port}/alerts`);
    writeFileSync(labFile, lab());
    await server.start();
    const up = nanoseg(['lab', 'up', '-f', labFile], env(), 180_000);
    assert.equal(up.code, 0, up.stderr);
    await waitFor(
      'the shop to converge',
      () => {
        const s = json<ServiceView[]>(['services'], env());
        return s.length === 4 && s.every((x) => x.state === 'converged') ? s : undefined;
      },
      120_000,
      1000,
    );
  });
  after(async () => {
    hook?.close();
    if (!tmp) return;
    nanoseg(['lab', 'down'], env());
    await server.stop();
    tmp.remove();
  });

  test('learn: nothing is blocked and there are no alerts', () => {
    assert.equal(call('loadgen', 'http://web.shop:8080/'), 0);
    assert.deepEqual(alerts(), []);
  });

  test('monitor: off-segment attempts pass and become would-deny alerts naming the missing rule', async () => {
    const r = nanoseg(['mode', '--all', 'monitor'], env());
    assert.equal(r.code, 0, r.stderr);
    await settled();
    assert.equal(call('web-1', 'tcp://db.data:5432'), 0, 'monitor lets it through');
    const a = await waitFor('a would-deny alert', () => findAlert('would-deny', 'shop/web', 'data/db', 5432), 15_000);
    assert.equal(a.mode, 'monitor');
    // either side may report first; both name the missing rule
    assert.match(
      a.reason,
      /shop\/web egress has no rule for data\/db|data\/db ingress allows shop\/api on 5432 but not shop\/web/,
    );
    assert.equal(a.source.workload, 'web-1');
    assert.equal(a.source.ip, '10.213.0.11');
  });

  test('enforce: off-segment attempts are blocked both ways and alerted; learned traffic keeps working', async () => {
    const r = nanoseg(['mode', '--all', 'enforce'], env());
    assert.equal(r.code, 0, r.stderr);
    await settled();
    // learned connections still work
    assert.equal(call('loadgen', 'http://web.shop:8080/'), 0);
    assert.equal(call('web-2', 'http://api.shop:9090/items'), 0);
    assert.equal(call('api-1', 'tcp://db.data:5432'), 0);
    assert.equal(call('api-1', 'http://payments:443/charge'), 0);
    // service → service
    assert.notEqual(call('web-1', 'tcp://db.data:5432'), 0, 'web → db denied');
    assert.notEqual(call('web-1', 'tcp://10.213.0.31:5432'), 0, 'web → db pod address denied');
    // service → unknown external
    assert.notEqual(call('web-1', 'http://203.0.113.20:80/'), 0, 'web → unknown external denied');
    // allowed external on a wrong port
    assert.notEqual(call('api-1', 'http://payments:444/'), 0, 'api → payments:444 denied');
    // reverse direction of a learned edge
    assert.notEqual(call('db-1', 'http://api.shop:9090/'), 0, 'db → api denied');
    assert.notEqual(call('db-1', 'http://10.213.0.21:9090/'), 0, 'db → api pod address denied');
    for (const [src, dst, port] of [
      ['shop/web', 'data/db', 5432],
      ['shop/web', '203.0.113.20', 80],
      ['shop/api', '203.0.113.10', 444],
      ['data/db', 'shop/api', 9090],
    ] as const) {
      const a = await waitFor(
        `denied alert ${src} → ${dst}:${port}`,
        () => findAlert('denied', src, dst, port),
        15_000,
      );
      assert.equal(a.mode, 'enforce');
      assert.ok(a.reason.length > 10, a.reason);
    }
    // the same alerts went to the webhook, and the metrics count the verdicts
    await waitFor(
      'alerts at the webhook',
      () =>
        received.some((a) => a.verdict === 'denied' && a.source.service === 'shop/web' && a.destination.port === 5432),
      15_000,
    );
    const status = json<StatusView>(['status'], env());
    // delivery is at least once: a retried POST may arrive twice, so count distinct alerts
    const distinct = new Set(received.map((a) => JSON.stringify(a))).size;
    assert.ok((status.alerts.webhook?.sent ?? 0) >= distinct, JSON.stringify(status.alerts));
    // the background loops keep succeeding: evidence keeps growing on every learned edge
    const count = () =>
      json<{ egress: { peer: { service?: string }; evidence?: { count: number } }[] }>(
        ['policy', 'show', 'shop/api'],
        env(),
      ).egress.map((e) => e.evidence?.count ?? 0);
    const c0 = count();
    await new Promise((res) => setTimeout(res, 4000));
    count().forEach((c, i) => assert.ok(c > c0[i]!, `api egress[${i}] still used: ${c0[i]} → ${c}`));
  });

  test('a replica added while enforced: its learned calls work, off-segment calls are blocked, peers accept it', async () => {
    writeFileSync(labFile, lab(true));
    const up = nanoseg(['lab', 'up', '-f', labFile], env(), 120_000);
    assert.equal(up.code, 0, up.stderr);
    await settled();
    assert.equal(call('web-3', 'http://api.shop:9090/items'), 0, 'web-3 → api (learned for shop/web) works');
    assert.equal(call('web-3', 'http://10.213.0.21:9090/items'), 0, 'api accepts web-3 by its address');
    assert.notEqual(call('web-3', 'tcp://db.data:5432'), 0, 'web-3 → db denied');
    assert.equal(call('loadgen', 'http://10.213.0.13:8080/'), 0, 'web-3 accepts loadgen');
  });

  test('policy round trip: show → edit → diff → apply → the edit is enforced and audited', async () => {
    const show = nanoseg(['policy', 'show', 'shop/api', '-o', 'yaml'], env());
    assert.equal(show.code, 0, show.stderr);
    const doc = parse(show.stdout) as { egress: { peer: { cidr?: string } }[] };
    doc.egress = doc.egress.filter((r) => r.peer.cidr !== '203.0.113.10/32');
    const file = join(tmp!.dir, 'api-policy.yaml');
    writeFileSync(file, stringify(doc));
    const diff = nanoseg(['policy', 'diff', '-f', file], env());
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /-\s+egress\s+203\.0\.113\.10\/32/);
    const apply = nanoseg(['policy', 'apply', '-f', file], env());
    assert.equal(apply.code, 0, apply.stderr);
    await settled();
    assert.notEqual(call('api-1', 'http://payments:443/charge'), 0, 'the removed rule is enforced');
    const audit = json<{ actor: string; action: string; target: string }[]>(['audit'], env());
    assert.ok(
      audit.some((e) => e.action === 'policy-apply' && e.target === 'shop/api' && e.actor.length > 0),
      JSON.stringify(audit),
    );
    assert.ok(audit.some((e) => e.action === 'mode' && e.target === 'shop/api'));
    // the audit file in the state dir has it too
    const lines = readFileSync(join(server.stateDir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type?: string; action?: string });
    assert.ok(lines.some((l) => l.action === 'policy-apply'));
    // a file that does not parse changes nothing
    writeFileSync(
      file,
      'apiVersion: nanoseg.io/v1alpha1\nkind: Policy\nservice: shop/api\ningress:\n  - peer: {service: shop/web}\n    protocol: http\n    port: 70000\n',
    );
    const bad = nanoseg(['policy', 'apply', '-f', file], env());
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /api-policy\.yaml:7:\d+: ingress\[0\]\.port/);
    assert.equal(call('web-1', 'http://api.shop:9090/items'), 0, 'unchanged policy still allows web');
  });

  test('a long-lived allowed connection survives 100 unrelated policy updates', async () => {
    const PINGER_SECONDS = 25;
    // loadgen → db is not learned; use api → db (learned, allowed): one TCP connection pinging for the whole test
    const pinger = spawn(
      process.execPath,
      [
        join(projectRoot(), 'bin', 'nanoseg.js'),
        'lab',
        'exec',
        'api-1',
        '--',
        'python3',
        '-c',
        `
import socket, sys, time
s = socket.create_connection(("10.213.0.31", 5432), timeout=5)
f = s.makefile()
end = time.time() + float(sys.argv[1])
n = 0
while time.time() < end:
    s.sendall(b"ping\\n")
    if f.readline() != "ping\\n":
        print("broken after", n, flush=True); sys.exit(1)
    n += 1
    time.sleep(0.05)
print("ok", n, flush=True)
`,
        String(PINGER_SECONDS),
      ],
      { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    pinger.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    pinger.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number>((res) => pinger.on('exit', (c) => res(c ?? -1)));
    const started = Date.now();
    await new Promise((res) => setTimeout(res, 1000));
    const file = join(tmp!.dir, 'db-policy.yaml');
    const base = parse(nanoseg(['policy', 'show', 'data/db', '-o', 'yaml'], env()).stdout) as { ingress: unknown[] };
    // the first update through the CLI, the other 99 through the same API call it makes (a CLI process each would
    // take longer than the connection lives)
    const api = new ApiClient(env().NANOSEG_API!);
    for (let i = 0; i < 100; i++) {
      const doc = {
        ...base,
        ingress: [...base.ingress, { peer: { cidr: `198.51.100.${i % 50}/32` }, protocol: 'tcp', port: 1000 + i }],
      };
      const text = stringify(doc);
      if (i === 0) {
        writeFileSync(file, text);
        const r = nanoseg(['policy', 'apply', '-f', file], env());
        assert.equal(r.code, 0, r.stderr);
      } else {
        const r = await api.call<{ changed: boolean }>('PUT', '/v1/services/data/db/policy', { text, file });
        assert.equal(r.changed, true, `update ${i} changed the policy`);
      }
      // past the push debounce (100 ms), so each update is its own push to the sidecars
      await new Promise((res) => setTimeout(res, 150));
    }
    await settled();
    const elapsed = (Date.now() - started) / 1000;
    assert.ok(elapsed < PINGER_SECONDS - 1, `the updates took ${elapsed.toFixed(1)} s: the connection ended first`);
    const code = await exited;
    assert.equal(code, 0, `the connection broke: ${out}`);
    assert.match(out, /^ok \d+/m);
  });

  test('control plane kill -9 while enforced: sidecars keep enforcing, allowed traffic works, restart never opens', async () => {
    const beforeAcked = new Map(acked().map((e) => [e.node, e.acked]));
    server.kill9();
    await server.waitExit();
    assert.notEqual(call('web-1', 'tcp://db.data:5432'), 0, 'still denied while the control plane is down');
    assert.notEqual(call('web-1', 'http://203.0.113.20:80/'), 0, 'still denied while the control plane is down');
    assert.equal(call('loadgen', 'http://web.shop:8080/'), 0, 'allowed traffic works while the control plane is down');
    await server.start();
    const after = await waitFor(
      'sidecars to reconnect',
      () => {
        const e = acked();
        return e.length === beforeAcked.size && e.every((x) => x.acked.lds) ? e : undefined;
      },
      60_000,
      500,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(acked())} before: ${JSON.stringify([...beforeAcked])}`);
    });
    for (const e of after) {
      // every type the sidecar still subscribes to is at the version it had (EDS of a scoped sidecar may be unused)
      const was = beforeAcked.get(e.node) as Record<string, string>;
      for (const [t, v] of Object.entries(e.acked))
        assert.equal(v, was[t], `${e.node} ${t}: same config after restart (${server.log})`);
    }
    assert.notEqual(call('web-1', 'tcp://db.data:5432'), 0, 'still denied after the restart');
    assert.equal(json<StatusView>(['status'], env()).held.length, 0, 'a control plane with its state holds nobody');
  });

  test("Envoy killed in an enforced pod: the app's connections fail closed, they do not bypass", async () => {
    const pods = json<{ pods: { name: string; envoy?: { pid: number; alive: boolean } }[] }>(
      ['lab', 'list'],
      env(),
    ).pods;
    const envoy = pods.find((p) => p.name === 'web-2')?.envoy;
    assert.ok(envoy?.alive, `web-2's Envoy: ${JSON.stringify(envoy)}`);
    process.kill(envoy.pid, 'SIGKILL');
    await new Promise((res) => setTimeout(res, 500));
    assert.notEqual(call('web-2', 'http://api.shop:9090/items'), 0, 'outbound fails without the sidecar');
    assert.notEqual(call('web-2', 'http://10.213.0.21:9090/items'), 0, 'no bypass to the pod address either');
    assert.notEqual(call('loadgen', 'http://10.213.0.12:8080/'), 0, 'inbound to the pod fails without its sidecar');
  });
});
