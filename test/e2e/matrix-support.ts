// The matrix of test/e2e/matrix.test.ts (servers, sources, the calls between them) and the comparison of a monitor
// round with an enforce round.
import type { Alert } from '../../xds-server/src/model/index.js';

export type Proto = 'tcp' | 'http' | 'udp' | 'icmp';

export interface Call {
  readonly id: string;
  readonly from: string;
  readonly host: string;
  readonly port: number;
  readonly proto: Proto;
  /** the alert key this call must produce if it is (would be) denied */
  readonly key: string;
}

/** how alerts are aggregated and compared: source service (or ip), destination service (or ip), port */
export function key(src: string, dst: string, port: number): string {
  return `${src} → ${dst}:${port}`;
}

export interface Outcome {
  readonly ok: boolean;
  readonly detail: string;
}

export interface Round {
  readonly outcomes: ReadonlyMap<string, Outcome>;
  /** alert key → the alerts of the round's verdict with that key */
  readonly alerts: ReadonlyMap<string, Alert[]>;
  /** the round's alerts of the other verdict */
  readonly others: readonly Alert[];
}

export interface Server {
  /** the service, or undefined for an external */
  readonly service?: string;
  /** how a client names it: the service's VIP name (for declared ports) or the external's name */
  readonly name?: string;
  readonly address: string;
  readonly address6: string;
  readonly port: number;
  /** what the server speaks: HTTP, a TCP line echo, a UDP echo, or ICMP echo (port 0: the host itself) */
  readonly proto: Proto;
  /** the port is declared by the service (so its VIP has it) */
  readonly declared: boolean;
}
export const SERVERS: readonly Server[] = [
  {
    service: 'shop/web',
    name: 'web.shop',
    address: '10.213.0.11',
    address6: 'fd6e:7367::11',
    port: 8080,
    proto: 'http',
    declared: true,
  },
  { service: 'shop/web', address: '10.213.0.11', address6: 'fd6e:7367::11', port: 7070, proto: 'tcp', declared: false },
  {
    service: 'shop/api',
    name: 'api.shop',
    address: '10.213.0.21',
    address6: 'fd6e:7367::21',
    port: 9090,
    proto: 'http',
    declared: true,
  },
  {
    service: 'shop/api',
    name: 'api.shop',
    address: '10.213.0.21',
    address6: 'fd6e:7367::21',
    port: 9091,
    proto: 'http',
    declared: true,
  },
  {
    service: 'shop/api',
    name: 'api.shop',
    address: '10.213.0.21',
    address6: 'fd6e:7367::21',
    port: 9092,
    proto: 'tcp',
    declared: true,
  },
  {
    service: 'data/db',
    name: 'db.data',
    address: '10.213.0.31',
    address6: 'fd6e:7367::31',
    port: 5432,
    proto: 'tcp',
    declared: true,
  },
  { service: 'data/db', address: '10.213.0.31', address6: 'fd6e:7367::31', port: 8081, proto: 'http', declared: false },
  { name: 'payments', address: '203.0.113.10', address6: '2001:db8::10', port: 443, proto: 'http', declared: true },
  { name: 'payments', address: '203.0.113.10', address6: '2001:db8::10', port: 444, proto: 'http', declared: true },
  { name: 'payments', address: '203.0.113.10', address6: '2001:db8::10', port: 2000, proto: 'tcp', declared: true },
  { name: 'payments', address: '203.0.113.10', address6: '2001:db8::10', port: 2001, proto: 'tcp', declared: true },
  { address: '203.0.113.20', address6: '2001:db8::20', port: 80, proto: 'http', declared: true },
  { address: '203.0.113.20', address6: '2001:db8::20', port: 2000, proto: 'tcp', declared: true },
  // UDP and ICMP: by address (VIPs are the sidecars' and carry TCP only); learned: api → db udp/6000,
  // api → payments udp/5353 and icmp (over IPv4)
  { service: 'data/db', address: '10.213.0.31', address6: 'fd6e:7367::31', port: 6000, proto: 'udp', declared: false },
  { service: 'data/db', address: '10.213.0.31', address6: 'fd6e:7367::31', port: 6001, proto: 'udp', declared: false },
  { address: '203.0.113.10', address6: '2001:db8::10', port: 5353, proto: 'udp', declared: false },
  { address: '203.0.113.10', address6: '2001:db8::10', port: 5354, proto: 'udp', declared: false },
  { address: '203.0.113.20', address6: '2001:db8::20', port: 5353, proto: 'udp', declared: false },
  ...[
    ['shop/loadgen', '10.213.0.5', 'fd6e:7367::5'],
    ['shop/web', '10.213.0.11', 'fd6e:7367::11'],
    ['shop/api', '10.213.0.21', 'fd6e:7367::21'],
    ['data/db', '10.213.0.31', 'fd6e:7367::31'],
  ].map(([service, address, address6]) => ({
    service,
    address: address!,
    address6: address6!,
    port: 0,
    proto: 'icmp' as const,
    declared: false,
  })),
  { address: '203.0.113.10', address6: '2001:db8::10', port: 0, proto: 'icmp', declared: false },
  { address: '203.0.113.20', address6: '2001:db8::20', port: 0, proto: 'icmp', declared: false },
];
/** pod or external name → its service (or its address, for an external: that is how alerts name it) */
export const SOURCES: Readonly<Record<string, { service?: string; address: string; address6: string }>> = {
  loadgen: { service: 'shop/loadgen', address: '10.213.0.5', address6: 'fd6e:7367::5' },
  'web-1': { service: 'shop/web', address: '10.213.0.11', address6: 'fd6e:7367::11' },
  'api-1': { service: 'shop/api', address: '10.213.0.21', address6: 'fd6e:7367::21' },
  'db-1': { service: 'data/db', address: '10.213.0.31', address6: 'fd6e:7367::31' },
  payments: { address: '203.0.113.10', address6: '2001:db8::10' },
  stranger: { address: '203.0.113.20', address6: '2001:db8::20' },
};

