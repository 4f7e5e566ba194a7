// What every command needs from the global flags: the API client and the output format.
import type { Command } from 'commander';
import { ApiClient, apiSocket } from './client.js';
import { parseOutput } from './output.js';

export function context(cmd: Command): { api: ApiClient; output: ReturnType<typeof parseOutput> } {
  const o = cmd.optsWithGlobals() as { apiSocket?: string; output?: string };
  return { api: new ApiClient(apiSocket(o.apiSocket)), output: parseOutput(o.output) };
}
