// Shared by the alert sinks: none of them throws at its caller; failures are counted (stats()) and logged at most
// once a minute per kind.
export const LOG_EVERY_MS = 60_000;

export function errCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown';
}
