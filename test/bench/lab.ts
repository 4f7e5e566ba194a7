// What the lab benchmarks share: a lab of their own (temp dir, own `nanoseg serve`, lab dir inside the temp dir; in
// A/B runs the serve and every lab command are those of the tree under test), or one lab several of them share in a
// run (sharedLab: the capture and kernel benchmarks), torn down also on failure and on SIGINT/SIGTERM; a fast HTTP
// server and an HTTP load generator that run inside pods (plain JS written into bench-results/apps, so they start
// without tsx and pods, whose /tmp is private, can read them); the control plane's API over its unix socket; "every
// sidecar ACKed what it was sent".
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BIN, SHIPPED, ServerProcess, nanoseg, tempDir, type CliResult, type NanosegCommand } from '../support/cli.js';
import { ApiClient } from '../../xds-server/src/cli/client.js';
import type { StatusView } from '../../xds-server/src/api/views.js';
import { ENVOY_DRAIN_SECONDS } from '../../xds-server/src/lab/index.js';
import { findEnvoy, projectRoot } from '../../xds-server/src/util/envoy.js';
import { LOAD_JS, SERVER_JS, type ClosedLoad, type LoadResult, type OpenLoad } from './lab-apps.js';
import { cliCommand, newOnlyServeArgs, shebangFlags } from './trees.js';
import { envNodeFlags } from './child.js';
import type { CodeTree } from './types.js';

/** where the lab benchmarks' apps are written: inside the project (ignored by git), readable by every pod's user */
const APPS_DIR = join(projectRoot(), 'bench-results', 'apps');

/**
 * After a change that replaced listeners, Envoy drains the old filter chains for this long: measuring only after it
 * keeps draining work out of the next sample.
 */
export const DRAIN_MS = ENVOY_DRAIN_SECONDS * 1000 + 500;

export type { LoadResult };

// ---- the lab ------------------------------------------------------------------------------------------------------

export interface LabMember {
  readonly name: string;
  /** a pod (with sidecar) has a service; an external has none */
  readonly service?: string;
  readonly address: string;
  readonly ports?: readonly number[];
  readonly run?: readonly string[];
  /** pods: how their TCP reaches the sidecar, and the eBPF capture's sk_msg fast path (absent: the lab's default) */
  readonly capture?: 'nftables' | 'ebpf';
  readonly sockmap?: boolean;
}

const live = new Set<BenchLab>();
let handlersInstalled = false;
/** the lab several benchmarks of one run share (see sharedLab) */
let shared: { key: string; value: Promise<{ readonly lab: BenchLab }> } | undefined;
let startingShared = false;

/** Tears down every live lab synchronously, then exits: Ctrl-C must not leave namespaces or Envoys behind. */
function onSignal(sig: NodeJS.Signals): void {
  for (const l of live) l.closeSync();
  process.exit(sig === 'SIGINT' ? 130 : 143);
}

