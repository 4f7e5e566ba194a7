// Pure: reading back what the kernel does, for the kernel benchmarks (they verify the rules in the kernel, not the
// API's answer): `nft list` text (sets and maps with their elements, chains with their rules, and the checks the
// benchmarks wait for — a service's mode in force, a replica's address in its peers' rules), and a namespace's
// packet counters (/proc/net/snmp's Udp line, /proc/net/stat/nf_conntrack).

export interface NftListing {
  /** set or map name → its elements, normalised (see normElement) */
  readonly sets: ReadonlyMap<string, readonly string[]>;
  /** chain name → its rules (base chain `type … hook …` lines left out) */
  readonly chains: ReadonlyMap<string, readonly string[]>;
}

/** One element as a comparable string: no quotes, no /32, single spaces (`"vh-a" . 10.0.0.1/32` → `vh-a . 10.0.0.1`). */
export function normElement(e: string): string {
  return e
    .replace(/"/g, '')
    .replace(/\/32\b/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function unquote(name: string): string {
  return name.replace(/^"(.*)"$/, '$1');
}

/** Splits at top-level commas (not inside `{}` or quotes). */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0,
    quoted = false,
    cur = '';
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '{') depth++;
    else if (!quoted && ch === '}') depth--;
    if (ch === ',' && depth === 0 && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map(normElement).filter((x) => x !== '');
}

/**
 * Parses the text of `nft list table|set|map|chain …` (one or several, concatenated). Tolerant of nft's own
 * layout (tabs, elements wrapped over lines) and of the generator's (`;` after declarations, trailing commas).
 */
export function parseNftListing(text: string): NftListing {
  const sets = new Map<string, string[]>();
  const chains = new Map<string, string[]>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const head = /^\s*(set|map|chain)\s+("[^"]+"|\S+)\s*\{\s*$/.exec(lines[i]!);
    if (!head) continue;
    const name = unquote(head[2]!);
    // the block's body: up to the line closing it
    const body: string[] = [];
    let depth = 1;
    for (i++; i < lines.length; i++) {
      const l = lines[i]!;
      for (const ch of l) depth += ch === '{' ? 1 : ch === '}' ? -1 : 0;
      if (depth <= 0) break;
      body.push(l);
    }
    if (head[1] === 'chain') {
      chains.set(
        name,
        body.map((l) => l.trim()).filter((l) => l !== '' && !/^type\s.*\shook\s/.test(l)),
      );
      continue;
    }
    const joined = body.join('\n');
    const at = joined.search(/elements\s*=\s*\{/);
    if (at < 0) {
      sets.set(name, []);
      continue;
    }
    const open = joined.indexOf('{', at);
    let d = 0,
      end = open;
    for (; end < joined.length; end++) {
      if (joined[end] === '{') d++;
      else if (joined[end] === '}' && --d === 0) break;
    }
    sets.set(name, splitTop(joined.slice(open + 1, end)));
  }
  return { sets, chains };
}

export type KernelMode = 'learn' | 'monitor' | 'enforce';

/** What a chain does with a flow no rule allowed: `drop` (enforce) or `return` (monitor); undefined if no such rule. */
export function chainFallThrough(rules: readonly string[]): 'drop' | 'return' | undefined {
  const last = [...rules].reverse().find((r) => /^log\b/.test(r));
  const m = last ? /\s(drop|return)$/.exec(last) : null;
  return m ? (m[1] as 'drop' | 'return') : undefined;
}

/**
 * Whether an `nft monitor rules` line adds the rule that makes `service`'s `side` chain fall through as `mode` says:
 * `log … prefix "nsg deny SIDE" … drop` (enforce) or `… "nsg wd SIDE" … return` (monitor).
 */
export function isVerdictRuleAdded(
  line: string,
  service: string,
  side: 'egress' | 'ingress',
  mode: KernelMode,
): boolean {
  if (mode === 'learn') return false;
  const [verdict, end] = mode === 'enforce' ? ['deny', 'drop'] : ['wd', 'return'];
  const head = `add rule inet nanoseg ${side}/${service} `;
  return (
    line.startsWith(head) && line.includes(`prefix "nsg ${verdict} ${side}"`) && line.trimEnd().endsWith(` ${end}`)
  );
}

/**
 * Whether the listing (the `egress` and `ingress` maps and the service's chains) enforces `mode` for `service` on
 * every one of `addresses`: learn — no chain and no address mapped; monitor/enforce — both chains falling through
 * to return/drop and each address jumping to them. Returns what is not in force yet, or undefined when all is.
 */
export function modeNotInForce(
  l: NftListing,
  service: string,
  addresses: readonly string[],
  mode: KernelMode,
): string | undefined {
  for (const side of ['egress', 'ingress'] as const) {
    const chain = `${side}/${service}`;
    const map = new Set(l.sets.get(side) ?? []);
    const rules = l.chains.get(chain);
    if (mode === 'learn') {
      if (rules) return `chain ${chain} still there`;
      const mapped = addresses.find((a) => [...map].some((e) => e.startsWith(`${a} :`)));
      if (mapped) return `${mapped} still mapped in ${side}`;
      continue;
    }
    if (!rules) return `no chain ${chain}`;
    const want = mode === 'enforce' ? 'drop' : 'return';
    if (chainFallThrough(rules) !== want) return `chain ${chain} does not ${want} yet`;
    const missing = addresses.find((a) => !map.has(`${a} : jump ${chain}`));
    if (missing) return `${missing} not mapped to ${chain}`;
  }
  return undefined;
}

/** Counters of one `/proc/net/snmp` protocol line pair (`Udp: InDatagrams NoPorts …` then the values). */
export function parseSnmp(text: string, proto: string): Record<string, number> {
  const rows = text.split('\n').filter((l) => l.startsWith(`${proto}:`));
  if (rows.length < 2) throw new Error(`no ${proto} counters in /proc/net/snmp`);
  const names = rows[0]!.split(/\s+/).slice(1);
  const values = rows[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? NaN]));
}

