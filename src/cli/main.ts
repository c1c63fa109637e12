import yargs from 'yargs';
import { EvalrunError, ExitCode, UsageError } from '../errors.js';
import { processIo, type Io } from './io.js';
import { runCommand } from './commands/run.js';
import { planCommand } from './commands/plan.js';
import { simulateCommand } from './commands/simulate.js';
import { reportCommand } from './commands/report.js';
import { versions } from '../util/version.js';

export interface CommandContext {
  io: Io;
  setExitCode: (code: ExitCode) => void;
}

/**
 * The CLI, as a function of argv that returns the exit code: the one place errors become exit codes and messages
 * (a stack trace only for a bug, or with --verbose).
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let exitCode: ExitCode = ExitCode.Ok;
  const ctx: CommandContext = { io, setExitCode: (code) => (exitCode = code) };
  const verbose = argv.includes('--verbose');
  try {
    await yargs(argv)
      .scriptName('evalrun')
      .usage('$0 <command> [options]\n\nBatch prompt evaluation over a grid of chat-completion settings.')
      .command(runCommand(ctx))
      .command(planCommand(ctx))
      .command(reportCommand(ctx))
      .command(simulateCommand(ctx))
      .option('verbose', { type: 'boolean', description: 'Show the underlying cause of errors' })
      .demandCommand(1, 'Name a command: run, plan, report or simulate.')
      .strict()
      .version(versions.evalrun)
      .help()
      .alias('h', 'help')
      .wrap(Math.min(110, process.stdout.columns || 100))
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new UsageError(msg);
      })
      .parseAsync();
    return exitCode;
  } catch (error) {
    if (error instanceof EvalrunError) {
      io.err(`${error.message}\n`);
      if (verbose && error.cause) io.err(`cause: ${String((error.cause as Error).stack ?? error.cause)}\n`);
      if (error instanceof UsageError) io.err(`Run 'evalrun --help' for usage.\n`);
      return error.exitCode;
    }
    io.err(`evalrun: internal error, please report it with the command you ran:\n${error instanceof Error ? error.stack : String(error)}\n`);
    return ExitCode.Internal;
  }
}
