// What `nanoseg serve` configures in the control plane (controlplane.ts), with its defaults.
import type { InventorySource } from '../inventory/source.js';
import { DEFAULT_CONVERGENCE, type ConvergenceConfig } from '../learn/index.js';
import type { Logger } from '../util/logger.js';
import type { Scheduler } from '../util/scheduler.js';
import type { KubernetesOptions } from './kubernetes.js';
import type { KernelHosting } from './core.js';

export interface ControlPlaneOptions {
  readonly stateDir: string;
  readonly apiSocket: string;
  /** gRPC (ADS + ALS) TCP address, plaintext; undefined = off */
  readonly xdsAddress?: string;
  /** gRPC (ADS + ALS) unix socket, group 1337 so sidecars running as uid/gid 1337 reach it */
  readonly xdsSocket?: string;
  readonly metricsAddress?: string;
  readonly convergence: ConvergenceConfig;
  readonly logger: Logger;
  /** how often evidence counts are written to the store (new edges are written at once) */
  readonly flushIntervalMs: number;
  /** how often convergence is re-evaluated */
  readonly tickMs: number;
  readonly debounceMs: number;
  readonly maxPushDelayMs: number;
  /** converged → monitor → (after a soak with zero would-deny) enforce, without a person */
  readonly autoPromote: boolean;
  readonly soakPeriodMs: number;
  /** HTTP endpoint that receives every alert as a JSON POST */
  readonly alertWebhook?: string;
  /** inventory sources besides the API's pushes (e.g. `--inventory FILE`) */
  readonly inventorySources?: readonly InventorySource[];
  readonly scheduler?: Scheduler;
  /**
   * host the kernel enforcement point: in the lab's host namespace (`netns: nsg-lab`), or in this one for the pods
   * of a Kubernetes node (`node`)
   */
  readonly kernel?: KernelHosting;
  /** percent of requests every sidecar traces (default 100; 0 = no tracing) */
  readonly traceSamplingPercent?: number;
  /** the recent-traces store's budget in bytes (default 64 MiB) */
  readonly traceBufferBytes?: number;
  /** forward every accepted trace export to this OTLP/gRPC collector (HOST:PORT) */
  readonly otlpForward?: string;
  /**
   * export the control plane's own spans (ADS pushes, ingest batches, convergence transitions, API requests) over
   * OTLP/gRPC to this collector (HOST:PORT, `serve --otlp-endpoint`); undefined: not traced, the SDK never loaded
   */
  readonly otlpEndpoint?: string;
  /** tests: how often spans are exported (default 1 s) */
  readonly otlpExportDelayMs?: number;
  /** watch a cluster (inventory) and serve the sidecar injector webhook (`serve --kubernetes`) */
  readonly kubernetes?: Omit<KubernetesOptions, 'stateDir'>;
}

export const DEFAULT_CONTROL_PLANE_OPTIONS: Omit<ControlPlaneOptions, 'logger'> = {
  stateDir: '/var/lib/nanoseg',
  apiSocket: '/run/nanoseg/api.sock',
  xdsAddress: '127.0.0.1:15010',
  xdsSocket: '/run/nanoseg/xds.sock',
  metricsAddress: '127.0.0.1:15014',
  convergence: DEFAULT_CONVERGENCE,
  flushIntervalMs: 1000,
  tickMs: 1000,
  debounceMs: 100,
  maxPushDelayMs: 1000,
  autoPromote: false,
  soakPeriodMs: 10 * 60_000,
};
