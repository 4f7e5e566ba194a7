// One ADS stream's state as the ADS server (ads.ts) keeps it: who it is, its per-type decisions state, its parked
// watches and its totals. Types only.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { DeltaState, SotwState } from './decide.js';
import type { NodeInfo, StreamKind, StreamTotals } from './ads-types.js';
import type { TrackedStream } from './push-trace.js';
import type { TypeUrl } from './types.js';
import type { AuthorizeCall } from '../auth/decide.js';

export type TypeState = SotwState | DeltaState;
export type Call = ServerDuplexStream<unknown, Buffer>;

export interface Conn<K extends StreamKind, S extends TypeState> extends TrackedStream {
  readonly id: number;
  readonly kind: K;
  readonly call: Call;
  readonly connectedAt: number;
  node?: NodeInfo;
  nonce: number;
  closed: boolean;
  readonly states: Map<TypeUrl, S>;
  /** the parked watch per type: the version it waits to move past, and its canceller */
  readonly watches: Map<TypeUrl, { readonly version: string; readonly cancel: () => void }>;
  readonly warned: Set<string>;
  readonly totals: StreamTotals;
  lastBytes: number;
  /** the listener's check of the node id a stream speaks as (the authenticated one's); none on the lab's socket */
  readonly authorize: AuthorizeCall | undefined;
}

export type SotwConn = Conn<'sotw', SotwState>;
export type DeltaConn = Conn<'delta', DeltaState>;
export type AnyConn = SotwConn | DeltaConn;
