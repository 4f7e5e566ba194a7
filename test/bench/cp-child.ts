// The control plane under benchmark, in its own process (so its CPU, memory and event loop are measured alone).
// Started by child.ts; prints one JSON "ready" line on stdout, then answers JSON commands read from stdin, one per
// line, with one JSON line each: stats | reset | gc | stop.
//
//   node --import tsx test/bench/cp-child.ts '{"stateDir":"/tmp/x","xdsAddress":"127.0.0.1:18000"}'
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { ControlPlane, DEFAULT_CONTROL_PLANE_OPTIONS } from '../../xds-server/src/controlplane/controlplane.js';
import type { Logger } from '../../xds-server/src/util/logger.js';

interface ChildArgs {
  readonly stateDir: string;
  readonly xdsAddress: string;
  readonly debounceMs?: number;
  /** also sample the event loop every millisecond (costs a little CPU, so only benchmarks that want it ask) */
  readonly fineLoop?: boolean;
  /** export the control plane's own spans to this OTLP collector (`serve --otlp-endpoint`) */
  readonly otlpEndpoint?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;

/** Silent, but counts warnings and errors and keeps the first few: a benchmark that provokes them says so. */
const logged = { warn: 0, error: 0, samples: [] as string[] };
const note = (level: 'warn' | 'error') => (obj: object | string, msg?: string) => {
  logged[level]++;
  if (logged.samples.length < 5) logged.samples.push(`${level}: ${msg ?? ''} ${JSON.stringify(obj).slice(0, 300)}`);
};
const logger: Logger = { debug() {}, info() {}, warn: note('warn'), error: note('error') };

const cp = new ControlPlane({
  ...DEFAULT_CONTROL_PLANE_OPTIONS,
  stateDir: args.stateDir,
  apiSocket: join(args.stateDir, 'api.sock'),
  xdsAddress: args.xdsAddress,
  xdsSocket: undefined,
  metricsAddress: undefined,
  logger,
  ...(args.debounceMs !== undefined && { debounceMs: args.debounceMs }),
  ...(args.otlpEndpoint !== undefined && { otlpEndpoint: args.otlpEndpoint }),
});

// Event-loop delay, reset by the parent right before the phase it wants measured. Node records the time between
// timer callbacks, so every sample includes the resolution itself: an idle loop reads ~10.2 ms at the default
// 10 ms, and a stall of d ms reads about 10 + d. The 1 ms histogram reads stalls closer to their length, but its
// percentiles are over ten times as many samples, most of them idle, so its p99 is lower; both are reported.
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const fine = args.fineLoop ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
fine?.enable();

// Peak RSS, sampled every 100 ms: every 20 ms cost about 1 % of the CPU charged to the control plane. (VmHWM from
// /proc is reported too but cannot be reset without privileges.)
let peakRss = process.memoryUsage.rss();
setInterval(() => {
  const r = process.memoryUsage.rss();
  if (r > peakRss) peakRss = r;
}, 100).unref();

const gc = { count: 0, ms: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.ms += e.duration;
    if (e.duration > gc.maxMs) gc.maxMs = e.duration;
  }
}).observe({ entryTypes: ['gc'] });

function vmHwm(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function stats() {
  const mem = process.memoryUsage();
  if (mem.rss > peakRss) peakRss = mem.rss;
  const ms = (ns: number) => ns / 1e6;
  return {
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    peakRss,
    vmHwm: vmHwm(),
    eventLoop: {
      p50: ms(loop.percentile(50)),
      p99: ms(loop.percentile(99)),
      max: ms(loop.max),
      mean: ms(loop.mean),
      samples: loop.count,
    },
    ...(fine && {
      eventLoopFine: {
        p50: ms(fine.percentile(50)),
        p99: ms(fine.percentile(99)),
        max: ms(fine.max),
        mean: ms(fine.mean),
        samples: fine.count,
      },
    }),
    gc: { ...gc },
    cpu: process.cpuUsage(),
    logged: { ...logged, samples: [...logged.samples] },
  };
}

function reply(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

async function command(line: string): Promise<void> {
  let req: { id?: number; cmd?: string };
  try {
    req = JSON.parse(line) as typeof req;
  } catch {
    return reply({ error: `not JSON: ${line.slice(0, 80)}` });
  }
  const id = req.id;
  switch (req.cmd) {
    case 'stats':
      return reply({ id, ...stats() });
    case 'reset':
      loop.reset();
      fine?.reset();
      peakRss = process.memoryUsage.rss();
      gc.count = 0;
      gc.ms = 0;
      gc.maxMs = 0;
      return reply({ id, ok: true });
    case 'gc': {
      const g = (globalThis as { gc?: () => void }).gc;
      if (g) {
        g();
        g();
      }
      return reply({ id, ok: true, collected: Boolean(g) });
    }
    case 'stop':
      await cp.stop();
      reply({ id, ok: true });
      process.exit(0);
      return;
    default:
      return reply({ id, error: `unknown command ${String(req.cmd)}` });
  }
}

await cp.start();
reply({ ready: true, pid: process.pid, xdsAddress: args.xdsAddress, apiSocket: join(args.stateDir, 'api.sock') });
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => void command(l));
rl.on('close', () => void cp.stop().then(() => process.exit(0)));
