import type { CommandModule } from 'yargs';
import { ExitCode, UsageError } from '../../errors.js';
import type { CommandContext } from '../main.js';
import { plural } from '../../util/plural.js';

interface CompareArgs {
  runA: string;
  runB: string;
  metric?: string[] | undefined;
  alpha?: number | undefined;
  'fail-on-regression'?: boolean | undefined;
  json?: boolean | undefined;
  map?: string | string[] | undefined;
}

export function compareCommand(ctx: CommandContext): CommandModule<object, CompareArgs> {
  return {
    command: 'compare <runA> <runB>',
    describe: 'Compare run B with run A cell by cell (paired over dataset rows): what changed, and is it more than noise?',
    builder: (y) =>
      y
        .positional('runA', { type: 'string', demandOption: true, describe: 'The earlier (reference) run directory' })
        .positional('runB', { type: 'string', demandOption: true, describe: 'The later run directory' })
        .option('metric', { type: 'string', array: true, describe: 'Metric to compare (repeatable; default: schema/json validity, check pass rates, length and error rates)' })
        .option('alpha', { type: 'number', default: 0.05, describe: 'Significance level, after Holm correction across cells' })
        .option('fail-on-regression', { type: 'boolean', describe: 'Exit 1 when a metric got significantly worse in some cell' })
        .option('json', { type: 'boolean', describe: 'Print the comparison as JSON' })
        // Not `array: true`: that would also swallow the run directories in `compare --map X=Y A B`; repeats still collect.
        .option('map', { type: 'string', describe: "Compare run A's cell A_CELL with run B's B_CELL (A_CELL=B_CELL, repeatable)" }),
    handler: async (args) => {
      if (args.alpha !== undefined && !(args.alpha > 0 && args.alpha < 0.5)) throw new UsageError(`--alpha must be between 0 and 0.5 (got ${args.alpha})`);
      const { compareRuns } = await import('../../report/index.js');
      const { formatRunComparison, runComparisonMarkdown } = await import('../../report/index.js');
      const { appendStepSummary } = await import('../../report/index.js');
      // Nothing pairing is a usage error (exit 2): both runs are fine, the command needs a --map.
      const result = await compareRuns(args.runA, args.runB, { metrics: args.metric, alpha: args.alpha, map: args.map === undefined ? undefined : ([] as string[]).concat(args.map).map(String) });
      for (const w of result.warnings) ctx.io.err(`${w}\n`);
      ctx.io.out(args.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatRunComparison(result)}\n`);
      await appendStepSummary(ctx.io.env, runComparisonMarkdown(result));
      const worse = result.rows.filter((r) => r.change === 'worse');
      const incomplete = [result.run_a, result.run_b].filter((r) => !r.complete);
      if (args['fail-on-regression'] && incomplete.length > 0) {
        // Part of the rows cannot show that nothing regressed: the check is refused, never passed.
        ctx.io.err(
          `Refusing --fail-on-regression: ${incomplete.map((r) => `${r.dir} is incomplete (${r.recorded_requests} of ${r.planned_requests} requests)`).join(' and ')}. ` +
            `Resume it (evalrun run CONFIG --out DIR --resume) and compare again; exit code 1.\n`,
        );
        ctx.setExitCode(ExitCode.CheckFailures);
      } else if (args['fail-on-regression'] && worse.length > 0) {
        ctx.io.err(`${plural(worse.length, 'significant regression')} (--fail-on-regression); exit code 1.\n`);
        ctx.setExitCode(ExitCode.CheckFailures);
      }
    },
  };
}
