// The injected logger interface. The binary passes pino; unit tests pass SILENT.
/** pino-compatible subset; inject `SILENT` in tests. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Logs a given kind of problem once per `everyMs` (default: once ever), counting the rest: the next line of that
 * kind says how many were left out since the previous one (`suppressed`).
 */
export class OncePerKind {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly log: Logger,
    private readonly everyMs = Number.POSITIVE_INFINITY,
  ) {}
  warn(kind: string, detail: object, msg: string, now = Date.now()): void {
    const seen = this.last.get(kind);
    if (seen !== undefined && now - seen.at < this.everyMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.last.set(kind, { at: now, suppressed: 0 });
    this.log.warn({ kind, ...detail, ...(suppressed > 0 && { suppressed }) }, msg);
  }

  /** How many of a kind were left out since it was last logged. */
  suppressed(kind: string): number {
    return this.last.get(kind)?.suppressed ?? 0;
  }
}
