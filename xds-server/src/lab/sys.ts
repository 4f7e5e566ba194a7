// The lab's only seam to the operating system: child processes (`ip`, `nft`, `setpriv`, apps) and /proc.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class LabCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number,
    readonly stderr: string,
  ) {
    super(`\`${argv.join(' ')}\` failed (exit ${code}): ${stderr.trim() || '(no output)'}`);
    this.name = 'LabCommandError';
  }
}

export interface RunOptions {
  /** written to the child's stdin */
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** Runs a command to completion; never throws for a non-zero exit (see `runOk`). */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: stderr + err.message }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a command and returns its stdout; rejects with `LabCommandError` on a non-zero exit. */
export async function runOk(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new LabCommandError(argv, r.code, r.stderr || r.stdout);
  return r.stdout;
}

export interface DetachedOptions {
  /** stdout and stderr are appended here */
  readonly logFile: string;
  readonly cwd?: string;
}

/** Starts a long-running process in its own session, output to a log file; resolves with its pid once started. */
export function spawnDetached(argv: readonly string[], opts: DetachedOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd = openSync(opts.logFile, 'a', 0o644);
    try {
      const child = spawn(argv[0]!, argv.slice(1), {
        detached: true,
        stdio: ['ignore', fd, fd],
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      });
      child.on('error', (err) => reject(new Error(`cannot start \`${argv.join(' ')}\`: ${err.message}`)));
      child.on('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    } finally {
      closeSync(fd);
    }
  });
}

/** Runs a command with the caller's stdio; resolves with its exit code (128+n when killed by signal n). */
export function runInherited(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== null) resolve(code);
      else resolve(128 + (signal !== null ? signalNumber(signal) : 0));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGTERM: 15,
    SIGPIPE: 13,
  };
  return table[signal] ?? 0;
}

/** True when the process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A delay the caller awaits (deliberately not unref'd: the awaiting work must keep the process alive). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Direct children of a process (`/proc/PID/task/PID/children`); empty when it is gone. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** A process's argv (`/proc/PID/cmdline`); empty when it is gone. */
export function processArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}
