// The kernel's seam for the kernel enforcement point: `nft -f` in a network namespace, and the NFLOG reader binary.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../util/envoy.js';

export interface NftResult {
  readonly code: number;
  readonly stderr: string;
}

/** The argv that runs `cmd` inside `netns` (the current namespace when undefined). */
export function inNetns(netns: string | undefined, cmd: readonly string[]): string[] {
  return netns === undefined ? [...cmd] : ['ip', 'netns', 'exec', netns, ...cmd];
}

/** Applies ruleset text in one `nft -f -` transaction: all of it, or (on any error) nothing. */
export function nftApply(netns: string | undefined, text: string, timeoutMs = 10_000): Promise<NftResult> {
  return new Promise((resolve) => {
    const argv = inNetns(netns, ['nft', '-f', '-']);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], timeout: timeoutMs });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => resolve({ code: 127, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
    child.stdin.end(text);
  });
}

export const READER_SOURCE = join(projectRoot(), 'ebpf-redirect', 'nflog', 'nflog-reader.c');
export const READER_BINARY = join(projectRoot(), 'ebpf-redirect', 'bin', 'nflog-reader');

/**
 * The NFLOG reader, compiled with the system's C compiler when missing or older than its source (scripts/setup.sh
 * builds it; this covers a fresh clone). Returns the binary's path or throws with the compiler's message.
 */
export async function ensureReader(): Promise<string> {
  const fresh =
    existsSync(READER_BINARY) &&
    (!existsSync(READER_SOURCE) || statSync(READER_BINARY).mtimeMs >= statSync(READER_SOURCE).mtimeMs);
  if (fresh) return READER_BINARY;
  const r = await new Promise<NftResult>((resolve) => {
    const child = spawn(
      'sh',
      ['-c', 'mkdir -p "$(dirname "$2")" && cc -O2 -Wall -o "$2" "$1"', 'sh', READER_SOURCE, READER_BINARY],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => resolve({ code: 127, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
  if (r.code !== 0) throw new Error(`cannot build the NFLOG reader ${READER_BINARY}: ${r.stderr.trim()}`);
  return READER_BINARY;
}
