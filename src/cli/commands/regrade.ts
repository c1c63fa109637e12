import type { CommandModule } from 'yargs';
import { formatAnomalies, formatSummaryTable } from '../../report/index.js';
import type { CommandContext } from '../main.js';
import { ExitCode } from '../../errors.js';
import { plural } from '../../util/plural.js';
import { maxCostArg } from '../max-cost.js';

interface RegradeArgs {
  dir: string;
  config?: string | undefined;
  'max-cost'?: number | undefined;
}

export function regradeCommand(ctx: CommandContext): CommandModule<object, RegradeArgs> {
  return {
    command: 'regrade <dir>',
    describe: "Grade a run's recorded answers again with the config's checks and rewrite every output; sends nothing",
    builder: (y) =>
      y
        .positional('dir', { type: 'string', demandOption: true, describe: 'A run directory' })
        .option('config', { type: 'string', describe: "The config to grade with (default: the run's own, as it reads now); its requests must be the run's" })
        .option('max-cost', { type: 'number', describe: "Spend limit in USD for the run directory (over the config's budget_usd): no judge call is sent whose worst case would pass it" }),
    handler: async (args) => {
      const { regradeRun } = await import('../../app/regrade.js');
      const maxCost = maxCostArg(args['max-cost']);
      const result = await regradeRun({ dir: args.dir, config: args.config, env: ctx.io.env, maxCost, onNotice: (m) => ctx.io.err(`${m}\n`) });
      const { summary } = result;
      const { formatEvaluation } = await import('../../report/index.js');
      const { REPORT_FILES } = await import('../../report/index.js');
      const evaluation = formatEvaluation(summary);
      ctx.io.out(
        `${formatSummaryTable(summary)}\n\n${evaluation ? `${evaluation}\n\n` : ''}` +
          `Regraded ${result.regraded} recorded requests of ${args.dir} with ${result.configFile}; ${result.judgeCalls > 0 ? `${plural(result.judgeCalls, 'judge call')} sent, no answer` : 'nothing was sent'}.\n` +
          `Rewrote records.jsonl, run.json, ${REPORT_FILES.join(', ')}\n`,
      );
      const anomalies = formatAnomalies(summary);
      if (anomalies) ctx.io.err(`${anomalies}\n`);
      // As `evalrun report`: a failing gate, or an incomplete run, exits 1.
      if (!summary.complete) ctx.io.err(`The run is incomplete (${summary.recorded.requests} of ${summary.plan.requests} requests recorded, status ${summary.status}); exit code 1.\n`);
      if (summary.gates?.failed || !summary.complete) ctx.setExitCode(ExitCode.CheckFailures);
    },
  };
}
