// What the lab benchmarks read and write about services and policies: /v1/services (waiting for convergence), the
// learned rules `policy show` prints, and policy files to `policy apply -f`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DocumentRule, PolicyDocument } from '../../xds-server/src/policy/index.js';
import { sleep, type BenchLab } from './lab.js';

/** What /v1/services says of a service (the fields the benchmarks look at). */
export interface ServiceSummary {
  readonly name: string;
  readonly state: string;
  readonly mode?: string;
  readonly egress: number;
  readonly ingress: number;
}

/** A rule as a policy file writes it. */
export type PolicyFileRule = Pick<DocumentRule, 'peer' | 'protocol' | 'port'> & {
  paths?: { method: string; path: string }[];
};

export function services(lab: BenchLab): Promise<ServiceSummary[]> {
  return lab.api.call<ServiceSummary[]>('GET', '/v1/services');
}

/**
 * Waits until every one of `names` is converged and `ready` accepts its view (e.g. it has learned some egress);
 * throws with the views after `timeoutMs`.
 */
export async function converged(
  lab: BenchLab,
  names: readonly string[],
  timeoutMs = 60_000,
  ready: (s: ServiceSummary) => boolean = () => true,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const all = await services(lab);
    const mine = names.map((n) => all.find((x) => x.name === n));
    if (mine.every((s) => s !== undefined && s.state === 'converged' && ready(s))) return;
    if (Date.now() > end) throw new Error(`services did not converge: ${JSON.stringify(mine)}`);
    await sleep(250);
  }
}

/**
 * The service's learned ingress rules as a policy file has them (`policy show`), paths included: re-applying them is
 * no change (dropping learned paths would be one that changes no Envoy config while L7 is off, and nothing would be
 * ACKed).
 */
export function learnedIngress(lab: BenchLab, service: string): PolicyFileRule[] {
  const shown = JSON.parse(lab.cli(['policy', 'show', service, '-o', 'json']).stdout) as PolicyDocument;
  return shown.ingress.map((r) => ({
    peer: r.peer,
    protocol: r.protocol,
    port: r.port,
    ...(r.paths && { paths: r.paths.map((x) => ({ method: x.method, path: x.path })) }),
  }));
}

/** Writes a policy file for `service` (mode enforce; `l7` only when given) into the lab's temp dir; returns its path. */
export function policyFile(
  lab: BenchLab,
  file: string,
  service: string,
  ingress: readonly unknown[],
  egress: readonly unknown[] = [],
  l7?: boolean,
): string {
  const path = join(lab.dir, file);
  const doc = {
    apiVersion: 'nanoseg.io/v1alpha1',
    kind: 'Policy',
    service,
    mode: 'enforce',
    ...(l7 !== undefined && { l7 }),
    ingress,
    egress,
  };
  writeFileSync(path, JSON.stringify(doc));
  return path;
}
