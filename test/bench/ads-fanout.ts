// ADS fan-out: N concurrent ADS streams (one connection each, as N Envoys would have) subscribe like Envoy does
// (CDS and LDS wildcard; EDS for the EDS clusters and RDS for the routes those name) and ACK everything. Once all
// of them hold the initial config, each round PUTs an inventory that adds one replica to one service: one
// ClusterLoadAssignment changes for every node. Measured per round: PUT → last ACK, the control plane's CPU; per
// stream: the encoded size of what it received for the change; over the rounds: the event loop's longest block.
// Then the same rounds again while a paced access-log load streams in (als-load.ts, a small mesh of its own in the
// same inventory, so its learned edges push to no ADS stream): the entries/s the control plane takes in while it
// pushes and its event-loop delay. SotW and delta run side by side (each against a fresh control plane), so the
// delta/SotW byte ratio comes from one run; with --baseline each variant runs A B B A against both trees.
import { credentials } from '@grpc/grpc-js';
import { LightEnvoy, type Kind } from './light-envoy.js';
import type { Inventory } from '../../xds-server/src/model/index.js';
import type { Benchmark, CodeTree, Metric } from './types.js';
import { ControlPlaneChild, pinSelf } from './child.js';
import { ALS_MESH, ALS_RATE, variantMetrics, type Rounds, type VariantResult } from './ads-fanout-metrics.js';
import { makeInventory, podName, type MeshSpec } from './inventory.js';
import { RawAlsClient, TrafficGenerator, sendPaced, type StreamPlan } from './als-load.js';
import { abCompare } from './trees.js';

