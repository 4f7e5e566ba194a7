// Work in slices: jobs run in order, at most `budgetMs` at a time, yielding to the event loop between slices
// (setImmediate), so a push to thousands of streams never holds the loop while access logs, ACKs and timers wait.

export class SliceQueue {
  private readonly jobs: (() => void)[] = [];
  private head = 0;
  private scheduled = false;

  constructor(
    private readonly budgetMs = 5,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  get length(): number {
    return this.jobs.length - this.head;
  }

  push(job: () => void): void {
    this.jobs.push(job);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Drops what has not run yet. */
  clear(): void {
    this.jobs.length = 0;
    this.head = 0;
  }

  private drain(): void {
    this.scheduled = false;
    const end = performance.now() + this.budgetMs;
    while (this.head < this.jobs.length) {
      const job = this.jobs[this.head]!;
      this.jobs[this.head++] = NOOP;
      try {
        job();
      } catch (err) {
        this.onError(err);
      }
      if (performance.now() >= end) break;
    }
    if (this.head === this.jobs.length) {
      this.jobs.length = 0;
      this.head = 0;
    } else {
      if (this.head > 4096) {
        this.jobs.splice(0, this.head);
        this.head = 0;
      }
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}

const NOOP = (): void => undefined;
