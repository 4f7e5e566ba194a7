// The standalone lab: reconcile namespaces, capture, Envoys and apps with a lab file, like `kubectl apply`.
import { chmod, chown, copyFile, mkdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { envoyBootstrap } from '../sidecar/bootstrap.js';
import {
  createMemberNetwork,
  deleteMember,
  deleteNamespace,
  removeEmptyMarkFolders,
  ensureLabNamespace,
  listLabNamespaces,
  listNamespaces,
  writeNetnsFile,
} from './net.js';
import { ENVOY_UID, INBOUND_CAPTURE_PORT, OUTBOUND_CAPTURE_PORT } from '../sidecar/capture.js';
import { LAB_NAMESPACE, labMembers, planLab } from './plan.js';
import { hostsFile, podHostsFile } from './names.js';
import { resolvConf } from './dns.js';
import { hiddenPaths } from './sandbox.js';
import { startPodApps, startSandbox } from './pods.js';
import { memberDir, readLabState, stateFile, writeLabState } from './state.js';
import type { ExternalState, LabState, MemberState, PodState } from './plan.js';
import { checkLabSpec, formatValidationError } from './spec.js';
import type { LabSpec, ValidationError } from './spec.js';
import type { Logger } from '../util/logger.js';
import { processAlive, run, sleep, spawnDetached } from './sys.js';
import { ensurePodCgroupsFor, installPodCapture, removePodsKernelState, sidecarCommand } from './capture.js';

/** pino-compatible subset. */
export type LabLogger = Logger;

export interface LabUpOptions {
  /** state folder: state.json, per-pod folders (bootstrap, logs), bin/ (Envoy copy when needed) */
  readonly labDir: string;
  /** control plane ADS unix socket; must be connectable by uid 1337 */
  readonly xdsSocket: string;
  readonly envoyBinary: string;
  readonly logger: LabLogger;
  /** wait for Envoy's 15001/15006 listeners before starting a pod's apps (default true) */
  readonly waitForEnvoy?: boolean;
  /** per-pod Envoy wait (default 30 s) */
  readonly timeoutMs?: number;
  /** install the nftables capture in pods (default true; false only for network tests) */
  readonly capture?: boolean;
  /**
   * working directory of app commands (default: the member's own folder for externals, `/` in pods); the CLI passes
   * the lab file's folder. A folder hidden from pods (or under /tmp) is `/` in pods.
   */
  readonly workDir?: string;
  /** more control plane sockets pods must not reach besides the xDS socket (the CLI passes the API socket) */
  readonly sockets?: readonly string[];
  /**
   * Called with the desired state once planned, before any member is created: the CLI registers the lab's
   * inventory with the control plane here, so every sidecar's first config already knows who is who.
   */
  readonly onPlanned?: (desired: LabState) => Promise<void>;
}

export interface LabDirOptions {
  readonly labDir: string;
}

/** Thrown (as a rejection) by `labUp` for an invalid spec; `errors` are the validation values. */
export class LabSpecError extends Error {
  constructor(readonly errors: readonly ValidationError[]) {
    super(`invalid lab spec:\n${errors.map((e) => `  ${formatValidationError(e)}`).join('\n')}`);
    this.name = 'LabSpecError';
  }
}

/**
 * Envoy's drain time: connections on a filter chain that a config update removed (a revoked destination, or
 * inbound chains re-created after ingress rules were revoked) are closed at most this long after the update.
 */
export const ENVOY_DRAIN_SECONDS = 5;
const DEFAULT_ENVOY_TIMEOUT_MS = 30_000;

async function canRunAsEnvoy(test: string, path: string): Promise<boolean> {
  const r = await run([
    'setpriv',
    `--reuid=${ENVOY_UID}`,
    `--regid=${ENVOY_UID}`,
    '--clear-groups',
    '--',
    'sh',
    '-c',
    `test ${test} "$1"`,
    'sh',
    path,
  ]);
  return r.code === 0;
}

/**
 * The Envoy binary uid 1337 can execute: the given one when it can, else a copy in `<labDir>/bin/envoy` (reused
 * while its size and mtime match the source).
 */
async function envoyFor1337(labDir: string, binary: string, logger: LabLogger): Promise<string> {
  if ((await canRunAsEnvoy('-x', binary)) && (await canRunAsEnvoy('-r', binary))) return binary;
  const copy = join(labDir, 'bin', 'envoy');
  const src = await stat(binary);
  const existing = await stat(copy).catch(() => undefined);
  if (existing === undefined || existing.size !== src.size || existing.mtimeMs !== src.mtimeMs) {
    logger.info({ from: binary, to: copy }, 'uid 1337 cannot execute Envoy; copying it into the lab folder');
    await mkdir(join(labDir, 'bin'), { recursive: true, mode: 0o755 });
    await chmod(join(labDir, 'bin'), 0o755);
    const tmp = `${copy}.tmp-${process.pid}`;
    await copyFile(binary, tmp);
    await chmod(tmp, 0o755);
    await utimes(tmp, src.atime, src.mtime);
    await rename(tmp, copy);
  }
  if (!(await canRunAsEnvoy('-x', copy))) {
    throw new Error(`uid ${ENVOY_UID} cannot execute ${copy}: every parent folder of the lab folder must be o+x`);
  }
  return copy;
}

async function waitForListeners(pod: PodState, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const wanted = [OUTBOUND_CAPTURE_PORT, INBOUND_CAPTURE_PORT];
  let seen = '';
  for (;;) {
    if (pod.envoyPid === undefined || !processAlive(pod.envoyPid)) {
      throw new Error(`pod ${pod.name}: Envoy (pid ${String(pod.envoyPid)}) exited; see ${logFile}`);
    }
    const r = await run(
      ['ip', 'netns', 'exec', pod.namespace, 'curl', '-sf', '--max-time', '1', 'http://127.0.0.1:15000/listeners'],
      { timeoutMs: 3000 },
    );
    if (r.code === 0) {
      seen = r.stdout;
      if (wanted.every((p) => new RegExp(`:${p}(\\D|$)`, 'm').test(seen))) return;
    }
    if (Date.now() >= deadline) {
      const missing = wanted.filter((p) => !new RegExp(`:${p}(\\D|$)`, 'm').test(seen));
      throw new Error(
        `pod ${pod.name}: Envoy has no listeners on ${missing.join(' and ')} after ${timeoutMs} ms ` +
          `(the control plane serves them over ADS; is it listening on the xDS socket?); see ${logFile}`,
      );
    }
    await sleep(200);
  }
}

/** An external's commands: a host, so as root in its network namespace, as ever. */
async function startExternalApps(labDir: string, m: MemberState, workDir: string | undefined): Promise<number[]> {
  const pids: number[] = [];
  for (const [i, cmd] of m.run.entries()) {
    pids.push(
      await spawnDetached(['ip', 'netns', 'exec', m.namespace, 'sh', '-c', cmd], {
        logFile: join(memberDir(labDir, m.name), `app-${i}.log`),
        cwd: workDir ?? memberDir(labDir, m.name),
      }),
    );
  }
  return pids;
}

/**
 * Brings the lab to `spec`: creates what is missing, removes what is gone, recreates what changed. Per pod:
 * namespace and network, capture, Envoy, wait for its capture listeners (from the control plane), then the apps.
 * `state.json` is rewritten after every step.
 */
export async function labUp(spec: LabSpec, opts: LabUpOptions): Promise<LabState> {
  const checked = checkLabSpec(spec);
  if (!checked.valid) throw new LabSpecError(checked.errors);
  const { labDir, logger } = opts;
  await mkdir(labDir, { recursive: true, mode: 0o755 });
  await chmod(labDir, 0o755);

  const planOpts = {
    xdsSocket: opts.xdsSocket,
    capture: opts.capture ?? true,
    hidden: hiddenPaths([opts.xdsSocket, ...(opts.sockets ?? [])], [labDir]),
  };
  let previous = await readLabState(labDir);
  const existing = new Set(await listNamespaces());
  const first = planLab(checked.result, previous, planOpts);
  if (first.resetLab && previous !== undefined) {
    logger.info({ from: previous.subnet, to: checked.result.subnet }, 'lab subnet changed; tearing the lab down first');
    await labDown({ labDir });
    previous = undefined;
  }
  // Members whose namespace vanished behind our back (or all of them, without the lab namespace) are recreated.
  if (previous !== undefined) {
    const labGone = !existing.has(previous.labNamespace);
    const lost = (m: MemberState): MemberState =>
      labGone || !existing.has(m.namespace) ? { ...m, phase: 'planned' } : m;
    previous = {
      ...previous,
      pods: previous.pods.map((p) => lost(p) as PodState),
      externals: previous.externals.map((e) => lost(e) as ExternalState),
    };
  }
  const plan = planLab(checked.result, previous, planOpts);
  const desired = plan.desired;
  logger.info({ add: plan.add, remove: plan.remove, recreate: plan.reasons, keep: plan.keep }, 'lab plan');

  // Check that uid 1337 can run Envoy from here before touching anything.
  const creating = labMembers(desired).filter((m) => plan.add.includes(m.name) || plan.recreate.includes(m.name));
  const needsEnvoy = creating.some((m) => m.kind === 'pod');
  if (needsEnvoy && !(await canRunAsEnvoy('-x', labDir))) {
    throw new Error(`uid ${ENVOY_UID} cannot enter the lab folder ${labDir}: every parent folder must be o+x`);
  }
  const envoy = needsEnvoy ? await envoyFor1337(labDir, opts.envoyBinary, logger) : opts.envoyBinary;
  await opts.onPlanned?.(desired);

  // The working record: what exists now. Written after every step.
  const current = new Map<string, MemberState>();
  for (const m of previous !== undefined ? labMembers(previous) : []) current.set(m.name, m);
  const order = labMembers(desired).map((m) => m.name);
  const rank = (name: string): number => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  const snapshot = (lab: LabState): LabState => {
    const members = [...current.values()].sort((a, b) => rank(a.name) - rank(b.name));
    return {
      ...lab,
      pods: members.filter((m): m is PodState => m.kind === 'pod'),
      externals: members.filter((m): m is ExternalState => m.kind === 'external'),
    };
  };
  let labRecord: LabState = previous ?? desired;
  const save = (): Promise<LabState> => writeLabState(labDir, snapshot(labRecord));

  for (const name of [...plan.remove, ...plan.recreate]) {
    const m = current.get(name);
    if (m === undefined) continue;
    const killed = await deleteMember(labRecord, m);
    if (m.kind === 'pod') await removePodsKernelState([m.namespace], false);
    await rm(memberDir(labDir, name), { recursive: true, force: true });
    current.delete(name);
    logger.info({ member: name, namespace: m.namespace, killed }, 'removed lab member');
    await save();
  }

  labRecord = desired;
  for (const name of plan.keep)
    current.set(
      name,
      labMembers(desired).find((m) => m.name === name)!,
    );
  await save();
  await ensureLabNamespace(desired);
  const hosts = hostsFile(desired);
  // Pods with a lab resolver see only themselves in their hosts file, and the resolver in resolv.conf.
  const writeNames = async (m: MemberState): Promise<void> => {
    await writeNetnsFile(m.namespace, 'hosts', m.kind === 'pod' ? podHostsFile(desired, m) : hosts);
    if (m.kind === 'pod' && desired.dnsAddress !== undefined)
      await writeNetnsFile(m.namespace, 'resolv.conf', resolvConf(desired.dnsAddress));
  };
  await writeNetnsFile(desired.labNamespace, 'hosts', hosts);
  for (const name of plan.keep) await writeNames(current.get(name)!);

  for (const m of creating) {
    const dir = memberDir(labDir, m.name);
    let rec: MemberState = { ...m, phase: 'planned', appPids: [] };
    const step = async (next: MemberState): Promise<void> => {
      rec = next;
      current.set(m.name, rec);
      await save();
    };
    await step(rec);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chmod(join(labDir, 'pods'), 0o755);
    await createMemberNetwork(desired, rec);
    await writeNames(rec);
    await step({ ...rec, phase: 'network' });

    if (rec.kind === 'pod') {
      let pod: PodState = rec;
      await ensurePodCgroupsFor(pod);
      if (pod.capture) {
        const captureActive = await installPodCapture(pod, logger, pod.sockmap);
        await step((pod = { ...pod, phase: 'capture', captureActive }));
      }
      await chown(dir, ENVOY_UID, ENVOY_UID);
      const bootstrap = join(dir, 'bootstrap.json');
      await writeFile(
        bootstrap,
        `${JSON.stringify(
          envoyBootstrap({
            pod: pod.name,
            service: pod.service,
            address: pod.address,
            lab: desired.name,
            xdsSocket: desired.xdsSocket,
          }),
          null,
          2,
        )}\n`,
        { mode: 0o644 },
      );
      if (!(await canRunAsEnvoy('-r', bootstrap))) {
        throw new Error(`uid ${ENVOY_UID} cannot read ${bootstrap}: every parent folder of ${labDir} must be o+x`);
      }
      const envoyLog = join(dir, 'envoy.log');
      const envoyPid = await spawnDetached(
        sidecarCommand(pod, [
          'ip',
          'netns',
          'exec',
          pod.namespace,
          'setpriv',
          `--reuid=${ENVOY_UID}`,
          `--regid=${ENVOY_UID}`,
          '--clear-groups',
          '--',
          envoy,
          '-c',
          bootstrap,
          '--disable-hot-restart',
          '--concurrency',
          '1',
          '--drain-time-s',
          String(ENVOY_DRAIN_SECONDS),
          '--log-path',
          envoyLog,
          '-l',
          'info',
        ]),
        { logFile: join(dir, 'envoy.stdout.log'), cwd: dir },
      );
      await step((pod = { ...pod, phase: 'envoy', envoyPid }));
      logger.info({ pod: pod.name, namespace: pod.namespace, address: pod.address, envoyPid }, 'started Envoy');
      if (opts.waitForEnvoy ?? true) await waitForListeners(pod, envoyLog, opts.timeoutMs ?? DEFAULT_ENVOY_TIMEOUT_MS);
      const sandboxPid = await startSandbox(labDir, desired, pod);
      await step((pod = { ...pod, phase: 'sandbox', sandboxPid }));
      rec = pod;
    }
    const appPids =
      rec.kind === 'pod'
        ? await startPodApps(labDir, desired, rec, opts.workDir)
        : await startExternalApps(labDir, rec, opts.workDir);
    await step({ ...rec, phase: 'running', appPids });
    logger.info(
      { member: rec.name, kind: rec.kind, namespace: rec.namespace, address: rec.address, appPids },
      'lab member running',
    );
  }
  return save();
}

export interface LabDownResult {
  readonly namespaces: readonly string[];
  readonly processesKilled: number;
}

export interface LabDownOptions extends LabDirOptions {
  /** also remove `nsg-*` namespaces the lab did not mark as its own (default false: they may be someone else's) */
  readonly allNsgNamespaces?: boolean;
}

/**
 * Removes the lab: every namespace the state lists and any leftover the lab marked as its own (a crashed run), their
 * processes (TERM, then KILL after 2 s), /etc/netns folders, state.json and per-pod folders. Idempotent. The Envoy
 * copy in `<labDir>/bin` is kept for the next run.
 */
export async function labDown(opts: LabDownOptions): Promise<LabDownResult> {
  const state = await readLabState(opts.labDir).catch(() => undefined);
  const existing = await listNamespaces();
  const listed = state !== undefined ? [...labMembers(state).map((m) => m.namespace), state.labNamespace] : [];
  const leftovers = await listLabNamespaces(opts.allNsgNamespaces ?? false);
  const all = [...new Set([...listed, ...leftovers])];
  // Members first, the lab namespace (the bridge they hang off) last.
  const labNs = state?.labNamespace ?? LAB_NAMESPACE;
  all.sort((a, b) => Number(a === labNs) - Number(b === labNs));
  let processesKilled = 0;
  for (const ns of all) processesKilled += await deleteNamespace(ns);
  await removePodsKernelState(all, true);
  await rm(join(opts.labDir, 'pods'), { recursive: true, force: true });
  await rm(stateFile(opts.labDir), { force: true });
  await removeEmptyMarkFolders();
  return { namespaces: all.filter((n) => existing.includes(n)), processesKilled };
}
