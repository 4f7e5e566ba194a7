// `nanoseg lab ...`: the standalone lab. Runs here (as root), registers the lab's inventory with the control plane.
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { context } from './context.js';
import { CliError, type ApiClient } from './client.js';
import { printData, table } from './output.js';
import { findEnvoy } from '../util/envoy.js';
import { parseDuration } from '../util/duration.js';
import {
  loadLabSpec,
  formatValidationError,
  labUp,
  labDown,
  labList,
  labExec,
  labInventory,
  LabSpecError,
  ROOT_POD_USER,
  parsePodUser,
} from '../lab/index.js';
import type { PodUser } from '../lab/index.js';

export const DEFAULT_LAB_DIR = '/var/lib/nanoseg/lab';
const INVENTORY_SOURCE = 'lab';

function labDir(cmd: Command): string {
  const o = cmd.optsWithGlobals() as { labDir?: string };
  return resolve(o.labDir ?? process.env.NANOSEG_LAB_DIR ?? DEFAULT_LAB_DIR);
}

function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new CliError('the lab creates network namespaces and firewall rules inside them: run as root');
}

async function controlPlaneInfo(api: ApiClient): Promise<{ xdsSocket: string }> {
  const info = await api.call<{ xdsSocket?: string }>('GET', '/v1/info');
  if (!info.xdsSocket)
    throw new CliError('the control plane serves no xDS unix socket (started with --xds-socket ""?); the lab needs it');
  return { xdsSocket: info.xdsSocket };
}

export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description('the standalone lab: pods as network namespaces with real Envoy sidecars')
    .option('--lab-dir <dir>', 'lab state folder (env NANOSEG_LAB_DIR)', undefined);

  lab
    .command('up')
    .description('create or reconcile the lab described by FILE (like kubectl apply)')
    .requiredOption('-f, --file <file>', 'lab file (YAML)')
    .option('--timeout <duration>', 'how long to wait for each sidecar to get its config', '60s')
    .action(async (o: { file: string; timeout: string }, cmd: Command) => {
      const timeout = parseDuration(o.timeout);
      if (!timeout.ok) throw new CliError(`--timeout: ${timeout.error}`, 2);
      const file = resolve(o.file);
      const spec = await loadLabSpec(file);
      if (!spec.valid) throw new CliError(spec.errors.map((e) => formatValidationError(e, o.file)).join('\n'), 2);
      requireRoot();
      const { api } = context(cmd);
      const { xdsSocket } = await controlPlaneInfo(api);
      const logger = pino({ level: process.env.NANOSEG_LOG_LEVEL ?? 'warn', base: undefined }, pino.destination(2));
      try {
        const state = await labUp(spec.result, {
          labDir: labDir(cmd),
          xdsSocket,
          envoyBinary: findEnvoy(),
          logger,
          timeoutMs: timeout.ms,
          workDir: dirname(file),
          // pods must not reach the control plane: its API socket is hidden from them like the xDS socket
          sockets: [api.socketPath],
          // the control plane must know who is who before the first sidecar asks for config
          onPlanned: async (desired) => {
            await api.call('PUT', `/v1/inventory/${INVENTORY_SOURCE}`, labInventory(desired));
          },
        });
        await api.call('PUT', `/v1/inventory/${INVENTORY_SOURCE}`, labInventory(state));
        process.stdout.write(`lab ${state.name}: ${state.pods.length} pods, ${state.externals.length} externals up\n`);
      } catch (e) {
        if (e instanceof LabSpecError) throw new CliError(e.message, 2);
        throw e;
      }
    });

  lab
    .command('down')
    .description('remove everything the lab made (namespaces, processes, rules), also after a crash')
    .action(async (_o, cmd: Command) => {
      requireRoot();
      const r = await labDown({ labDir: labDir(cmd) });
      const { api } = context(cmd);
      await api.call('DELETE', `/v1/inventory/${INVENTORY_SOURCE}`).catch(() => undefined); // the control plane may be gone
      process.stdout.write(`lab down: removed ${r.namespaces.length} namespaces\n`);
    });

  lab
    .command('list')
    .description('pods and externals of the lab')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (_o, cmd: Command) => {
      const { output } = context(cmd);
      const l = await labList({ labDir: labDir(cmd) });
      if (output !== 'table') return printData(output, l);
      const members = [...l.pods, ...l.externals];
      if (members.length === 0) return void process.stdout.write('no lab\n');
      process.stdout.write(
        table(
          ['NAME', 'KIND', 'SERVICE', 'ADDRESS', 'NAMESPACE', 'USER', 'ENVOY', 'APPS'],
          members.map((m) => [
            m.name,
            m.kind,
            m.service ?? '-',
            m.address6 !== undefined ? `${m.address},${m.address6}` : m.address,
            m.namespace,
            m.user ?? 'root (host)',
            m.envoy ? (m.envoy.alive ? `pid ${m.envoy.pid}` : 'dead') : '-',
            m.apps.map((a) => (a.alive ? 'up' : 'dead')).join(',') || '-',
          ]),
        ),
      );
    });

  lab
    .command('exec')
    .description(
      "run CMD in POD like `kubectl exec`: in the pod's network, PID and mount namespaces, as the pod's user; " +
        "exits with CMD's exit code",
    )
    .argument('<pod>', 'pod or external name')
    .argument('<command...>', 'command and arguments (after --)')
    .option(
      '--user <user>',
      '"root": uid 0 with the capabilities of a privileged pod (a container runtime\'s defaults + NET_ADMIN, ' +
        "never SYS_ADMIN), or UID[:GID]; default: the pod's user",
    )
    .addHelpText(
      'after',
      `
The control plane's sockets and the lab's state are not visible inside a pod, so \`nanoseg\` commands
run there fail with "cannot reach the control plane". An external is a host: commands run as root there.

Examples:
  nanoseg lab exec web-1 -- curl -s http://api.shop:9090/
  nanoseg lab exec --user root web-1 -- nft list ruleset`,
    )
    .action(async (pod: string, argv: string[], o: { user?: string }, cmd: Command) => {
      requireRoot();
      let user: PodUser | undefined;
      if (o.user === 'root' || o.user === '0') user = ROOT_POD_USER;
      else if (o.user !== undefined) {
        const u = parsePodUser(o.user);
        if (typeof u === 'string') throw new CliError(`--user: ${u}`, 2);
        user = u;
      }
      process.exitCode = await labExec({ labDir: labDir(cmd) }, pod, argv, user !== undefined ? { user } : {});
    });
}
