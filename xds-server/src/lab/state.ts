// The lab's record of what exists: `<labDir>/state.json`, written atomically after every step, and per-member folders.
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { STATE_VERSION, type LabState } from './plan.js';

const STATE_FILE = 'state.json';

export function stateFile(labDir: string): string {
  return join(labDir, STATE_FILE);
}

export function memberDir(labDir: string, name: string): string {
  return join(labDir, 'pods', name);
}

/** Reads `<labDir>/state.json`; undefined when there is none. */
export async function readLabState(labDir: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(labDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const state = JSON.parse(text) as LabState;
  if (state.version !== STATE_VERSION)
    throw new Error(`${stateFile(labDir)}: unsupported state version ${String(state.version)}`);
  return state;
}

/** Atomic: write a temporary file, fsync, rename. Returns the state as written (with `updatedAt` stamped). */
export async function writeLabState(labDir: string, state: LabState): Promise<LabState> {
  const stamped: LabState = { ...state, updatedAt: new Date().toISOString() };
  const tmp = `${stateFile(labDir)}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify(stamped, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, stateFile(labDir));
  return stamped;
}
