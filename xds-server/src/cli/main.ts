// `nanoseg` command line entry point: runs the program (cli/program.ts) on process.argv. Thin: parses flags, calls the
// API (or the lab adapter), prints. Only bin/nanoseg.js imports this file: importing it runs the CLI.
import { CommanderError } from 'commander';
import { CliError } from './client.js';
import { buildProgram } from './program.js';

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
    process.stderr.write(
      `nanoseg: ${process.env.NANOSEG_DEBUG ? err.stack : (err.message ?? String(e)).split('\n').join(' ')}\n`,
    );
    process.exitCode = 1;
  }
}

await main(process.argv);
