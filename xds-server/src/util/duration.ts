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

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? `${h}h` : '') + (m ? `${m}m` : '') + (r || (!h && !m) ? `${r}s` : '');
}