const MESH: MeshSpec = { services: 50, replicas: 2, namespace: 'bench' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no result in ${ms / 1000} s`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The access-log load during the second set of rounds: a small mesh of its own (no ADS stream is one of its nodes). */
/** The encoded ALS batches, made once per benchmark run and sent to every child: every run gets the same entries. */
interface AlsPool {
  readonly plans: readonly StreamPlan[];
  readonly entries: number;
}

function makeAlsPool(seconds: number): AlsPool {
  const gen = new TrafficGenerator(7, Date.now() - 60_000, ALS_MESH);
  const plans = gen.generate(ALS_RATE * seconds);
  return { plans, entries: plans.reduce((a, p) => a + p.entries, 0) };
}

function inventory(replicas: ReadonlyMap<number, number>): Inventory {
  const fan = makeInventory(MESH, replicas),
    als = makeInventory(ALS_MESH);
  return {
    workloads: [...fan.workloads, ...als.workloads],
    externals: [...fan.externals, ...als.externals],
    vips: [...fan.vips, ...als.vips],
  };
}

async function runVariant(
  kind: Kind,
  opts: {
    streams: number;
    rounds: number;
    loadedRounds: number;
    idleSeconds: number;
    alsWarmupSeconds: number;
    pool: AlsPool;
    tree?: CodeTree;
  },
  progress: (m: string) => void,
): Promise<VariantResult> {
  const { streams, idleSeconds } = opts;
  const cp = await ControlPlaneChild.start({ tree: opts.tree });
  const envoys: LightEnvoy[] = [];
  const alsClients = new Map<string, RawAlsClient>();
  const stopAls = new AbortController();
  let alsLoad: Promise<{ entries: number; exhausted: boolean }> | undefined;
  try {
    const replicas = new Map<number, number>();
    await cp.api('PUT', '/v1/inventory/lab', inventory(replicas));
    await sleep(300);
    await cp.gc();
    await sleep(200);
    const base = await cp.stats();

    const t0 = performance.now();
    for (let i = 0; i < streams; i++) {
      envoys.push(new LightEnvoy(kind, cp.xdsAddress, `bench-${i}.bench`, `bench/svc${i % 50}`));
      if (i % 100 === 99) await sleep(10); // let connections be accepted in waves, as a fleet restart would
    }
    await withTimeout(
      Promise.all(envoys.map((e) => e.ready)),
      180_000,
      `${kind}: ${streams} streams ACKing the initial config`,
    );
    const connectSeconds = (performance.now() - t0) / 1000;
    progress(`${kind}: ${streams} streams connected and ACKed in ${connectSeconds.toFixed(1)} s`);

    await sleep(1000);
    await cp.gc();
    await sleep(200);
    const loaded = await cp.stats();
    const st = await cp.status();
    if (st.xds.connected !== streams)
      throw new Error(`${kind}: control plane reports ${st.xds.connected} connected streams, expected ${streams}`);

    const cpu0 = cp.cpuSeconds();
    await sleep(idleSeconds * 1000);
    const idleCpuPercent = ((cp.cpuSeconds() - cpu0) / idleSeconds) * 100;
    progress(`${kind}: idle cpu ${idleCpuPercent.toFixed(2)}% of a core over ${idleSeconds} s`);

    let k = 0;
    const pushRounds = async (count: number, label: string): Promise<Rounds> => {
      const r: Rounds = {
        lastAckMs: [],
        streamAckMs: [],
        bytesPerStream: [],
        responsesPerStream: [],
        pushCpuMs: [],
        clientCpuMs: [],
      };
      await cp.reset(); // event loop: this set of rounds alone
      for (let j = 0; j < count; j++, k++) {
        const svc = (k * 7) % MESH.services;
        replicas.set(svc, (replicas.get(svc) ?? MESH.replicas) + 1);
        const inv = inventory(replicas);
        const c0 = cp.cpuSeconds();
        const u0 = process.cpuUsage();
        const start = performance.now();
        for (const e of envoys) e.round = { t0: start, bytes: 0, responses: 0 };
        await cp.api('PUT', '/v1/inventory/lab', inv);
        await withTimeout(
          (async () => {
            while (envoys.some((e) => e.round!.ackAt === undefined)) await sleep(5);
          })(),
          60_000,
          `${kind} ${label} round ${j + 1}: every stream ACKing the change`,
        );
        const u = process.cpuUsage(u0);
        r.clientCpuMs.push((u.user + u.system) / 1000);
        const acks = envoys.map((e) => e.round!.ackAt! - start);
        r.lastAckMs.push(Math.max(...acks));
        r.streamAckMs.push(...acks);
        r.bytesPerStream.push(envoys.reduce((a, e) => a + e.round!.bytes, 0) / streams);
        r.responsesPerStream.push(envoys.reduce((a, e) => a + e.round!.responses, 0) / streams);
        await sleep(300);
        r.pushCpuMs.push((cp.cpuSeconds() - c0) * 1000);
        for (const e of envoys) e.round = undefined;
        progress(
          `${kind} ${label} round ${j + 1}/${count}: last ACK ${r.lastAckMs[j]!.toFixed(0)} ms, ${r.bytesPerStream[j]!.toFixed(0)} B/stream`,
        );
        await sleep(200);
      }
      r.loop = (await cp.stats()).eventLoop;
      return r;
    };
    const quiet = await pushRounds(opts.rounds, 'push');

    // the same again while access logs stream in at a fixed rate: does ingest keep flowing during a push?
    for (let s = ALS_MESH.first!; s < ALS_MESH.first! + ALS_MESH.services; s++)
      for (let r = 0; r < ALS_MESH.replicas; r++)
        alsClients.set(
          `${podName(s, r)}.${ALS_MESH.namespace}`,
          new RawAlsClient(cp.xdsAddress, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
        );
    alsLoad = sendPaced(alsClients, opts.pool.plans, ALS_RATE, stopAls.signal);
    await sleep(opts.alsWarmupSeconds * 1000); // streams open, first batches in, edges of the small mesh learned
    const count = async () => {
      const a = (await cp.status()).accessLogs;
      return { n: a.entries + a.rejected, at: performance.now() };
    };
    const a0 = await count();
    const withAls = await pushRounds(opts.loadedRounds, 'push + ALS');
    const a1 = await count();
    stopAls.abort();
    const sent = await alsLoad;
    alsLoad = undefined;
    const alsSeconds = (a1.at - a0.at) / 1000;
    progress(
      `${kind}: ALS during the rounds ${Math.round((a1.n - a0.n) / alsSeconds)} entries/s delivered of ${ALS_RATE} offered${sent.exhausted ? ' (the batches ran out)' : ''}`,
    );

    const after = await cp.stats();
    return {
      kind,
      streams,
      connectSeconds,
      rssPerStream: (loaded.rss - base.rss) / streams,
      heapPerStream: (loaded.heapUsed - base.heapUsed) / streams,
      rssBase: base.rss,
      rssLoaded: loaded.rss,
      idleCpuPercent,
      quiet,
      loaded: withAls,
      als: { offered: ALS_RATE, delivered: (a1.n - a0.n) / alsSeconds, seconds: alsSeconds, exhausted: sent.exhausted },
      errors: after.logged.error + after.logged.warn,
      errorSamples: after.logged.samples,
    };
  } finally {
    stopAls.abort();
    await alsLoad?.catch(() => undefined);
    for (const c of alsClients.values()) c.close();
    for (const e of envoys) e.close();
    await cp.stop();
  }
}

export const adsFanout: Benchmark = {
  name: 'ads-fanout',
  description:
    '2,000 ADS streams (SotW, then delta): one EDS change → last ACK latency, CPU, event-loop block, bytes and memory per stream, ALS ingest during the pushes',
  ab: true,
  async run({ quick, progress, ab }) {
    pinSelf(0);
    const streams = quick ? 100 : 2000;
    // A/B runs measure each variant four times (A B B A): fewer rounds per run, as many per side as a plain run
    const rounds = quick ? 2 : ab ? 4 : 7;
    const loadedRounds = quick ? 2 : ab ? 4 : 5;
    const idleSeconds = quick ? 2 : 10;
    const alsWarmupSeconds = quick ? 1 : 2;
    // long enough for the warm-up and the rounds with ALS at the old control plane's pace (up to 5 s a round on a
    // busy machine); if it runs out anyway, the ALS figure says so
    const poolSeconds = quick ? 6 : 40;
    const t0 = performance.now();
    const pool = makeAlsPool(poolSeconds);
    progress(
      `ALS load: ${pool.entries} entries (${poolSeconds} s at ${ALS_RATE}/s) in ${pool.plans.length} streams, encoded in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const opts = { streams, rounds, loadedRounds, idleSeconds, alsWarmupSeconds, pool };
    const measure = (kind: Kind, tree?: CodeTree) => runVariant(kind, { ...opts, tree }, progress).then(variantMetrics);
    const variant = (kind: Kind) =>
      ab ? abCompare(ab, quick, progress, (tree) => measure(kind, tree)) : measure(kind);
    const sotw = await variant('sotw');
    const delta = await variant('delta');
    const bytes = (ms: readonly Metric[], kind: Kind) =>
      ms.find((m) => m.name === `${kind}: bytes per stream per change`)!;
    const [sb, db] = [bytes(sotw, 'sotw'), bytes(delta, 'delta')];
    return [
      ...sotw,
      ...delta,
      {
        name: 'delta/SotW bytes per change',
        value: (db.value / sb.value) * 100,
        unit: '%',
        target: { op: '<=', value: 5 },
        note: 'same change, same mesh, one run',
        ...(ab && { old: (db.old! / sb.old!) * 100, runs: db.runs }),
      },
    ];
  },
};
