import type { CommandModule } from 'yargs';
import { relative } from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import type { CommandContext } from '../main.js';
import { plural } from '../../util/plural.js';

interface HistoryArgs {
  runs: string[];
  out?: string | undefined;
  baseline?: string | undefined;
  metric?: string[] | undefined;
  alpha?: number | undefined;
  'fail-on-drift'?: boolean | undefined;
}

export function historyCommand(ctx: CommandContext): CommandModule<object, HistoryArgs> {
  return {
    command: 'history <runs..>',
    describe: 'Runs of one evaluation over time (nightly runs): trends, drift between consecutive runs, and what changed',
    builder: (y) =>
      y
        .positional('runs', { type: 'string', array: true, demandOption: true, describe: "Run directories or globs of them ('results/nightly-*'); shards of one run are merged" })
        .option('out', { type: 'string', describe: 'Where history.csv, history.json, history.html and history.md go (default results/<name>-history)' })
        .option('baseline', { type: 'string', describe: 'A pinned run every judged run is also compared with' })
        .option('metric', { type: 'string', array: true, describe: 'Metric to follow (repeatable; default: the comparison metrics of the newest run)' })
        .option('alpha', { type: 'number', default: 0.05, describe: 'Significance level, after Holm correction across cells' })
        .option('fail-on-drift', { type: 'boolean', describe: 'Exit 1 when the newest run drifted worse than the run before it (or the baseline)' }),
    handler: async (args) => {
      if (args.alpha !== undefined && !(args.alpha > 0 && args.alpha < 0.5)) throw new UsageError(`--alpha must be between 0 and 0.5 (got ${args.alpha})`);
      const { historyRuns } = await import('../../app/history.js');
      const { appendStepSummary } = await import('../../report/index.js');
      const result = await historyRuns({ inputs: args.runs, out: args.out, baseline: args.baseline, metrics: args.metric, alpha: args.alpha });
      for (const w of result.warnings) ctx.io.err(`warning: ${w}\n`);
      ctx.io.out(result.markdown);
      const rel = relative(process.cwd(), result.out);
      ctx.io.out(`\nHistory in ${rel && !rel.startsWith('..') ? rel : result.out}: ${result.files.join(', ')}\n`);
      if (await appendStepSummary(ctx.io.env, result.markdown)) ctx.io.out('Appended history.md to $GITHUB_STEP_SUMMARY\n');
      if (args['fail-on-drift'] && result.worse.length > 0) {
        ctx.io.err(`${plural(result.worse.length, 'worse drift')} in the newest run (--fail-on-drift); exit code 1.\n`);
        ctx.setExitCode(ExitCode.CheckFailures);
      } else if (args['fail-on-drift'] && !result.history.latest.judged) {
        ctx.io.err(`The newest run is not judged (${result.history.latest.not_judged}): --fail-on-drift judges complete runs only.\n`);
      }
    },
  };
}
