// Human durations: "500ms", "20s", "10m", "1h30m". Returns milliseconds or an error message.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): { ok: true; ms: number } | { ok: false; error: string } {
  const t = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(t)) {
    return { ok: false, error: `"${text}" is not a duration (examples: 500ms, 20s, 10m, 1h30m)` };
  }
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return { ok: true, ms: Math.round(total) };
}

/** `3m12s`, `10m`, `45s`, `1h5m` (whole seconds, rounded down) */
export function formatDuration(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return (h > 0 ? `${h}h` : '') + (m > 0 ? `${m}m` : '') + (s > 0 || (h === 0 && m === 0) ? `${s}s` : '');
}
