// A pod's processes: its sandbox (the pause process holding the PID and mount namespaces) and its apps inside it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabState, PodState } from './plan.js';
import { memberDir } from './state.js';
import { SANDBOX_READY_ARG, podAppArgv, podWorkDir, sandboxArgv } from './sandbox.js';
import { childPids, processAlive, processArgv, sleep, spawnDetached } from './sys.js';
import { appCommand } from './capture.js';

const SANDBOX_TIMEOUT_MS = 10_000;

/** The folder nanoseg runs from (the one with package.json): apps and examples in it must stay visible in pods. */
function projectRoot(): string | undefined {
  for (let d = dirname(fileURLToPath(import.meta.url)); d !== dirname(d); d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
  }
  return undefined;
}
const PROJECT_ROOT = projectRoot();
/** A private /tmp would hide the project when it lives under /tmp (a CI clone): it is bound back, read-only. */
const KEEP_IN_TMP = PROJECT_ROOT !== undefined && PROJECT_ROOT.startsWith('/tmp/') ? [PROJECT_ROOT] : [];

/**
 * The pid apps and `lab exec` enter: the pause process inside the sandbox (the child of `unshare`), once it has set
 * the sandbox up. Undefined when the sandbox is gone or not ready.
 */
export function sandboxInit(sandboxPid: number): number | undefined {
  if (!processAlive(sandboxPid)) return undefined;
  const child = childPids(sandboxPid)[0];
  if (child === undefined || processArgv(child).at(-1) !== SANDBOX_READY_ARG) return undefined;
  return child;
}

/** Starts a pod's sandbox and waits until it is set up; resolves with the `unshare` pid. */
export async function startSandbox(labDir: string, state: LabState, pod: PodState): Promise<number> {
  const logFile = join(memberDir(labDir, pod.name), 'sandbox.log');
  const pid = await spawnDetached(sandboxArgv(pod.namespace, state.hidden, KEEP_IN_TMP), { logFile, cwd: '/' });
  const deadline = Date.now() + SANDBOX_TIMEOUT_MS;
  while (sandboxInit(pid) === undefined) {
    if (!processAlive(pid)) throw new Error(`pod ${pod.name}: its sandbox exited while being set up; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`pod ${pod.name}: sandbox not ready after ${SANDBOX_TIMEOUT_MS} ms`);
    await sleep(20);
  }
  return pid;
}

/**
 * Starts each `run` command of a pod as its user inside its sandbox and its app cgroup (where the eBPF capture and
 * the bind guard are attached); resolves with their pids.
 */
export async function startPodApps(
  labDir: string,
  state: LabState,
  pod: PodState,
  workDir: string | undefined,
): Promise<number[]> {
  const init = pod.sandboxPid !== undefined ? sandboxInit(pod.sandboxPid) : undefined;
  if (init === undefined) throw new Error(`pod ${pod.name}: no sandbox to start its apps in`);
  const cwd = podWorkDir(workDir, state.hidden, KEEP_IN_TMP);
  const pids: number[] = [];
  for (const [i, cmd] of pod.run.entries()) {
    pids.push(
      await spawnDetached(appCommand(pod, podAppArgv(init, pod.user, cwd, cmd)), {
        logFile: join(memberDir(labDir, pod.name), `app-${i}.log`),
        cwd: '/',
      }),
    );
  }
  return pids;
}
