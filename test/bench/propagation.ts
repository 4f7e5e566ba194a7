// How fast a change reaches every affected Envoy, in a real lab (own control plane, real Envoys): two client
// replicas calling a two-replica server through its VIP.
//   mode flips  the server's mode monitor ↔ enforce through the API (what `nanoseg mode SERVICE MODE` sends), timed
//               until every server sidecar has ACKed a new version and every sidecar has ACKed all it was sent
//               (/v1/status polled every 10 ms). A few flips through the CLI show what its process start adds.
//   replica     while enforced, one more server replica: the lab inventory with the new workload PUT to
//               /v1/inventory/lab (the body `lab up` sends before it starts the pod), timed until every client
//               sidecar has ACKed the new endpoints and RBAC; then the real `lab up` of the new pod, timed until
//               its own sidecar has ACKed its config (namespace, capture, Envoy start included). Then it is removed.
import type { Inventory, Workload } from '../../xds-server/src/model/index.js';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { join } from 'node:path';
import type { Benchmark, Metric } from './types.js';
import { BenchLab, isRoot, allAcked, median, percentile, sleep, type LabMember } from './lab.js';
import { converged } from './lab-policy.js';

const SERVER = 'bench/server';
const CLIENT = 'bench/client';
const APP = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');
const JOINER: Workload = { name: 'pg-server-3', service: SERVER, addresses: ['10.213.0.23'], ports: [8080] };

