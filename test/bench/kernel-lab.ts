// The lab the capture and kernel benchmarks share (one per run: a quick run cannot afford one lab each): its own
// control plane hosting the kernel point for the lab's host namespace (`serve --kernel-netns nsg-lab`), and
//   three client → server pod pairs, one per capture: nftables, ebpf (sockmap off), ebpf with the sockmap fast path;
//   two externals calling each other directly (no sidecar: the baseline of the capture benchmark);
//   an external that generates new UDP flows (kernel-flows; externals are hosts and run as root: a raw socket).
// Every client calls its server 4 times a second from the start (so every service learns and converges while the
// rest comes up) and the nftables client keeps one UDP flow to its server alive (its udp edge is learned too). Every
// server runs the HTTP server on 8080 and a UDP sink on 9000-9003. The nftables pair is the kernel benchmarks'
// enforced pair. Also here: reading the kernel's rules and counters back (nft list, /proc) in a namespace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { BenchLab, DRAIN_MS, isRoot, sharedLab, sleep, type LabMember } from './lab.js';
import { converged, learnedIngress, policyFile, services } from './lab-policy.js';
import { benchPeerRules, isBenchPeer } from './peers.js';
import { modeNotInForce, parseNftListing, type KernelMode, type NftListing } from './kernel-read.js';
import { UDP_PY } from './udp-apps.js';

/** the lab's host namespace, where the kernel point's tables live */
export const LAB_NETNS = 'nsg-lab';
export const UDP_PORT = 9000;
export const UDP_PORTS = 4;
/** extra peers in the enforced server's policy: with its learned rules, 10,000 and more */
export const EXTRA_PEERS = 10_000;
/** quick runs: fewer (applying 10,000 interval elements takes the kernel 1.5 s here, twice per quick run) */
export const QUICK_PEERS = 1_000;

export type CaptureName = 'nftables' | 'ebpf' | 'sockmap';

export interface Pair {
  readonly client: string;
  readonly server: string;
  readonly clientService: string;
  readonly serverService: string;
  readonly clientAddress: string;
  readonly serverAddress: string;
  /** what the client calls: the server's VIP name, through both sidecars */
  readonly url: string;
}

function pair(tag: string, n: number): Pair {
  return {
    client: `cap-${tag}-c`,
    server: `cap-${tag}-s`,
    clientService: `bench/${tag}-client`,
    serverService: `bench/${tag}-server`,
    clientAddress: `10.213.0.${n}`,
    serverAddress: `10.213.0.${n + 1}`,
    url: `http://${tag}-server.bench:8080/`,
  };
}

export const PAIRS: Readonly<Record<CaptureName, Pair>> = {
  nftables: pair('nft', 11),
  ebpf: pair('ebpf', 13),
  sockmap: pair('smap', 15),
};
/** the kernel benchmarks' enforced pair */
export const ENFORCED = PAIRS.nftables;
export const DIRECT = { client: 'cap-dir-c', server: 'cap-dir-s', url: 'http://203.0.113.71:8080/' } as const;
export const FLOW_GEN = { name: 'kf-gen', address: '203.0.113.72' } as const;

export interface KernelLab {
  readonly lab: BenchLab;
  readonly udpPy: string;
  /** flows.c, compiled */
  readonly flowsBin: string;
  readonly members: readonly LabMember[];
  /** member → its network namespace */
  readonly netns: ReadonlyMap<string, string>;
}

const TRAFFIC = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');

/** test/bench/flows.c compiled next to the apps (externals run it as root); throws with the compiler's message. */
function compileFlows(lab: BenchLab): string {
  const source = lab.app('flows.c', readFileSync(join(projectRoot(), 'test', 'bench', 'flows.c'), 'utf8'));
  const bin = source.replace(/\.c$/, '');
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', bin, source], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot compile ${source}: ${r.error?.message ?? r.stderr}`);
  return bin;
}

