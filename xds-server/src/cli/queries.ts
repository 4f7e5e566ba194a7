// Read-only commands: status, services, policy show.
import type { Command } from 'commander';
import { context } from './main.js';
import { printData, table, ago } from './output.js';
import type { ServiceView, PolicyView, StatusView } from '../controlplane/views.js';
import { CliError } from './client.js';

function withOutput(c: Command): Command {
  return c.option('-o, --output <format>', 'table, json or yaml', 'table');
}

export function registerQueries(program: Command): void {
  withOutput(program.command('status').description('control plane health: connected Envoys, ACKed versions, NACKs, access-log rate'))
    .action(async (_o, cmd: Command) => {
      const { api, output } = context(cmd);
      const s = await api.call<StatusView>('GET', '/v1/status');
      if (output !== 'table') return printData(output, s);
      process.stdout.write(`control plane up ${ago(s.startedAt)}, state dir ${s.stateDir}\n`);
      process.stdout.write(`access logs: ${s.accessLogs.entries} entries (${s.accessLogs.perSecond.toFixed(1)}/s), ` +
        `${s.accessLogs.rejected} rejected${Object.keys(s.accessLogs.rejectedByKind).length ? ' ' + JSON.stringify(s.accessLogs.rejectedByKind) : ''}\n`);
      process.stdout.write(`xDS: ${s.xds.connected} connected Envoys, ${s.xds.pushes} pushes, ${s.xds.acks} ACKs, ${s.xds.nacks} NACKs\n\n`);
      if (s.envoys.length === 0) return void process.stdout.write('no Envoy connected\n');
      process.stdout.write(table(['ENVOY', 'SERVICE', 'STREAM', 'CONNECTED', 'CDS', 'EDS', 'LDS', 'RDS', 'LAST NACK'],
        s.envoys.map((e) => [e.node, e.service, e.kind, ago(e.connectedAt), ver(e.acked.cds), ver(e.acked.eds), ver(e.acked.lds), ver(e.acked.rds),
          e.lastNack ? `${e.lastNack.type} ${e.lastNack.version}: ${e.lastNack.message.slice(0, 60)}` : '-'])));
    });

  withOutput(program.command('services').description('services, their learning state, mode and confidence'))
    .action(async (_o, cmd: Command) => {
      const { api, output } = context(cmd);
      const list = await api.call<ServiceView[]>('GET', '/v1/services');
      if (output !== 'table') return printData(output, list);
      process.stdout.write(table(['SERVICE', 'STATE', 'MODE', 'CONFIDENCE', 'EDGES', 'WORKLOADS', 'REASON'],
        list.map((s) => [s.name, s.state, s.mode, s.confidence.toFixed(3), s.edges, s.workloads.map((w) => w.name).join(','), s.reason])));
    });

  const policy = program.command('policy').description('learned policy of a service');
  withOutput(policy.command('show').argument('<service>', 'namespace/name').description('the learned ingress and egress of SERVICE'))
    .action(async (service: string, _o, cmd: Command) => {
      const { api, output } = context(cmd);
      if (!/^[^/\s]+\/[^/\s]+$/.test(service)) throw new CliError(`service "${service}": expected namespace/name`, 2);
      const p = await api.call<PolicyView>('GET', `/v1/services/${service.split('/').map(encodeURIComponent).join('/')}/policy`);
      if (output !== 'table') return printData(output, p);
      process.stdout.write(`${p.service} (mode ${p.mode})\n`);
      for (const [title, rules] of [['INGRESS (from)', p.ingress], ['EGRESS (to)', p.egress]] as const) {
        process.stdout.write(`\n${title}\n`);
        process.stdout.write(rules.length === 0 ? '  (none)\n' : table(['PEER', 'PROTOCOL', 'PORT', 'COUNT', 'FIRST SEEN', 'LAST SEEN'],
          rules.map((r) => ['service' in r.peer ? r.peer.service : r.peer.cidr + (r.peer.sni ? ` (${r.peer.sni})` : ''), r.protocol, r.port,
            r.evidence.count, r.evidence.firstSeen, r.evidence.lastSeen])));
      }
    });
}

function ver(v: string | undefined): string {
  return v ? v.slice(0, 8) : '-';
}
