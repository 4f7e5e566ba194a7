// The `nanoseg` command tree. Importing this builds nothing and runs nothing; main.ts runs it.
import { Command, Option } from 'commander';
import { registerServe } from './serve.js';
import { registerLab } from './lab.js';
import { registerQueries } from './queries.js';
import { registerTraces } from './traces.js';
import { registerNodeAgent } from './node-agent.js';

export function buildProgram(): Command {
  const program = new Command('nanoseg')
    .description(
      "Automated network nano-segmentation: learn each service's connections from Envoy, know when the set is complete, enforce it.",
    )
    .addOption(
      new Option('--api-socket <path>', 'control plane API socket (env NANOSEG_API)').default(
        undefined,
        '/run/nanoseg/api.sock',
      ),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerServe(program);
  registerLab(program);
  registerQueries(program);
  registerTraces(program);
  registerNodeAgent(program);
  return program;
}