async function start(progress: (msg: string) => void): Promise<KernelLab> {
  const lab = await BenchLab.start('nanoseg-bench-kernel-', ['--kernel-netns', LAB_NETNS, '--min-observations', '10']);
  try {
    const udpPy = lab.app('udp.py', UDP_PY);
    const flowsBin = compileFlows(lab);
    const server = `exec node ${lab.serverJs} 8080`;
    const sink = `exec python3 ${udpPy} sink ${UDP_PORT} ${UDP_PORTS}`;
    const members: LabMember[] = [];
    for (const [name, p] of Object.entries(PAIRS) as [CaptureName, Pair][]) {
      const capture = name === 'nftables' ? ('nftables' as const) : ('ebpf' as const);
      const sockmap = name === 'nftables' ? undefined : name === 'sockmap';
      const calls = [`exec python3 ${TRAFFIC} call --every 0.25 ${p.url}`];
      if (p === ENFORCED) calls.push(`exec python3 ${udpPy} tick ${p.serverAddress} ${UDP_PORT} 0.25`);
      const common = { capture, ...(sockmap !== undefined && { sockmap }) };
      members.push({ name: p.client, service: p.clientService, address: p.clientAddress, run: calls, ...common });
      members.push({
        name: p.server,
        service: p.serverService,
        address: p.serverAddress,
        ports: [8080],
        run: [server, sink],
        ...common,
      });
    }
    members.push({ name: DIRECT.client, address: '203.0.113.70' });
    members.push({ name: DIRECT.server, address: '203.0.113.71', run: [server] });
    members.push({ name: FLOW_GEN.name, address: FLOW_GEN.address });
    const t0 = performance.now();
    lab.up('kernel', members);
    const pods = Object.values(PAIRS).length * 2;
    await lab.settled(pods);
    const listing = JSON.parse(lab.cli(['lab', 'list', '-o', 'json']).stdout) as {
      pods: { name: string; namespace: string; capture?: string }[];
      externals: { name: string; namespace: string }[];
    };
    const netns = new Map([...listing.pods, ...listing.externals].map((m) => [m.name, m.namespace]));
    progress(`kernel lab up in ${((performance.now() - t0) / 1000).toFixed(1)} s (${pods} pods, 3 externals)`);
    return { lab, udpPy, flowsBin, members, netns };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

/** The shared lab (started on first use in a run); undefined, with a progress line saying why, when not root. */
export async function kernelLab(progress: (msg: string) => void): Promise<KernelLab | undefined> {
  if (!isRoot()) {
    progress('skipped: the lab needs root (network namespaces, nftables, eBPF, NFLOG)');
    return undefined;
  }
  return sharedLab('kernel', () => start(progress));
}

/** Run sizes the kernel lab's benchmarks share: rounds, and seconds (with warm-up) of one load sample. */
export function sampleSizes(quick: boolean): { rounds: number; seconds: number; warmup: number } {
  return quick ? { rounds: 1, seconds: 1, warmup: 0.25 } : { rounds: 4, seconds: 6, warmup: 1 };
}

// ---- reading the kernel back ------------------------------------------------------------------------------------

/** Runs argv inside `netns`; resolves with its exit code, stdout and stderr. */
export function inNetns(
  netns: string,
  argv: readonly string[],
  input?: string,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '',
      err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.stdin.on('error', () => undefined);
    p.on('error', (e) => resolve({ code: 127, out, err: e.message }));
    p.on('close', (code) => resolve({ code: code ?? 1, out, err }));
    p.stdin.end(input ?? '');
  });
}

/**
 * `nft list OBJECT` of each object (e.g. `map inet nanoseg ingress`) in the lab's host namespace. One nft run per
 * object: nft 1.1 fails a `-f` file of several list commands ("No such file or directory").
 */
export async function nftList(
  objects: readonly string[],
): Promise<{ ok: boolean; listing: NftListing; error?: string }> {
  const script = 'for o; do nft list $o || exit 1; done'; // $o unquoted: "map inet nanoseg egress" is 4 words
  const r = await inNetns(LAB_NETNS, ['sh', '-c', script, 'sh', ...objects]);
  return r.code === 0
    ? { ok: true, listing: parseNftListing(r.out) }
    : { ok: false, listing: parseNftListing(''), error: r.err.trim().split('\n')[0] || `nft exited ${r.code}` };
}

/**
 * Polls the listing of `objects` every `everyMs` until `notInForce` finds nothing missing; resolves with
 * performance.now() of the listing that showed it. Throws after `timeoutMs` with what was still missing.
 */
export async function waitKernel(
  objects: readonly string[],
  notInForce: (l: NftListing) => string | undefined,
  timeoutMs = 30_000,
  everyMs = 10,
): Promise<{ at: number; polls: number }> {
  const end = performance.now() + timeoutMs;
  for (let polls = 1; ; polls++) {
    const r = await nftList(objects);
    const at = performance.now();
    const missing = r.ok ? notInForce(r.listing) : r.error;
    if (missing === undefined) return { at, polls };
    if (at > end) throw new Error(`kernel rules not in force after ${timeoutMs} ms: ${missing}`);
    await sleep(everyMs);
  }
}

/** The objects that say a service's mode: both maps and both of its chains (absent in learn: list the table). */
export function modeObjects(service: string, mode: KernelMode): string[] {
  if (mode === 'learn') return ['table inet nanoseg'];
  return [
    'map inet nanoseg egress',
    'map inet nanoseg ingress',
    `chain inet nanoseg egress/${service}`,
    `chain inet nanoseg ingress/${service}`,
  ];
}

/** Waits until the kernel enforces `mode` for the service on all its addresses. */
export function waitMode(service: string, addresses: readonly string[], mode: KernelMode, timeoutMs?: number) {
  return waitKernel(modeObjects(service, mode), (l) => modeNotInForce(l, service, addresses, mode), timeoutMs);
}

