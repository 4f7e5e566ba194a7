// The mode annotation: `nanoseg.io/mode: learn|monitor|enforce` on a service's workload (Deployment, StatefulSet,
// DaemonSet, CronJob) sets the service's mode, and while it is there it wins over the CLI
// (controllers/policy.ts refuses a conflicting change, naming the annotation). Pure: workload objects in, the modes
// they pin out, with the values that are not a mode (to report).
import { MODES, SERVICE_NAME_RE, type Mode, type ServiceName } from '../../model/index.js';
import type { ObjectMeta } from './types.js';

export const MODE_ANNOTATION = 'nanoseg.io/mode';

export interface ModePin {
  readonly mode: Mode;
  /** what pins it, for messages and audit: `annotation nanoseg.io/mode=enforce on Deployment shop/web` */
  readonly by: string;
}

export interface AnnotatedWorkload {
  readonly kind: string;
  readonly metadata?: ObjectMeta;
}

export interface ModeAnnotations {
  readonly pins: ReadonlyMap<ServiceName, ModePin>;
  /** annotations whose value is not a mode: left alone (no pin), reported */
  readonly invalid: readonly { readonly service: ServiceName; readonly value: string; readonly on: string }[];
}

export function modeAnnotations(workloads: readonly AnnotatedWorkload[]): ModeAnnotations {
  const pins = new Map<ServiceName, ModePin>();
  const invalid: { service: ServiceName; value: string; on: string }[] = [];
  const sorted = [...workloads].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  for (const w of sorted) {
    const value = w.metadata?.annotations?.[MODE_ANNOTATION];
    if (value === undefined) continue;
    const service = `${w.metadata?.namespace ?? ''}/${w.metadata?.name ?? ''}`;
    if (!SERVICE_NAME_RE.test(service)) continue;
    const on = `${w.kind} ${service}`;
    const mode = value.trim();
    if (!MODES.includes(mode as Mode)) {
      invalid.push({ service, value, on });
      continue;
    }
    // two kinds of workload with one name in one namespace are one service: the first (by kind) wins
    if (!pins.has(service))
      pins.set(service, { mode: mode as Mode, by: `annotation ${MODE_ANNOTATION}=${mode} on ${on}` });
  }
  return { pins, invalid };
}

function key(w: AnnotatedWorkload): string {
  return `${w.metadata?.namespace ?? ''}/${w.metadata?.name ?? ''}/${w.kind}`;
}
