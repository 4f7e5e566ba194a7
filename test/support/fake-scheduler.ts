// A manual clock for tests of timer-driven code: `advance` runs due timers in time order; `advanceAsync` also
// yields to the event loop before each timer, for code whose timers start async work (the push debouncer).
import type { Scheduler } from '../../xds-server/src/util/scheduler.js';

export class FakeScheduler implements Scheduler {
  private t: number;
  private timers: { at: number; fn: () => void }[] = [];
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  schedule(fn: () => void, ms: number): unknown {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return timer;
  }
  cancel(h: unknown): void {
    this.timers = this.timers.filter((x) => x !== h);
  }
  get pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    while (this.fireNext(end));
    this.t = end;
  }

  /** advance(), letting promise callbacks and I/O run before each timer fires */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.t + ms;
    do await new Promise((r) => setImmediate(r));
    while (this.fireNext(end));
    this.t = end;
  }

  /** Fires the earliest timer due by `end`; false when there is none. */
  private fireNext(end: number): boolean {
    const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
    if (!next) return false;
    this.timers = this.timers.filter((x) => x !== next);
    this.t = next.at;
    next.fn();
    return true;
  }
}
