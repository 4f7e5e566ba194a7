// The injected logger interface. The binary passes pino; unit tests pass SILENT.
/** pino-compatible subset; inject `SILENT` in tests. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Logs a given kind of problem once per `everyMs` (default: once ever), counting the rest. */
export class OncePerKind {
  private readonly last = new Map<string, number>();
  constructor(
    private readonly log: Logger,
    private readonly everyMs = Number.POSITIVE_INFINITY,
  ) {}
  warn(kind: string, detail: object, msg: string, now = Date.now()): void {
    const at = this.last.get(kind);
    if (at !== undefined && now - at < this.everyMs) return;
    this.last.set(kind, now);
    this.log.warn({ kind, ...detail }, msg);
  }
}
