// Runs the real `nanoseg` binary (compiled JS) for integration and end-to-end tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { chmodSync, existsSync, mkdtempSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';

export const BIN = join(projectRoot(), 'bin', 'nanoseg.js');

/** How to run a `nanoseg`: the program, the arguments before the CLI's own, the working directory. */
export interface NanosegCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
}

/** This tree's compiled binary (the default everywhere). */
export const SHIPPED: NanosegCommand = { file: process.execPath, args: [BIN] };

export const isRoot = process.getuid?.() === 0;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `nanoseg ARGS` to completion. */
export function nanoseg(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
  command: NanosegCommand = SHIPPED,
): CliResult {
  const r = spawnSync(command.file, [...command.args, ...args], {
    encoding: 'utf8',
    cwd: command.cwd,
    env: { ...process.env, ...env },
    timeout: timeoutMs,
    maxBuffer: 256 << 20, // `policy show -o json` of a 10,000-rule policy is more than the default 1 MiB
  });
  const failed = r.error ? `${r.stderr ?? ''}\n${r.error.message}` : (r.stderr ?? '');
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: failed };
}

export function json<T>(args: readonly string[], env: NodeJS.ProcessEnv = {}): T {
  const r = nanoseg([...args, '-o', 'json'], env);
  if (r.code !== 0) throw new Error(`nanoseg ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Does the control plane's API answer GET /v1/status with 200 on this socket? */
function apiAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/v1/status', method: 'GET', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A control plane (`nanoseg serve`) in its own process with its own state dir and sockets. */
export class ServerProcess {
  proc?: ChildProcess;
  readonly apiSocket: string;
  readonly xdsSocket: string;
  readonly stateDir: string;
  readonly log: string;

  constructor(
    readonly dir: string,
    readonly args: string[] = [],
    readonly command: NanosegCommand = SHIPPED,
  ) {
    this.apiSocket = join(dir, 'api.sock');
    this.xdsSocket = join(dir, 'xds.sock');
    this.stateDir = join(dir, 'state');
    this.log = join(dir, 'serve.log');
  }

  get env(): NodeJS.ProcessEnv {
    return { NANOSEG_API: this.apiSocket, NANOSEG_LAB_DIR: join(this.dir, 'lab') };
  }

  async start(): Promise<void> {
    const out = openSync(this.log, 'a');
    this.proc = spawn(
      this.command.file,
      [
        ...this.command.args,
        'serve',
        '--state-dir',
        this.stateDir,
        '--api-socket',
        this.apiSocket,
        '--xds-socket',
        this.xdsSocket,
        '--xds-address',
        'off',
        '--metrics-address',
        'off',
        '--log-level',
        'debug',
        ...this.args,
      ],
      { stdio: ['ignore', out, out], cwd: this.command.cwd },
    );
    closeSync(out);
    const p = this.proc;
    // the API answering on its socket, asked directly every 50 ms (a `nanoseg status` per poll cost a node start)
    await waitFor(
      'the control plane API',
      async () => {
        if (p.exitCode !== null) throw new Error(`nanoseg serve exited with ${p.exitCode}; see ${this.log}`);
        return existsSync(this.apiSocket) && (await apiAnswers(this.apiSocket));
      },
      20_000,
      50,
    );
  }

  kill9(): void {
    this.proc?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  async waitExit(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise((r) => p.once('exit', r));
  }
}

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755); // sidecars run as uid 1337 and must reach the xDS socket in here
  // KEEP_TEST_DIRS=1 keeps logs and state for a look after a failure
  return {
    dir,
    remove: () => (process.env.KEEP_TEST_DIRS ? undefined : rmSync(dir, { recursive: true, force: true })),
  };
}