/** UDP datagrams that reached a namespace's UDP layer: delivered, dropped for a full buffer or bad, or to no port. */
export function udpArrived(c: Record<string, number>): number {
  return (c['InDatagrams'] ?? 0) + (c['InErrors'] ?? 0) + (c['NoPorts'] ?? 0);
}

/** `/proc/net/stat/nf_conntrack`: a header of field names, then one row of hex counters per CPU; summed per field. */
export function parseConntrackStat(text: string): Record<string, number> {
  const [head, ...rows] = text.trim().split('\n');
  const names = (head ?? '').trim().split(/\s+/);
  const sum: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const r of rows) {
    r.trim()
      .split(/\s+/)
      .forEach((v, i) => {
        const n = names[i];
        // `entries` is the table's size repeated on every row, not a per-CPU count
        if (n !== undefined) sum[n] = n === 'entries' ? parseInt(v, 16) : sum[n]! + parseInt(v, 16);
      });
  }
  return sum;
}

export interface Replica {
  /** the service whose egress must allow the replica */
  readonly client: string;
  /** the replica's service */
  readonly server: string;
  readonly address: string;
  /** the port the client's rule allows (tcp) */
  readonly port: number;
  /** its host-side interface */
  readonly iface: string;
}

/**
 * With `present`: what is missing for a new server replica to be in force in every affected pod's rules — the
 * client's egress set allows it, both maps send it to the server's chains, the bridge table binds it to its port.
 * Without: what is left of it. Undefined when nothing.
 */
export function replicaNotInForce(l: NftListing, r: Replica, present: boolean): string | undefined {
  const want: [string, string][] = [
    [`egress/${r.client}/ports`, normElement(`tcp . ${r.address} . ${r.port}`)],
    ['ingress', `${r.address} : jump ingress/${r.server}`],
    ['egress', `${r.address} : jump egress/${r.server}`],
    ['bound', normElement(`"${r.iface}" . ${r.address}`)],
  ];
  for (const [set, element] of want) {
    const has = (l.sets.get(set) ?? []).includes(element);
    if (has !== present) return `${set} ${present ? 'lacks' : 'still has'} ${element}`;
  }
  return undefined;
}
