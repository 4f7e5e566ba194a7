// Output for people (tables) and machines (-o json|yaml).
import { stringify } from 'yaml';
import { CliError } from './client.js';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function parseOutput(v: string | undefined): OutputFormat {
  if (v === undefined || v === 'table' || v === 'wide') return 'table';
  if (v === 'json' || v === 'yaml') return v;
  throw new CliError(`--output/-o: unknown format "${v}" (use json, yaml or table)`, 2);
}

export function printData(format: 'json' | 'yaml', data: unknown): void {
  process.stdout.write(format === 'json' ? JSON.stringify(data, null, 2) + '\n' : stringify(data));
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n'
  );
}

export function ago(ms: number | undefined, now = Date.now()): string {
  if (ms === undefined) return '-';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}
