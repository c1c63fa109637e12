import { createRequire } from 'node:module';
import type { Argv } from 'yargs';
import { EvalrunError, ExitCode, UsageError } from '../errors.js';
import { processIo, type Io } from './io.js';
import { runCommand } from './commands/run.js';
import { planCommand } from './commands/plan.js';
import { simulateCommand } from './commands/simulate.js';
import { reportCommand } from './commands/report.js';
import { regradeCommand } from './commands/regrade.js';
import { compareCommand } from './commands/compare.js';
import { mergeCommand } from './commands/merge.js';
import { historyCommand } from './commands/history.js';
import { cancelCommand } from './commands/cancel.js';
import { viewCommand } from './commands/view.js';
import { versions } from '../util/version.js';
import { suggest } from '../util/suggest.js';

// yargs 17's CommonJS build: it loads in ~30 ms where yargs 18 (ESM only) takes ~100 ms on Node 20, which is half
// of `evalrun --help`; its ESM build (~40 ms) wraps help text mid-word.
const yargs = createRequire(import.meta.url)('yargs/yargs') as (args: readonly string[]) => Argv;

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
    checkNumbers(argv);
    await yargs(argv)
      .scriptName('evalrun')
      .usage('$0 <command> [options]\n\nBatch prompt evaluation over a grid of chat-completion settings.')
      .command(runCommand(ctx))
      .command(planCommand(ctx))
      .command(reportCommand(ctx))
      .command(regradeCommand(ctx))
      .command(compareCommand(ctx))
      .command(mergeCommand(ctx))
      .command(historyCommand(ctx))
      .command(cancelCommand(ctx))
      .command(viewCommand(ctx))
      .command(simulateCommand(ctx))
      .option('verbose', { type: 'boolean', description: 'Show the underlying cause of errors' })
      .demandCommand(1, 'Name a command: run, plan, report, regrade, compare, merge, history, cancel, view or simulate.')
      .strict()
      .version(versions.evalrun)
      .help()
      .alias('h', 'help')
      .wrap(Math.min(110, process.stdout.columns || 100))
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new UsageError(usageMessage(msg, argv));
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

const OPTIONS = ['out', 'resume', 'retry-errors', 'simulate', 'concurrency', 'quiet', 'cache', 'sort', 'grace-s', 'verbose', 'help', 'version', 'json', 'port', 'host', 'seed', 'schema', 'options', 'show', 'map', 'metric', 'alpha', 'fail-on-regression', 'shard', 'partial', 'batch', 'config', 'baseline', 'fail-on-drift', 'max-cost'];

const COMMANDS = ['run', 'plan', 'report', 'regrade', 'compare', 'merge', 'history', 'cancel', 'view', 'simulate'];

/** Options whose value is a number: yargs would turn 'abc' into NaN and the message could only say "got NaN". */
const NUMERIC = ['concurrency', 'grace-s', 'show', 'alpha', 'port', 'seed', 'max-cost'];

function checkNumbers(argv: readonly string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(argv[i]!);
    if (!m || !NUMERIC.includes(m[1]!)) continue;
    const value = m[2] ?? argv[i + 1];
    // A missing value, or another flag in its place, is yargs' to report.
    if (value === undefined || (m[2] === undefined && value.startsWith('--'))) continue;
    if (value.trim() === '' || !Number.isFinite(Number(value))) throw new UsageError(`--${m[1]} must be a number (got '${value}')`);
  }
}

/** yargs' own wording, made specific: which argument is missing, which flag or command was meant. */
function usageMessage(msg: string, argv: readonly string[]): string {
  if (/Not enough non-option arguments/.test(msg)) {
    const command = argv.find((a) => !a.startsWith('-'));
    // The commands that read a run directory: an example of a config would send the user the wrong way.
    if (command === 'view' || command === 'report' || command === 'cancel') return `Missing an argument: the run directory, e.g. evalrun ${command} results/<run directory>`;
    return 'Missing an argument: e.g. evalrun run path/to/evalrun.yaml';
  }
  const unknown = /Unknown arguments?: (.+)/.exec(msg);
  if (unknown) {
    const names = unknown[1]!.split(', ').map((name) => name.replace(/^-+/, ''));
    // yargs names flags and stray words alike: a word given without dashes is a command (or an extra argument).
    const words = names.filter((name) => argv.includes(name) && !argv.includes(`--${name}`) && !argv.includes(`-${name}`));
    if (words.length > 0) {
      const word = words[0]!;
      if (argv.find((a) => !a.startsWith('-')) !== word) return `Unexpected extra argument '${word}'`;
      const hint = suggest(word, COMMANDS);
      return `Unknown command '${word}'${hint ? ` (did you mean '${hint}'?)` : ''}; the commands are ${COMMANDS.join(', ')}`;
    }
    const command = argv.find((a) => !a.startsWith('-'));
    const hints = names.map((flag) => {
      const hint = suggest(flag, OPTIONS);
      // An option of another command (`report --quiet`): suggesting the very same name would only confuse.
      if (hint === flag) return `--${flag} (an option of other commands, not of '${command}'; see evalrun ${command} --help)`;
      return hint ? `--${flag} (did you mean --${hint}?)` : `--${flag}`;
    });
    return `Unknown option ${hints.join(', ')}`;
  }
  return msg;
}