function namespaces(): string[] {
  const r = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * This tree's `nanoseg` as shipped: with the node flags of bin/nanoseg.js's first line, which `node bin/nanoseg.js`
 * would skip (the control plane's GC settings).
 */
const SHIPPED_WITH_FLAGS: NanosegCommand = { file: SHIPPED.file, args: [...shebangFlags(BIN), ...SHIPPED.args] };

/** `serve` with the benchmarks' node flags (BENCH_CPU_PROF, BENCH_NODE_FLAGS); the lab's other commands without. */
function profiled(c: NanosegCommand): NanosegCommand {
  return { ...c, args: [...envNodeFlags(), ...c.args] };
}

export class BenchLab {
  private serverProcess: ServerProcess;
  readonly labFile: string;
  readonly serverJs: string;
  readonly loadJs: string;
  readonly api: ApiClient;
  private closed = false;

  private constructor(
    private readonly tmp: { dir: string; remove(): void },
    serveArgs: readonly string[],
    /** the `nanoseg` that serves and runs the lab: this tree's binary, or an A/B run's tree from its sources */
    private readonly command: NanosegCommand,
    private readonly extraEnv: NodeJS.ProcessEnv,
  ) {
    this.serverProcess = new ServerProcess(tmp.dir, this.withDefaults(serveArgs), profiled(command));
    this.labFile = join(tmp.dir, 'lab.yaml');
    // Pod apps run in sandboxes with a private /tmp and the lab folder hidden: the apps live in the project folder
    mkdirSync(APPS_DIR, { recursive: true, mode: 0o755 });
    this.serverJs = join(APPS_DIR, 'server.mjs');
    this.loadJs = join(APPS_DIR, 'load.mjs');
    writeFileSync(this.serverJs, SERVER_JS);
    writeFileSync(this.loadJs, LOAD_JS);
    this.api = new ApiClient(this.server.apiSocket);
  }

  /**
   * A fresh control plane in a temp dir. Refuses when another lab is up: there is one lab per machine. With `tree`
   * (A/B runs), that tree's `nanoseg` from its sources serves and runs the lab (its bin's node flags, its Envoy
   * bootstrap), with this tree's Envoy binary, so only the control plane's code differs between the sides.
   */
  static async start(prefix: string, serveArgs: readonly string[] = [], tree?: CodeTree): Promise<BenchLab> {
    if (!isRoot()) throw new Error('the lab benchmarks need root (network namespaces, nftables)');
    if (!startingShared) await closeSharedLab(); // one lab per machine: a benchmark with a lab of its own goes first
    if (namespaces().includes('nsg-lab'))
      throw new Error(
        'another lab is up on this machine (namespace nsg-lab exists): the lab benchmarks need it to themselves',
      );
    const lab = tree
      ? new BenchLab(tempDir(prefix), [...serveArgs, ...newOnlyServeArgs(tree)], cliCommand(tree), {
          NANOSEG_ENVOY: findEnvoy(),
        })
      : new BenchLab(tempDir(prefix), serveArgs, SHIPPED_WITH_FLAGS, {});
    live.add(lab);
    if (!handlersInstalled) {
      handlersInstalled = true;
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    try {
      await lab.server.start();
    } catch (e) {
      await lab.close();
      throw e;
    }
    return lab;
  }

  private withDefaults(extra: readonly string[]): string[] {
    return ['--quiet-period', '3s', '--log-level', 'warn', ...extra];
  }

  /** The control plane serving the lab (a new process after `restart`). */
  get server(): ServerProcess {
    return this.serverProcess;
  }

  /**
   * Stops the control plane and starts it again on the same state, sockets and lab with other `serve` flags (e.g. a
   * `--trace-sampling`); the sidecars reconnect on their own. Callers wait for them (`settled`).
   */
  async restart(serveArgs: readonly string[]): Promise<{ stopMs: number; startMs: number }> {
    const t0 = performance.now();
    await this.serverProcess.stop();
    const t1 = performance.now();
    this.serverProcess = new ServerProcess(this.tmp.dir, this.withDefaults(serveArgs), profiled(this.command));
    await this.serverProcess.start();
    return { stopMs: t1 - t0, startMs: performance.now() - t1 };
  }

  get env(): NodeJS.ProcessEnv {
    return { ...this.server.env, ...this.extraEnv };
  }

  get dir(): string {
    return this.tmp.dir;
  }

  /** Writes the lab file and runs `nanoseg lab up -f` on it. */
  up(name: string, members: readonly LabMember[]): void {
    const pods = members
      .filter((m) => m.service)
      .map((m) => ({
        name: m.name,
        service: m.service,
        address: m.address,
        ...(m.ports ? { ports: [...m.ports] } : {}),
        run: [...(m.run ?? ['exec sleep 1000000'])],
        ...(m.capture && { capture: m.capture }),
        ...(m.sockmap !== undefined && { sockmap: m.sockmap }),
      }));
    const externals = members
      .filter((m) => !m.service)
      .map((m) => ({ name: m.name, address: m.address, ...(m.run ? { run: [...m.run] } : {}) }));
    writeFileSync(this.labFile, stringify({ apiVersion: 'nanoseg.io/v1alpha1', kind: 'Lab', name, pods, externals }));
    const r = nanoseg(['lab', 'up', '-f', this.labFile], this.env, 300_000, this.command);
    if (r.code !== 0) throw new Error(`lab up failed (${r.code}): ${r.stderr.slice(-2000)}`);
  }

  /** `nanoseg ARGS` (synchronously); throws on a non-zero exit. */
  cli(args: readonly string[], timeoutMs = 120_000): CliResult {
    const r = nanoseg(args, this.env, timeoutMs, this.command);
    if (r.code !== 0) throw new Error(`nanoseg ${args.join(' ')} failed (${r.code}): ${r.stderr.slice(-2000)}`);
    return r;
  }

  /** `nanoseg lab exec POD -- ARGV`, without blocking this process. */
  exec(pod: string, argv: readonly string[], timeoutMs = 300_000): Promise<CliResult> {
    return new Promise((resolve) => {
      const p = spawn(this.command.file, [...this.command.args, 'lab', 'exec', pod, '--', ...argv], {
        cwd: this.command.cwd,
        env: { ...process.env, ...this.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '',
        stderr = '';
      p.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      p.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
      p.on('close', (code) => {
        clearTimeout(t);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /** Runs the load generator in POD; throws when it fails or prints no result. */
  async load(
    pod: string,
    spec: ({ mode: 'open' } & OpenLoad) | ({ mode: 'closed' } & ClosedLoad),
  ): Promise<LoadResult> {
    const r = await this.exec(pod, ['node', this.loadJs, JSON.stringify(spec)], (spec.seconds + 60) * 1000);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !line.startsWith('{'))
      throw new Error(`load generator in ${pod} failed (${r.code}): ${r.stderr.slice(-1000)} ${r.stdout.slice(-500)}`);
    return JSON.parse(line) as LoadResult;
  }

  /** wrk with a fixed connection count in POD; undefined when wrk is not installed. */
  async wrk(
    pod: string,
    url: string,
    conns: number,
    seconds: number,
  ): Promise<{ perSecond: number; p50us?: number; p99us?: number; errors: number } | undefined> {
    if (spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error) return undefined;
    const r = await this.exec(
      pod,
      ['wrk', '-t1', `-c${conns}`, `-d${seconds}s`, '--latency', url],
      (seconds + 60) * 1000,
    );
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    if (!rps) throw new Error(`wrk in ${pod} failed (${r.code}): ${r.stderr.slice(-500)} ${r.stdout.slice(-500)}`);
    const us = (s: string | undefined) => {
      const m = s ? /([\d.]+)(us|ms|s)/.exec(s) : null;
      return m ? Number(m[1]) * (m[2] === 'us' ? 1 : m[2] === 'ms' ? 1000 : 1e6) : undefined;
    };
    const errs = /Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
    return {
      perSecond: Number(rps[1]),
      p50us: us(/^\s+50%\s+(\S+)/m.exec(r.stdout)?.[1]),
      p99us: us(/^\s+99%\s+(\S+)/m.exec(r.stdout)?.[1]),
      errors: Number(errs?.[1] ?? 0) + (sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
    };
  }

  status(): Promise<StatusView> {
    return this.api.call<StatusView>('GET', '/v1/status');
  }

  /** Writes a benchmark's own app next to the shared ones (where every pod can read it); returns its path. */
  app(file: string, text: string): string {
    const path = join(APPS_DIR, file);
    writeFileSync(path, text);
    return path;
  }

  /** Waits until every connected sidecar ACKed every type it was sent (and at least `envoys` are connected). */
  async settled(envoys: number, timeoutMs = 60_000): Promise<StatusView> {
    await sleep(300); // pushes are debounced (100 ms, at most 1 s)
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status();
      if (s.envoys.length >= envoys && s.envoys.every(allAcked)) return s;
      if (Date.now() > end)
        throw new Error(
          `sidecars did not settle in ${timeoutMs} ms: ${JSON.stringify(s.envoys.map((e) => ({ node: e.node, sent: e.sent, acked: e.acked, nack: e.lastNack })))}`,
        );
      await sleep(50);
    }
  }

  /**
   * Polls /v1/status every `everyMs` until each sidecar `affected` selects has ACKed a version other than in `before`
   * for some type, and every connected sidecar has ACKed all it was sent. Returns performance.now() of the answer
   * that showed it, the status, and which types changed on the affected sidecars.
   */
  async waitChanged(
    before: StatusView,
    affected: (e: StatusView['envoys'][number]) => boolean,
    timeoutMs = 30_000,
    everyMs = 10,
  ): Promise<{ at: number; status: StatusView; types: string[] }> {
    const was = new Map(before.envoys.map((e) => [e.node, e.acked as Record<string, string | undefined>]));
    const end = performance.now() + timeoutMs;
    for (;;) {
      const s = await this.status();
      const at = performance.now();
      const mine = s.envoys.filter(affected);
      const types = new Set<string>();
      const changed = mine.every((e) => {
        const old = was.get(e.node) ?? {};
        const acked = e.acked as Record<string, string | undefined>;
        const diff = Object.keys(acked).filter((t) => acked[t] !== old[t]);
        for (const t of diff) types.add(t);
        return diff.length > 0;
      });
      if (mine.length > 0 && changed && s.envoys.every(allAcked)) return { at, status: s, types: [...types].sort() };
      if (at > end)
        throw new Error(
          `no ACKed change in ${timeoutMs} ms: ${JSON.stringify(s.envoys.map((e) => ({ node: e.node, sent: e.sent, acked: e.acked, nack: e.lastNack })))}`,
        );
      await sleep(everyMs);
    }
  }

  /** Lab down, control plane stop, temp dir removal. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    const down = nanoseg(['lab', 'down'], this.env, 120_000, this.command);
    await this.server.stop().catch(() => undefined);
    if (down.code !== 0) process.stderr.write(`lab down failed (${down.code}): ${down.stderr}\n`);
    this.tmp.remove();
  }

  /** The same for a signal handler: no awaiting. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    nanoseg(['lab', 'down'], this.env, 120_000, this.command);
    this.server.kill9();
    this.tmp.remove();
  }
}

/**
 * A lab the benchmarks naming the same `key` share within one run (a quick run cannot afford one lab each): `setup`
 * starts it (with BenchLab.start) the first time; later calls get the same lab. It stays up until another key asks,
 * a benchmark with a lab of its own starts, or the harness calls closeSharedLab at the end. A benchmark using it
 * puts the modes and policies it needs in place itself and leaves the members as it found them.
 */
export async function sharedLab<T extends { readonly lab: BenchLab }>(
  key: string,
  setup: () => Promise<T>,
): Promise<T> {
  if (shared?.key !== key) {
    await closeSharedLab();
    startingShared = true;
    shared = { key, value: setup().finally(() => (startingShared = false)) };
  }
  const mine = shared;
  try {
    return (await mine.value) as T; // one key, one setup: the value is the T that key's setup made
  } catch (e) {
    if (shared === mine) shared = undefined;
    throw e;
  }
}

/** Tears the shared lab down (idempotent; never throws). */
export async function closeSharedLab(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s) await (await s.value.catch(() => undefined))?.lab.close();
}

/**
 * Version of an empty resource set (the first 16 hex digits of sha256 of nothing). A sidecar whose scoped config has
 * no EDS cluster left is still sent an EDS response with this version; Envoy, subscribed to no EDS name any more,
 * never ACKs it. This tree's /v1/status leaves such a type out of `sent` (xds/decide.ts keeps the unsubscription);
 * the control plane of an older tree (an A/B baseline) showed sent ≠ acked for ever. Such a type counts as settled.
 */
export const EMPTY_SET_VERSION = 'e3b0c44298fc1c14';

export function allAcked(e: StatusView['envoys'][number]): boolean {
  const sent = e.sent as Record<string, string | undefined>,
    acked = e.acked as Record<string, string | undefined>;
  // versions carry the store id before a '.': the empty set is recognised by its hash
  const empty = (v: string | undefined) => v !== undefined && v.slice(v.indexOf('.') + 1) === EMPTY_SET_VERSION;
  return Object.keys(sent).every((t) => sent[t] === acked[t] || empty(sent[t]));
}

// ---- numbers ----------------------------------------------------------------------------------------------------

export { median, percentile } from './stats.js';
