// Time, injected: every timer-driven component takes a Scheduler, so tests run them on a fake clock
// (test/support/fake-scheduler.ts) and the in-memory harness runs the whole control plane on one.

export interface Scheduler {
  now(): number;
  /** Runs `fn` after `ms`; returns a handle for `cancel`. */
  schedule(fn: () => void, ms: number): unknown;
  cancel(handle: unknown): void;
}

/** Real time, with timers that do not keep the process alive. */
export const REAL_SCHEDULER: Scheduler = {
  now: () => Date.now(),
  schedule: (fn, ms) => setTimeout(fn, ms).unref(),
  cancel: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Runs `fn` every `ms` on the scheduler until the returned function is called (idempotent). */
export function every(sched: Scheduler, ms: number, fn: () => void): () => void {
  let handle: unknown;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    handle = sched.schedule(() => {
      if (stopped) return;
      fn();
      tick();
    }, ms);
  };
  tick();
  return () => {
    stopped = true;
    sched.cancel(handle);
  };
}
