// Parent side of cp-child.ts: spawn the control plane pinned to one core, talk to it (stdin commands, the JSON API
// on its unix socket), read its CPU time from /proc, stop it.
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { shebangFlags } from './trees.js';
import type { CodeTree } from './types.js';

/** The node flags `bin/nanoseg.js` runs with (its shebang line): the benchmarks measure the control plane as shipped. */
const SHIPPED_NODE_FLAGS: string[] = shebangFlags(join(projectRoot(), 'bin', 'nanoseg.js'));

/**
 * The control plane's node flags from the environment, for every benchmark that starts one: BENCH_NODE_FLAGS adds
 * flags (an A/B of GC settings), BENCH_CPU_PROF=<dir> writes a V8 CPU profile there (open it in Chrome DevTools).
 */
export function envNodeFlags(): string[] {
  const cpu = process.env.BENCH_CPU_PROF;
  return [
    ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : []),
    ...(cpu ? ['--cpu-prof', `--cpu-prof-dir=${cpu}`] : []),
  ];
}

export interface LoopStats {
  p50: number;
  p99: number;
  max: number;
  mean: number;
  samples: number;
}

export interface ChildStats {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  peakRss: number;
  vmHwm?: number;
  /** monitorEventLoopDelay at its default 10 ms resolution (every sample includes the 10 ms) */
  eventLoop: LoopStats;
  /** at 1 ms resolution, when started with fineLoop */
  eventLoopFine?: LoopStats;
  /** maxMs: the longest pause (absent from an old tree's child) */
  gc: { count: number; ms: number; maxMs?: number };
  cpu: { user: number; system: number };
  logged: { warn: number; error: number; samples: string[] };
}

export interface StatusLike {
  accessLogs: { entries: number; rejected: number; rejectedByKind: Record<string, number>; streams: number };
  xds: { connected: number; pushes: number; acks: number; nacks: number };
  store: { edges: number };
}

const HAS_TASKSET = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
})();

/** Keeps the load generator (this process) off the control plane's core. Best effort. */
export function pinSelf(core: number): void {
  if (!HAS_TASKSET) return;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' });
  } catch {
    /* not allowed here: run unpinned */
  }
}

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // after "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12 here
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident set size of a process in bytes, from /proc/<pid>/status. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export class ControlPlaneChild {
  private nextId = 1;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();
  private exited = false;

  private constructor(
    private readonly proc: ChildProcessWithoutNullStreams,
    readonly pid: number,
    readonly xdsAddress: string,
    readonly apiSocket: string,
    private readonly dir: string,
    readonly pinned: boolean,
    private readonly stderr: string[],
  ) {
    createInterface({ input: proc.stdout }).on('line', (l) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(l) as Record<string, unknown>;
      } catch {
        return;
      }
      const w = typeof o.id === 'number' ? this.waiting.get(o.id) : undefined;
      if (w) {
        this.waiting.delete(o.id as number);
        w(o);
      }
    });
    proc.on('exit', () => {
      this.exited = true;
      for (const w of this.waiting.values()) w({ error: `control plane exited: ${this.stderr.join('').slice(-500)}` });
      this.waiting.clear();
    });
  }

  /**
   * Without `tree`: this tree's cp-child next to this file, with this tree's bin flags (as always). With `tree` (A/B
   * runs): that tree's own test/bench/cp-child.ts, compiled by its build (trees.ts), its bin's flags, cwd at its root.
   */
  static async start(
    opts: { debounceMs?: number; fineLoop?: boolean; otlpEndpoint?: string; tree?: CodeTree } = {},
  ): Promise<ControlPlaneChild> {
    const { tree, ...childOpts } = opts;
    const dir = mkdtempSync(join(tmpdir(), 'nanoseg-bench-'));
    const port = await freePort();
    const xdsAddress = `127.0.0.1:${port}`;
    const self = fileURLToPath(import.meta.url);
    const ts = tree === undefined && self.endsWith('.ts');
    const script = tree ? tree.cpChild : join(self, '..', ts ? 'cp-child.ts' : 'cp-child.js');
    const nodeArgs = [
      ...(ts ? ['--import', 'tsx'] : []),
      '--expose-gc',
      ...(tree ? tree.nodeFlags : SHIPPED_NODE_FLAGS),
      ...envNodeFlags(),
      script,
      JSON.stringify({ stateDir: dir, xdsAddress, ...childOpts }),
    ];
    const [cmd, argv] = HAS_TASKSET
      ? ['taskset', ['-c', '1', process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
    // each tree's packages from its own node_modules
    const proc = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], cwd: tree?.root });
    const stderr: string[] = [];
    proc.stderr.on('data', (d: Buffer) => {
      stderr.push(d.toString());
      if (stderr.length > 50) stderr.shift();
    });
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const rl = createInterface({ input: proc.stdout });
      const timer = setTimeout(
        () => reject(new Error(`control plane did not start in 30 s: ${stderr.join('')}`)),
        30_000,
      );
      rl.on('line', (l) => {
        if (!l.includes('"ready"')) return;
        clearTimeout(timer);
        rl.close();
        resolve(JSON.parse(l) as Record<string, unknown>);
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`control plane exited (${code}): ${stderr.join('')}`));
      });
    });
    return new ControlPlaneChild(
      proc,
      Number(ready.pid),
      xdsAddress,
      String(ready.apiSocket),
      dir,
      HAS_TASKSET,
      stderr,
    );
  }

  private command<T>(cmd: string): Promise<T> {
    if (this.exited) return Promise.reject(new Error('control plane has exited'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, (o) => (o.error ? reject(new Error(String(o.error))) : resolve(o as T)));
      this.proc.stdin.write(JSON.stringify({ id, cmd }) + '\n');
    });
  }

  stats(): Promise<ChildStats> {
    return this.command<ChildStats>('stats');
  }
  reset(): Promise<void> {
    return this.command<void>('reset');
  }
  async gc(): Promise<void> {
    await this.command('gc');
  }

  cpuSeconds(): number {
    return cpuSeconds(this.pid);
  }
  rss(): number {
    return rssOf(this.pid);
  }

  /** One call to the control plane's JSON API. */
  api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.apiSocket,
          method,
          path,
          headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 500) >= 300)
              reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
            else resolve(JSON.parse(text) as T);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  status(): Promise<StatusLike> {
    return this.api<StatusLike>('GET', '/v1/status');
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
      await this.command('stop').catch(() => undefined);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
