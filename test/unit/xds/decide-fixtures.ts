// Snapshots and states shared by the decide.ts table tests (decide-sotw.test.ts, decide-delta.test.ts).
import { CDS, EDS, makeSnapshot } from '../../../xds-server/src/xds/index.js';
import type { TypeUrl } from '../../../xds-server/src/xds/index.js';
import { cluster, endpoints } from './fixtures.js';

export const NOW = 1_000;
export const v1 = makeSnapshot([
  cluster('a', { eds: true }),
  cluster('b', { eds: true }),
  endpoints('a'),
  endpoints('b'),
]);
export const v2 = makeSnapshot([
  cluster('a', { eds: true, tag: 1 }),
  cluster('b', { eds: true }),
  endpoints('a'),
  endpoints('b', 1),
]);
export const V1 = { cds: v1.types[CDS].version, eds: v1.types[EDS].version };
export const V2 = { cds: v2.types[CDS].version, eds: v2.types[EDS].version };
export const hashOf = (s: typeof v1, t: TypeUrl, n: string): string => s.types[t].resources.get(n)!.hash;
