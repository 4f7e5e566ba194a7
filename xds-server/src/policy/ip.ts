// IP addresses and CIDR prefixes as bytes: parsing, canonical text, containment. Pure, no I/O.
// Policy files, the compiler and the RBAC generator all compare addresses in the canonical text produced here
// (IPv4 dotted quad; IPv6 lower-case, longest zero run compressed, as RFC 5952 recommends), so `2001:DB8:0::1/128`
// and `2001:db8::1/128` are the same rule.

export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

export interface Cidr extends IpAddress {
  readonly prefix: number;
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const total = head.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const all = [...head, ...new Array<number>(8 - total).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address (no prefix, no brackets, no zone). */
export function parseIp(s: string): IpAddress | undefined {
  if (s.includes(':')) {
    const b = parseV6(s);
    return b && { family: 6, bytes: b };
  }
  const b = parseV4(s);
  return b && { family: 4, bytes: b };
}

export function formatIp(a: IpAddress): string {
  const b = a.bytes;
  if (a.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  // longest run of at least two zero groups, first one on ties
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Canonical text of an address, or undefined when it is not one. */
export function canonicalIp(s: string): string | undefined {
  const a = parseIp(s);
  return a && formatIp(a);
}

/** Parses `ADDRESS/PREFIX`; the error explains what is wrong (host bits set, prefix out of range, ...). */
export function parseCidr(s: string): { readonly cidr: Cidr } | { readonly error: string } {
  const slash = s.indexOf('/');
  if (slash < 0) {
    const a = parseIp(s);
    if (a) return { error: `"${s}" is not a CIDR (write ${formatIp(a)}/${a.family === 4 ? 32 : 128})` };
    return { error: `"${s}" is not a CIDR (ADDRESS/PREFIX)` };
  }
  const a = parseIp(s.slice(0, slash));
  if (!a) return { error: `"${s}" is not a CIDR: "${s.slice(0, slash)}" is not an IPv4 or IPv6 address` };
  const max = a.family === 4 ? 32 : 128;
  const p = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) {
    return { error: `"${s}" is not a CIDR: prefix length must be 0-${max}` };
  }
  const prefix = Number(p);
  const masked = mask(a.bytes, prefix);
  if (!equalBytes(masked, a.bytes)) {
    return {
      error: `"${s}" has host bits set (did you mean ${formatIp({ family: a.family, bytes: masked })}/${prefix}?)`,
    };
  }
  return { cidr: { family: a.family, bytes: a.bytes, prefix } };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c)}/${c.prefix}`;
}

/** Canonical text of a CIDR, or undefined when it is not a valid one (host bits must be zero). */
export function canonicalCidr(s: string): string | undefined {
  const r = parseCidr(s);
  return 'cidr' in r ? formatCidr(r.cidr) : undefined;
}

/** The host prefix of an address: `/32` for IPv4, `/128` for IPv6, in canonical text. */
export function hostPrefix(ip: string): string | undefined {
  const a = parseIp(ip);
  return a && `${formatIp(a)}/${a.family === 4 ? 32 : 128}`;
}

export function cidrContains(c: Cidr, a: IpAddress): boolean {
  return c.family === a.family && equalBytes(mask(a.bytes, c.prefix), c.bytes);
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = bytes[i]! & (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
