// Validation of inventory documents received over the API (from `nanoseg lab up`, or any other source).
import type { Inventory, NamedExternal, ServiceVip, Workload } from '../model/index.js';
import { SERVICE_NAME_RE } from '../model/index.js';
import type { ValidationResult, ValidationError } from '../model/validation.js';
import { isIP } from 'node:net';

export function validateInventory(v: unknown): ValidationResult<Inventory> {
  const errors: ValidationError[] = [];
  const err = (path: string, message: string) => errors.push({ path, message });
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return { valid: false, errors: [{ path: '', message: 'expected an object' }] };
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['workloads', 'externals', 'vips'].includes(k)) err(k, 'unknown field');
  const list = (k: string): unknown[] => {
    const x = o[k] ?? [];
    if (!Array.isArray(x)) {
      err(k, 'expected a list');
      return [];
    }
    return x;
  };
  const obj = (p: string, x: unknown, allowed: string[]): Record<string, unknown> | undefined => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) {
      err(p, 'expected an object');
      return undefined;
    }
    for (const k of Object.keys(x)) if (!allowed.includes(k)) err(`${p}.${k}`, 'unknown field');
    return x as Record<string, unknown>;
  };
  const str = (p: string, x: unknown): string =>
    typeof x === 'string' && x !== '' ? x : (err(p, 'expected a non-empty string'), '');
  const ip = (p: string, x: unknown): string => {
    const s = str(p, x);
    if (s && isIP(s) === 0) err(p, `"${s}" is not an IP address`);
    return s;
  };
  const svc = (p: string, x: unknown): string => {
    const s = str(p, x);
    if (s && !SERVICE_NAME_RE.test(s)) err(p, `"${s}" is not namespace/name`);
    return s;
  };
  const workloads: Workload[] = [];
  list('workloads').forEach((x, i) => {
    const p = `workloads[${i}]`;
    const w = obj(p, x, ['name', 'service', 'addresses', 'ports']);
    if (!w) return;
    const addresses = Array.isArray(w.addresses)
      ? w.addresses.map((a, j) => ip(`${p}.addresses[${j}]`, a))
      : (err(`${p}.addresses`, 'expected a list'), []);
    const ports =
      w.ports === undefined
        ? []
        : Array.isArray(w.ports)
          ? w.ports.map((n, j) => {
              if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 65535)
                err(`${p}.ports[${j}]`, 'expected a port 1-65535');
              return n as number;
            })
          : (err(`${p}.ports`, 'expected a list'), []);
    workloads.push({ name: str(`${p}.name`, w.name), service: svc(`${p}.service`, w.service), addresses, ports });
  });
  const externals: NamedExternal[] = [];
  list('externals').forEach((x, i) => {
    const p = `externals[${i}]`;
    const e = obj(p, x, ['name', 'address']);
    if (e) externals.push({ name: str(`${p}.name`, e.name), address: ip(`${p}.address`, e.address) });
  });
  const vips: ServiceVip[] = [];
  list('vips').forEach((x, i) => {
    const p = `vips[${i}]`;
    const e = obj(p, x, ['service', 'address']);
    if (e) vips.push({ service: svc(`${p}.service`, e.service), address: ip(`${p}.address`, e.address) });
  });
  return errors.length ? { valid: false, errors } : { valid: true, result: { workloads, externals, vips } };
}
