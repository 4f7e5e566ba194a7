// The in-memory harness (pilot's fake discovery server idea): the real control-plane wiring (controlplane/core.ts:
// controllers, generator, discovery server, ingest, alerts, a real SQLite store in a temp folder) with in-process ADS
// and ALS streams instead of gRPC, and a fake clock. Control-plane behaviour tests run here: no ports, no real time.
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { StreamAccessLogsMessage } from '../../proto/gen/envoy/service/accesslog/v3/als.js';
import { DeltaDiscoveryResponse, DiscoveryResponse } from '../../proto/gen/envoy/service/discovery/v3/discovery.js';
import { CoreBackend } from '../../xds-server/src/api/backend.js';
import { MeshCore, type CoreOptions } from '../../xds-server/src/controlplane/core.js';
import type { DeepPartial } from '../../xds-server/src/generate/index.js';
import { DEFAULT_CONVERGENCE } from '../../xds-server/src/learn/index.js';
import { Store } from '../../xds-server/src/store/index.js';
import { SILENT } from '../../xds-server/src/util/logger.js';
import { DeltaAdsClient, SotwAdsClient, type AdsClientOptions, type TestNode } from './ads-client.js';
import { tempDir } from './cli.js';
import { FakeScheduler } from './fake-scheduler.js';

/** 2026-01-01T00:00:00Z: alerts and evidence carry real-looking times. */
export const HARNESS_EPOCH = 1_767_225_600_000;

type Handler = (call: unknown) => void;

/**
 * A pair of in-process stream ends: what the client writes arrives as the server's 'data' on a later turn; what the
 * server writes (encoded bytes) arrives decoded as the client's 'data'; a server error becomes the client's 'status'.
 */
function streamPair(decode: (b: Buffer) => unknown): { client: EventEmitter; server: EventEmitter } {
  const client = new EventEmitter() as EventEmitter & Record<string, unknown>;
  const server = new EventEmitter() as EventEmitter & Record<string, unknown>;
  let open = true;
  const finish = (code: number, details: string): void => {
    if (!open) return;
    open = false;
    setImmediate(() => client.emit('status', { code, details, metadata: {} }));
  };
  client.write = (req: unknown) => (open && setImmediate(() => open && server.emit('data', req)), true);
  client.end = () => open && setImmediate(() => server.emit('end'));
  client.cancel = () => {
    if (!open) return;
    setImmediate(() => server.emit('cancelled'));
    finish(1, 'cancelled');
  };
  server.write = (b: Buffer) => (open && setImmediate(() => open && client.emit('data', decode(b))), true);
  server.end = () => finish(0, 'ok');
  const emit = server.emit.bind(server);
  server.emit = (event: string | symbol, ...args: unknown[]) => {
    if (event === 'error') {
      const e = args[0] as { code?: number; details?: string };
      finish(e.code ?? 2, e.details ?? 'error');
      return emit('close');
    }
    return emit(event, ...args);
  };
  return { client, server };
}

export interface HarnessOptions extends Partial<Omit<CoreOptions, 'scheduler' | 'logger'>> {
  /** reuse a state folder (a restart); default a new temp folder */
  readonly dir?: string;
  readonly logger?: CoreOptions['logger'];
  readonly clock?: FakeScheduler;
  /** convergence tick and evidence flush period (default 1 s) */
  readonly tickMs?: number;
}

export class Harness {
  readonly api: CoreBackend;
  private stopTimers: () => void;
  private closed = false;

  private constructor(
    readonly core: MeshCore,
    readonly clock: FakeScheduler,
    readonly dir: string,
    private readonly ownsDir: boolean,
    tickMs: number,
  ) {
    this.api = new CoreBackend(core, { startedAt: clock.now(), stateDir: dir }, () => clock.now());
    this.stopTimers = core.startTimers(tickMs, tickMs);
  }

  static async open(opts: HarnessOptions = {}): Promise<Harness> {
    const tmp = opts.dir ? undefined : tempDir('nanoseg-harness-');
    const dir = opts.dir ?? tmp!.dir;
    const clock = opts.clock ?? new FakeScheduler(HARNESS_EPOCH);
    const core = new MeshCore(Store.open(dir), {
      convergence: DEFAULT_CONVERGENCE,
      debounceMs: 100,
      maxPushDelayMs: 1000,
      autoPromote: false,
      soakPeriodMs: 10 * 60_000,
      ...opts,
      logger: opts.logger ?? SILENT,
      scheduler: clock,
    });
    core.restore();
    await core.start();
    return new Harness(core, clock, dir, !opts.dir, opts.tickMs ?? 1000);
  }

  /** An ADS client of node `node` on an in-process stream (SotW or delta), ACKing by default. */
  sotw(node: TestNode, opts: Omit<AdsClientOptions<DiscoveryResponse>, 'stream'> = {}): SotwAdsClient {
    const { client, server } = streamPair((b) => DiscoveryResponse.decode(b));
    (this.core.discovery.ads.handlers().streamAggregatedResources as Handler)(server);
    return new SotwAdsClient('', node, { ...opts, stream: client as unknown as ClientDuplexStream<unknown, unknown> });
  }

  delta(node: TestNode, opts: Omit<AdsClientOptions<DeltaDiscoveryResponse>, 'stream'> = {}): DeltaAdsClient {
    const { client, server } = streamPair((b) => DeltaDiscoveryResponse.decode(b));
    (this.core.discovery.ads.handlers().deltaAggregatedResources as Handler)(server);
    return new DeltaAdsClient('', node, { ...opts, stream: client as unknown as ClientDuplexStream<unknown, unknown> });
  }

  /** An access-log stream; `send` writes one message (as Envoy encodes it). */
  accessLogs(): {
    send(m: DeepPartial<StreamAccessLogsMessage>): void;
    sendRaw(b: Buffer): void;
    end(): void;
  } {
    const call = new EventEmitter() as EventEmitter & Record<string, unknown>;
    call.pause = () => undefined;
    call.resume = () => undefined;
    (this.core.envoyLogs.handlers().streamAccessLogs as (c: unknown, cb: () => void) => void)(call, () => undefined);
    return {
      send: (m) =>
        void call.emit(
          'data',
          Buffer.from(StreamAccessLogsMessage.encode(StreamAccessLogsMessage.fromPartial(m as never)).finish()),
        ),
      sendRaw: (b) => void call.emit('data', b),
      end: () => void call.emit('end'),
    };
  }

  /** Lets every queued turn run (in-process streams, ingest slices, pushed responses) without moving the clock. */
  async settle(turns = 20): Promise<void> {
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
  }

  /** Moves the fake clock (debounced pushes, ticks, flushes fire), then settles. */
  async advance(ms: number): Promise<void> {
    await this.clock.advanceAsync(ms);
    await this.settle();
  }

  /** Stops like `nanoseg serve` on SIGTERM (final flush); the state folder stays when it was given. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    await this.core.stop();
    this.core.store.close();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * A crash (`kill -9`): nothing is flushed or stopped gracefully — what the store has committed is what the next
   * process finds. The state folder is kept for `Harness.open({ dir })`.
   */
  crash(): void {
    this.closed = true;
    this.stopTimers();
    this.core.discovery.stop();
    this.core.store.close();
  }

  /** Removes the state folder of a crashed or closed harness that was opened on a given dir. */
  static remove(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
  }
}