/**
 * `nft monitor rules` in the lab's host namespace: the kernel's own notifications of committed rule changes, each
 * line stamped when it arrived. A transaction's events come after it committed, so a rule's `add` event is the
 * moment it is in force.
 */
export class NftMonitor {
  private readonly lines: { at: number; line: string }[] = [];
  private wake?: () => void;
  private child?: ChildProcess;

  async start(): Promise<void> {
    const c = spawn('ip', ['netns', 'exec', LAB_NETNS, 'nft', 'monitor', 'rules'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.child = c;
    createInterface({ input: c.stdout }).on('line', (line) => {
      this.lines.push({ at: performance.now(), line });
      if (this.lines.length > 10_000) this.lines.splice(0, 5_000);
      this.wake?.();
    });
    await sleep(300); // subscribed before the first change it must see (nft prints nothing until one)
    if (c.exitCode !== null) throw new Error(`nft monitor exited (${c.exitCode})`);
  }

  /** performance.now() of the first event at or after `since` that `match` accepts. */
  async waitFor(match: (line: string) => boolean, since: number, timeoutMs = 30_000): Promise<number> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find((l) => l.at >= since && match(l.line));
      if (hit) return hit.at;
      if (performance.now() > end) throw new Error(`no matching nft event in ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 100).unref();
      });
    }
  }

  stop(): void {
    this.child?.kill();
  }
}

/** A file in a namespace's /proc (its own network counters). */
export async function procIn(netns: string, file: string): Promise<string> {
  const r = await inNetns(netns, ['cat', file]);
  if (r.code !== 0) throw new Error(`cannot read ${file} in ${netns}: ${r.err.trim()}`);
  return r.out;
}

// ---- putting the enforced pair in place ---------------------------------------------------------------------------

/** Sets a service's mode through the API (what `nanoseg mode SERVICE MODE` sends). */
export async function setMode(kl: KernelLab, service: string, mode: KernelMode): Promise<void> {
  await kl.lab.api.call('PUT', `/v1/services/${service}/mode`, { mode });
}

/**
 * The enforced pair as the kernel benchmarks want it: both services converged; the server enforcing its learned
 * ingress plus `extra` never-contacted /32 peers on its HTTP port (applied as a policy file; 0: the learned rules
 * alone); the client enforcing what it learned (HTTP and UDP to the server). Verified in the kernel: both chains
 * drop, the server's ingress set holds every peer. Does nothing when that is already so; else waits out Envoy's
 * drain (`drain`) as listeners change.
 */
export async function enforcePair(
  kl: KernelLab,
  progress: (msg: string) => void,
  extra: number,
  drain: boolean,
): Promise<void> {
  const { lab } = kl;
  const { clientService: client, serverService: server } = ENFORCED;
  await converged(lab, [client, server], 60_000, (s) => (s.name === client ? s.egress >= 2 : s.ingress >= 2));
  const views = await services(lab);
  const enforced = (n: string) => views.find((v) => v.name === n)?.mode === 'enforce';
  const sized = (n: number) => (extra ? n >= extra && n < 2 * extra : n < QUICK_PEERS);
  if (enforced(client) && enforced(server) && sized(await serverPeersInKernel().catch(() => -1))) return;
  // what was learned (an earlier apply's bench peers left out)
  const real = learnedIngress(lab, server).filter((r) => !('cidr' in r.peer && isBenchPeer(r.peer.cidr)));
  const http = real.find((r) => r.protocol !== 'udp');
  if (!http || !real.some((r) => r.protocol === 'udp'))
    throw new Error(`expected learned HTTP and UDP ingress for ${server}: ${JSON.stringify(real)}`);
  const peers = benchPeerRules(extra, http.protocol, http.port);
  lab.cli(['policy', 'apply', '-f', policyFile(lab, `kernel-${extra}.json`, server, [...real, ...peers])]);
  await setMode(kl, client, 'enforce');
  await lab.settled(Object.values(PAIRS).length * 2);
  await waitMode(server, [ENFORCED.serverAddress], 'enforce');
  await waitMode(client, [ENFORCED.clientAddress], 'enforce');
  const inKernel = await serverPeersInKernel();
  if (!sized(inKernel)) throw new Error(`${inKernel} elements in ${server}'s ingress set, expected ${extra} more`);
  if (drain) await sleep(DRAIN_MS);
  progress(`${server} enforces ${real.length} learned rules + ${extra} peers (kernel set: ${inKernel}); ${client} too`);
}

/** How many elements the enforced server's ingress set holds in the kernel. */
export async function serverPeersInKernel(): Promise<number> {
  const r = await nftList([`set inet nanoseg ingress/${ENFORCED.serverService}/ports`]);
  if (!r.ok) throw new Error(`cannot list the server's ingress set: ${r.error}`);
  return r.listing.sets.get(`ingress/${ENFORCED.serverService}/ports`)?.length ?? 0;
}