/** The matrix: every source × every destination it can reach at all, with the server's protocol. */
export function matrix(): Call[] {
  const calls: Call[] = [];
  for (const [from, src] of Object.entries(SOURCES)) {
    for (const s of SERVERS) {
      if (s.service !== undefined && s.service === src.service) continue; // not to itself
      if (s.service === undefined && src.service === undefined) continue; // externals have no sidecar to test
      const targets: string[] = [];
      if (s.service === undefined) targets.push(s.name ?? s.address);
      else {
        // externals have no sidecar, so no VIP: they reach pods by address only
        if (s.declared && s.name && src.service !== undefined) targets.push(s.name);
        targets.push(s.address);
      }
      for (const host of targets) {
        calls.push({
          id: `${from} → ${host}:${s.port} ${s.proto}`,
          from,
          host,
          port: s.port,
          proto: s.proto,
          key: key(src.service ?? src.address, s.service ?? s.address, s.port),
        });
      }
      // the IPv6 row: the same server by its IPv6 address, from the source's IPv6 address
      calls.push({
        id: `${from} → [${s.address6}]:${s.port} ${s.proto}`,
        from,
        host: s.address6,
        port: s.port,
        proto: s.proto,
        key: key(src.service ?? src.address6, s.service ?? s.address6, s.port),
      });
    }
  }
  return calls;
}

/** Every disagreement between the rounds, grouped and one readable line per key (empty = they agree). */
export function compare(calls: readonly Call[], monitor: Round, enforce: Round): string[] {
  const blocked = new Map<string, Call[]>();
  const allowed = new Map<string, Call[]>();
  for (const c of calls) {
    const m = enforce.outcomes.get(c.id)?.ok ? allowed : blocked;
    m.set(c.key, [...(m.get(c.key) ?? []), c]);
  }
  const width = Math.max(
    ...[...monitor.alerts.keys(), ...enforce.alerts.keys(), ...calls.map((c) => c.key)].map((k) => k.length),
  );
  const callsOf = (k: string) =>
    [...(blocked.get(k) ?? []), ...(allowed.get(k) ?? [])]
      .map(
        (c) =>
          `${c.id} (${enforce.outcomes.get(c.id)?.ok ? 'allowed' : 'blocked'}: ${enforce.outcomes.get(c.id)?.detail ?? '?'})`,
      )
      .join('; ') || 'no matrix call';
  const alertsOf = (as: readonly Alert[]) =>
    [...new Set(as.map((a) => `${a.side ?? '?'} by ${a.reporter ?? '?'}: ${a.reason}`))].join(' | ');
  const sections: [string, string[]][] = [
    ['would-deny in monitor, no denied alert in enforce', []],
    ['denied in enforce, no would-deny in monitor', []],
    ['blocked by enforce, not reported in monitor', []],
    ['blocked by enforce without a denied alert', []],
    ['allowed by enforce, yet reported in monitor', []],
    ['blocked and allowed calls under one key', []],
  ];
  const add = (i: number, k: string, what: string) => sections[i]![1].push(`  ${k.padEnd(width)}  ${what}`);
  const keys = [...new Set([...monitor.alerts.keys(), ...enforce.alerts.keys(), ...blocked.keys()])].sort();
  for (const k of keys) {
    const w = monitor.alerts.get(k);
    const d = enforce.alerts.get(k);
    if (w && !d) add(0, k, `${alertsOf(w)} — ${callsOf(k)}`);
    if (d && !w) add(1, k, `${alertsOf(d)} — ${callsOf(k)}`);
    if (blocked.has(k) && !w) add(2, k, callsOf(k));
    if (blocked.has(k) && !d) add(3, k, callsOf(k));
    if (allowed.has(k) && w) add(4, k, `${alertsOf(w)} — ${callsOf(k)}`);
    if (allowed.has(k) && blocked.has(k)) add(5, k, callsOf(k));
  }
  return sections.flatMap(([title, lines]) => (lines.length ? [`${title}:`, ...lines] : []));
}
