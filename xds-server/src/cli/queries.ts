// Commands that read or change state through the API: status, services, policy, mode, alerts, audit, release.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { context } from './context.js';
import { printData, table, ago } from './output.js';
import type { ServiceView, StatusView } from '../api/views.js';
import { CliError } from './client.js';
import { MODES, type Alert, type AuditEvent, type Mode } from '../model/index.js';
import { exportPolicy, EXPORT_FORMATS, type ExportFormat } from '../export/index.js';
import { parsePolicyFile, diffPolicy, renderDiff, formatPolicyDocument, type PolicyDocument } from '../policy/index.js';
import { parseDuration } from '../util/duration.js';

function withOutput(c: Command): Command {
  return c.option('-o, --output <format>', 'table, json or yaml', 'table');
}

function servicePath(service: string): string {
  if (!/^[^/\s]+\/[^/\s]+$/.test(service)) throw new CliError(`service "${service}": expected namespace/name`, 2);
  return `/v1/services/${service.split('/').map(encodeURIComponent).join('/')}`;
}

function modeArg(m: string): Mode {
  if (!MODES.includes(m as Mode)) throw new CliError(`mode "${m}": expected one of ${MODES.join(', ')}`, 2);
  return m as Mode;
}

async function readPolicyFile(file: string) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(
      `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      2,
    );
  }
  const parsed = parsePolicyFile(text, file);
  if (!parsed.valid) throw new CliError(parsed.errors.map((e) => e.message).join('\n'), 2);
  return { text, parsed: parsed.result };
}

export function registerQueries(program: Command): void {
  withOutput(
    program
      .command('status')
      .description('control plane health: connected Envoys, ACKed versions, NACKs, access-log rate'),
  ).action(async (_o, cmd: Command) => {
    const { api, output } = context(cmd);
    const s = await api.call<StatusView>('GET', '/v1/status');
    if (output !== 'table') return printData(output, s);
    process.stdout.write(`control plane up ${ago(s.startedAt)}, state dir ${s.stateDir}\n`);
    process.stdout.write(
      `access logs: ${s.accessLogs.entries} entries (${s.accessLogs.perSecond.toFixed(1)}/s), ` +
        `${s.accessLogs.rejected} rejected${Object.keys(s.accessLogs.rejectedByKind).length ? ' ' + JSON.stringify(s.accessLogs.rejectedByKind) : ''}\n`,
    );
    process.stdout.write(
      `xDS: ${s.xds.connected} connected Envoys, ${s.xds.pushes} pushes, ${s.xds.acks} ACKs, ${s.xds.nacks} NACKs\n`,
    );
    const tr = s.traces;
    if (tr) {
      const mib = (b: number) => (b / 2 ** 20).toFixed(1);
      const fw = tr.forward;
      process.stdout.write(
        `traces: ${tr.exports} exports, ${tr.spans} spans, ${tr.rejected} rejected; ` +
          `kept ${tr.kept.traces} traces (${mib(tr.kept.bytes)} of ${mib(tr.kept.budgetBytes)} MiB)` +
          `${fw ? `; forwarded to ${fw.target}: ${fw.sent} sent, ${fw.failed} failed, ${fw.dropped} dropped` : ''}\n`,
      );
    }
    const self = s.selfTraces;
    if (self)
      process.stdout.write(
        `own traces to ${self.endpoint}: ${self.exported} spans exported, ${self.failed} failed, ` +
          `${self.dropped} dropped, ${self.queued} queued\n`,
      );
    const w = s.alerts.webhook;
    if (w)
      process.stdout.write(
        `alert webhook: ${w.sent} sent, ${w.failed} failed, ${w.dropped} dropped, ${w.queued} queued\n`,
      );
    const k = s.kernel;
    if (k) {
      const f = k.flows;
      process.stdout.write(
        `kernel rules (${k.namespace ?? 'this namespace'}): ${k.state}, ${k.updates} updates` +
          `${k.lastUpdateMs !== undefined ? ` (last ${k.lastUpdateMs} ms, ${k.rulesBytes} bytes)` : ''}, ${k.failures} failed; ` +
          `flows ${f.flows} observed, ${f.lost} lost${f.overflows ? ` (+${f.overflows} overflows)` : ''}, ${f.spoofed} spoofed dropped\n`,
      );
      if (k.error)
        process.stdout.write(`KERNEL UPDATE FAILED at ${k.errorAt}: the last good rules stay in force: ${k.error}\n`);
    }
    for (const a of s.nodeAgents ?? []) {
      const r = a.applied;
      process.stdout.write(
        `node agent ${a.node} (${a.pod}): ${a.connected ? 'connected' : 'DISCONNECTED (its rules stay in force)'} ` +
          `since ${a.since}; rules ${r ? `${r.state}, version ${r.version ?? '-'} of ${a.sentVersion ?? '-'} sent, ${r.updates} updates, ${r.failures} failed` : 'not reported yet'}; ` +
          `flows ${a.flows.flows} observed, ${a.flows.lost} lost\n`,
      );
      if (r?.error) process.stdout.write(`NODE ${a.node} KERNEL UPDATE FAILED: the last good rules stay: ${r.error}\n`);
    }
    for (const h of s.held) process.stdout.write(`HELD ${h.node} since ${h.since}: ${h.reason}\n`);
    for (const i of s.inventorySources ?? []) {
      if (i.error)
        process.stdout.write(`inventory ${i.name} ${i.file ?? i.server ?? ''}: kept the last good one: ${i.error}\n`);
    }
    process.stdout.write('\n');
    if (s.envoys.length === 0) return void process.stdout.write('no Envoy connected\n');
    process.stdout.write(
      table(
        ['ENVOY', 'SERVICE', 'STREAM', 'CONNECTED', 'CDS', 'EDS', 'LDS', 'RDS', 'ECDS', 'LAST NACK'],
        s.envoys.map((e) => [
          e.node,
          e.service,
          e.kind,
          ago(e.connectedAt),
          ver(e.acked.cds),
          ver(e.acked.eds),
          ver(e.acked.lds),
          ver(e.acked.rds),
          ver(e.acked.ecds),
          e.lastNack ? `${e.lastNack.type} ${e.lastNack.version.slice(0, 8)}: ${e.lastNack.message.slice(0, 60)}` : '-',
        ]),
      ),
    );
  });

  withOutput(program.command('services').description('services, their learning state, mode and confidence')).action(
    async (_o, cmd: Command) => {
      const { api, output } = context(cmd);
      const list = await api.call<ServiceView[]>('GET', '/v1/services');
      if (output !== 'table') return printData(output, list);
      process.stdout.write(
        table(
          ['SERVICE', 'STATE', 'MODE', 'CONFIDENCE', 'EDGES', 'WORKLOADS', 'REASON'],
          list.map((s) => [
            s.name,
            s.state,
            s.mode,
            s.confidence.toFixed(3),
            s.edges,
            s.workloads.map((w) => w.name).join(','),
            s.reason,
          ]),
        ),
      );
    },
  );

  const policy = program
    .command('policy')
    .description("a service's policy: show, diff, apply (policy as code), export");
  withOutput(
    policy
      .command('show')
      .argument('<service>', 'namespace/name')
      .description(
        'the policy of SERVICE (learned edges in learn mode, the policy in force otherwise), with evidence; -o yaml gives a file `policy apply` accepts',
      ),
  ).action(async (service: string, _o, cmd: Command) => {
    const { api, output } = context(cmd);
    const p = await api.call<PolicyDocument>('GET', `${servicePath(service)}/policy`);
    if (output !== 'table') return void process.stdout.write(formatPolicyDocument(p, output));
    process.stdout.write(`${p.service} (mode ${p.mode}${p.l7 ? ', L7 enforced' : ''})\n`);
    for (const [title, rules] of [
      ['INGRESS (from)', p.ingress],
      ['EGRESS (to)', p.egress],
    ] as const) {
      process.stdout.write(`\n${title}\n`);
      process.stdout.write(
        rules.length === 0
          ? '  (none)\n'
          : table(
              ['PEER', 'PROTOCOL', 'PORT', 'COUNT', 'ERRORS', 'P50', 'P99', 'FIRST SEEN', 'LAST SEEN'],
              rules.map((r) => [
                'service' in r.peer ? r.peer.service : r.peer.cidr + (r.peer.sni ? ` (${r.peer.sni})` : ''),
                r.protocol,
                r.port ?? '-',
                r.evidence?.count ?? '-',
                r.evidence ? `${r.evidence.errors ?? 0} (${((r.evidence.errorRate ?? 0) * 100).toFixed(1)}%)` : '-',
                r.evidence?.latency ? `${r.evidence.latency.p50Ms} ms` : '-',
                r.evidence?.latency ? `${r.evidence.latency.p99Ms} ms` : '-',
                r.evidence?.firstSeen ?? '-',
                r.evidence?.lastSeen ?? '-',
              ]),
            ),
      );
      for (const r of rules.filter((x) => x.paths !== undefined)) {
        const peer = 'service' in r.peer ? r.peer.service : r.peer.cidr;
        const flag = r.evidence?.pathsCollapsed ? ' (collapsed to PREFIX/*: more than 50 templates)' : '';
        process.stdout.write(`\n  paths from ${peer} ${r.protocol}/${r.port}${flag}\n`);
        for (const x of r.paths ?? [])
          process.stdout.write(`    ${x.method.padEnd(7)} ${x.path}${x.count !== undefined ? `  (${x.count})` : ''}\n`);
      }
    }
  });

  policy
    .command('export')
    .argument('<service>', 'namespace/name')
    .requiredOption('--format <format>', EXPORT_FORMATS.join('|'))
    .description(
      "SERVICE's policy as YAML for another enforcer: a Kubernetes NetworkPolicy (ingress and egress) or an Istio AuthorizationPolicy (ingress only)",
    )
    .action(async (service: string, o: { format: string }, cmd: Command) => {
      if (!(EXPORT_FORMATS as readonly string[]).includes(o.format)) {
        throw new CliError(`--format ${o.format}: expected ${EXPORT_FORMATS.join(' or ')}`, 2);
      }
      const { api } = context(cmd);
      const p = await api.call<PolicyDocument>('GET', `${servicePath(service)}/policy`);
      process.stdout.write(exportPolicy(p, o.format as ExportFormat));
    });

  policy
    .command('diff')
    .requiredOption('-f, --file <file>', 'policy file (YAML or JSON)')
    .description('what `policy apply -f FILE` would change; exits 0 when nothing would')
    .action(async (o: { file: string }, cmd: Command) => {
      const { api } = context(cmd);
      const { parsed } = await readPolicyFile(o.file);
      const current = await api.call<PolicyDocument>('GET', `${servicePath(parsed.service)}/policy`);
      const cur = parsePolicyFile(JSON.stringify(current), 'current');
      if (!cur.valid)
        throw new CliError(`the control plane returned a policy this CLI cannot read: ${cur.errors[0]?.message}`);
      const d = diffPolicy(cur.result, parsed);
      const text = renderDiff(d);
      const modeLine =
        parsed.mode && parsed.mode !== current.mode ? `~ mode     ${current.mode} → ${parsed.mode}\n` : '';
      process.stdout.write(
        text || modeLine
          ? modeLine + text + (text.endsWith('\n') || !text ? '' : '\n')
          : `no changes to ${parsed.service}\n`,
      );
    });

  policy
    .command('apply')
    .requiredOption('-f, --file <file>', 'policy file (YAML or JSON)')
    .description(
      "replace the policy of the file's service (and its mode, when the file names one); recorded in the audit trail",
    )
    .action(async (o: { file: string }, cmd: Command) => {
      const { api } = context(cmd);
      const { text, parsed } = await readPolicyFile(o.file);
      const r = await api.call<{ service: string; changed: boolean }>('PUT', `${servicePath(parsed.service)}/policy`, {
        text,
        file: o.file,
      });
      process.stdout.write(r.changed ? `policy of ${r.service} applied\n` : `policy of ${r.service} unchanged\n`);
    });

  program
    .command('mode')
    .argument('[service]', 'namespace/name (or --all)')
    .argument('[mode]', MODES.join('|'))
    .option('--all', 'every known service')
    .option(
      '--l7',
      'also enforce (monitor: report) the learned HTTP methods + path templates; kept across mode changes',
    )
    .option('--no-l7', 'turn L7 enforcement off (L4 rules only)')
    .description("set a service's mode: learn (pass, learn), monitor (pass, report would-deny), enforce (deny, report)")
    .action(async (a: string | undefined, b: string | undefined, o: { all?: boolean; l7?: boolean }, cmd: Command) => {
      const { api } = context(cmd);
      if (o.all) {
        if (!a || b) throw new CliError('usage: nanoseg mode --all MODE', 2);
        if (o.l7 !== undefined)
          throw new CliError('--l7/--no-l7 are set per service: nanoseg mode SERVICE MODE --l7', 2);
        const r = await api.call<{ service: string; before: string; after: string }[]>('PUT', '/v1/modes', {
          mode: modeArg(a),
        });
        for (const x of r) process.stdout.write(`${x.service}: ${x.before} → ${x.after}\n`);
        return;
      }
      if (!a || !b) throw new CliError('usage: nanoseg mode SERVICE MODE, or nanoseg mode --all MODE', 2);
      const mode = modeArg(b);
      const r = await api.call<{ service: string; before: string; after: string; l7: boolean }>(
        'PUT',
        `${servicePath(a)}/mode`,
        { mode, ...(o.l7 !== undefined && { l7: o.l7 }) },
      );
      const l7 = o.l7 !== undefined ? `, L7 enforcement ${r.l7 ? 'on' : 'off'}` : '';
      process.stdout.write(
        r.before === r.after
          ? `${r.service} is already in ${r.after} mode${l7}\n`
          : `${r.service}: ${r.before} → ${r.after}${l7}\n`,
      );
    });

  withOutput(
    program
      .command('alerts')
      .description('denied (enforce) and would-deny (monitor) connections, aggregated')
      .option('--since <duration>', 'only alerts newer than this (e.g. 10m)')
      .option('-f, --follow', 'keep printing new alerts'),
  ).action(async (o: { since?: string; follow?: boolean }, cmd: Command) => {
    const { api, output } = context(cmd);
    const since = sinceFlag(o.since);
    const line = (a: Alert) =>
      `${a.time}  ${a.verdict.padEnd(10)} ${(a.source.service ?? a.source.ip).padEnd(16)} → ` +
      `${(a.destination.service ?? a.destination.ip) + (a.protocol === 'icmp' ? '' : ':' + a.destination.port)}${a.destination.sni ? ` (${a.destination.sni})` : ''}  ${a.protocol}  ×${a.count}  ${a.reason}\n`;
    if (o.follow) {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      process.once('SIGTERM', () => ac.abort());
      await api.stream(
        `/v1/alerts?since=${since}&follow=1`,
        (v) => {
          process.stdout.write(output === 'table' ? line(v as Alert) : JSON.stringify(v) + '\n');
        },
        ac.signal,
      );
      return;
    }
    const list = await api.call<Alert[]>('GET', `/v1/alerts?since=${since}`);
    if (output !== 'table') return printData(output, list);
    if (list.length === 0) return void process.stdout.write('no alerts\n');
    for (const a of list) process.stdout.write(line(a));
  });

  withOutput(
    program
      .command('audit')
      .description('changes made by people (mode, policy apply, release), with before → after')
      .option('--since <duration>', 'only events newer than this'),
  ).action(async (o: { since?: string }, cmd: Command) => {
    const { api, output } = context(cmd);
    const since = sinceFlag(o.since);
    const list = await api.call<AuditEvent[]>('GET', `/v1/audit?since=${since}`);
    if (output !== 'table') return printData(output, list);
    if (list.length === 0) return void process.stdout.write('no audit events\n');
    process.stdout.write(
      table(
        ['TIME', 'ACTOR', 'ACTION', 'TARGET', 'CHANGE'],
        list.map((e) => [
          e.time,
          e.actor,
          e.action,
          e.target,
          e.action === 'mode'
            ? `${String(e.before)} → ${String(e.after)}`
            : e.action === 'policy-apply'
              ? summarize(e.before, e.after)
              : '',
        ]),
      ),
    );
  });

  program
    .command('release')
    .argument('[nodes...]', 'node ids held by fail-static')
    .option('--all', 'every held sidecar')
    .description('let the control plane configure sidecars it holds (fail-static after a lost state dir)')
    .action(async (nodes: string[], o: { all?: boolean }, cmd: Command) => {
      const { api } = context(cmd);
      if (!o.all && nodes.length === 0) throw new CliError('usage: nanoseg release NODE... or --all', 2);
      const r = await api.call<{ released: string[] }>('POST', '/v1/release', { nodes: o.all ? 'all' : nodes });
      process.stdout.write(r.released.length ? `released ${r.released.join(', ')}\n` : 'nothing held\n');
    });
}

/** --since DUR → ms since epoch (0 when absent). */
function sinceFlag(v: string | undefined): number {
  if (!v) return 0;
  const d = parseDuration(v);
  if (!d.ok) throw new CliError(`--since: ${d.error}`, 2);
  return Date.now() - d.ms;
}

function summarize(before: unknown, after: unknown): string {
  const b = before as PolicyDocument | null;
  const a = after as PolicyDocument | null;
  if (!a || !b) return '';
  const bi = new Set(b.ingress.map((r) => JSON.stringify([r.peer, r.protocol, r.port])));
  const ai = new Set(a.ingress.map((r) => JSON.stringify([r.peer, r.protocol, r.port])));
  const be = new Set(b.egress.map((r) => JSON.stringify([r.peer, r.protocol, r.port])));
  const ae = new Set(a.egress.map((r) => JSON.stringify([r.peer, r.protocol, r.port])));
  const n = (x: Set<string>, y: Set<string>) => [...x].filter((k) => !y.has(k)).length;
  return `ingress +${n(ai, bi)} -${n(bi, ai)}, egress +${n(ae, be)} -${n(be, ae)}`;
}

function ver(v: string | undefined): string {
  return v ? v.slice(0, 8) : '-';
}