export const propagation: Benchmark = {
  name: 'propagation',
  description: 'lab: mode flip → every affected Envoy ACKed; a replica joining while enforced → peers ACKed',
  async run({ quick, progress }) {
    const flips = quick ? 4 : 30;
    const cliFlips = quick ? 1 : 6;
    const joins = quick ? 1 : 5;
    if (!isRoot()) {
      progress('skipped: the lab needs root (network namespaces, nftables)');
      return [];
    }
    const lab = await BenchLab.start('nanoseg-bench-propagation-', ['--min-observations', '10']);
    try {
      const server = (name: string, address: string): LabMember => ({
        name,
        service: SERVER,
        address,
        ports: [8080],
        run: [`exec node ${lab.serverJs} 8080`],
      });
      const client = (name: string, address: string): LabMember => ({
        name,
        service: CLIENT,
        address,
        run: [`exec python3 ${APP} call --every 0.25 http://server.bench:8080/`],
      });
      const members = [
        client('pg-client-1', '10.213.0.11'),
        client('pg-client-2', '10.213.0.12'),
        server('pg-server-1', '10.213.0.21'),
        server('pg-server-2', '10.213.0.22'),
      ];
      lab.up('propagation', members);
      await lab.settled(4);
      progress('lab up; waiting for both services to converge');
      await converged(lab, [CLIENT, SERVER]);
      lab.cli(['mode', '--all', 'monitor']);
      await lab.settled(4);

      // ---- mode flips ------------------------------------------------------------------------------------------
      const isServer = (e: { service: string }) => e.service === SERVER;
      const flipMs: number[] = [];
      const cliMs: number[] = [];
      const types = new Set<string>();
      let others = 0;
      let mode: 'monitor' | 'enforce' = 'monitor';
      for (let i = 0; i < flips + cliFlips; i++) {
        mode = mode === 'monitor' ? 'enforce' : 'monitor';
        const viaCli = i >= flips;
        const before = await lab.status();
        const t0 = performance.now();
        if (viaCli) lab.cli(['mode', SERVER, mode]);
        else await lab.api.call('PUT', `/v1/services/${SERVER}/mode`, { mode });
        const r = await lab.waitChanged(before, isServer);
        (viaCli ? cliMs : flipMs).push(r.at - t0);
        for (const t of r.types) types.add(t);
        const was = new Map(before.envoys.map((e) => [e.node, JSON.stringify(e.acked)]));
        others += r.status.envoys.filter((e) => !isServer(e) && was.get(e.node) !== JSON.stringify(e.acked)).length;
        await sleep(200 + Math.random() * 300); // apart from the debounce window
      }
      progress(
        `mode flips: p50 ${median(flipMs).toFixed(0)} ms, max ${Math.max(...flipMs).toFixed(0)} ms; types changed: ${[...types].join(', ')}`,
      );

      // ---- a replica joining while enforced ---------------------------------------------------------------------
      lab.cli(['mode', '--all', 'enforce']);
      await lab.settled(4);
      const invMs: number[] = [];
      const upMs: number[] = [];
      const labUpMs: number[] = [];
      const joinTypes = new Set<string>();
      const node = `${JOINER.name}.bench`;
      for (let j = 0; j < joins; j++) {
        const inv = await lab.api.call<Inventory>('GET', '/v1/inventory');
        const next: Inventory = { ...inv, workloads: [...inv.workloads, JOINER] };
        const before = await lab.status();
        const t0 = performance.now();
        await lab.api.call('PUT', '/v1/inventory/lab', next);
        const r = await lab.waitChanged(before, (e) => e.service === CLIENT);
        invMs.push(r.at - t0);
        for (const t of r.types) joinTypes.add(t);

        const u0 = performance.now();
        lab.up('propagation', [...members, server(JOINER.name, JOINER.addresses[0]!)]);
        labUpMs.push(performance.now() - u0);
        for (;;) {
          const s = await lab.status();
          const e = s.envoys.find((x) => x.node === node);
          if (e && e.acked.lds && e.acked.ecds && s.envoys.every(allAcked)) {
            upMs.push(performance.now() - u0);
            break;
          }
          if (performance.now() - u0 > 60_000)
            throw new Error(`${node} did not get its config: ${JSON.stringify(s.envoys)}`);
          await sleep(10);
        }
        progress(
          `join ${j + 1}: inventory → peers ACKed ${invMs[j]!.toFixed(0)} ms (${r.types.join(',')}), lab up → new sidecar ACKed ${upMs[j]!.toFixed(0)} ms`,
        );
        lab.up('propagation', members);
        await lab.settled(4);
        await sleep(300);
      }

      const m: Metric[] = [
        {
          name: 'mode flip → ACKed p50',
          value: median(flipMs),
          unit: 'ms',
          note: `${flips} flips monitor ↔ enforce of ${SERVER} (2 sidecars), API call → all ACKed; types changed: ${[...types].join(',')}`,
        },
        {
          name: 'mode flip → ACKed p99',
          value: percentile(flipMs, 99),
          unit: 'ms',
          target: { op: '<=', value: 1000 },
          note: `max of ${flips} when fewer than 100`,
        },
        {
          name: 'mode flip via CLI → ACKed p50',
          value: median(cliMs),
          unit: 'ms',
          note: `${cliFlips} flips with \`nanoseg mode\` (its process start included)`,
        },
        {
          name: 'sidecars of other services changed by a flip',
          value: others,
          unit: 'count',
          note: 'should be 0: a mode is per service',
        },
        {
          name: 'replica join: inventory → peers ACKed p50',
          value: median(invMs),
          unit: 'ms',
          note: `${joins} joins; PUT /v1/inventory/lab → both client sidecars ACKed (${[...joinTypes].join(',')})`,
        },
        {
          name: 'replica join: inventory → peers ACKed p99',
          value: percentile(invMs, 99),
          unit: 'ms',
          target: { op: '<=', value: 1000 },
          note: `max of ${joins}`,
        },
        {
          name: 'replica join: lab up → new sidecar ACKed p50',
          value: median(upMs),
          unit: 'ms',
          note: 'namespace, capture, Envoy start and listener wait included',
        },
        {
          name: 'replica join: lab up duration p50',
          value: median(labUpMs),
          unit: 'ms',
          note: '`nanoseg lab up` with one more pod, to its exit',
        },
      ];
      return m;
    } finally {
      await lab.close();
    }
  },
};
