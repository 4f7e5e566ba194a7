// `nanoseg` command line. Thin: parses flags, calls the API (or the lab adapter), prints.
import { Command, CommanderError, Option } from 'commander';
import { ApiClient, CliError, apiSocket } from './client.js';
import { parseOutput } from './output.js';
import { registerServe } from './serve.js';
import { registerLab } from './lab.js';
import { registerQueries } from './queries.js';

export function buildProgram(): Command {
  const program = new Command('nanoseg')
    .description('Automated network nano-segmentation: learn each service\'s connections from Envoy, know when the set is complete, enforce it.')
    .addOption(new Option('--api-socket <path>', 'control plane API socket (env NANOSEG_API)').default(undefined, '/run/nanoseg/api.sock'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerServe(program);
  registerLab(program);
  registerQueries(program);
  return program;
}

/** Everything a command needs from the global flags. */
export function context(cmd: Command): { api: ApiClient; output: ReturnType<typeof parseOutput> } {
  const o = cmd.optsWithGlobals() as { apiSocket?: string; output?: string };
  return { api: new ApiClient(apiSocket(o.apiSocket)), output: parseOutput(o.output) };
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed the message (or help/version, exitCode 0)
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof CliError) {
      process.stderr.write(`nanoseg: ${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    // one line for people; the stack only when asked for
    const err = e as Error;
    process.stderr.write(`nanoseg: ${process.env.NANOSEG_DEBUG ? err.stack : (err.message ?? String(e)).split('\n').join(' ')}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
