import type { CommandModule } from 'yargs';
import { formatAnomalies, formatSummaryTable } from '../../report/index.js';
import type { CommandContext } from '../main.js';
import { ExitCode } from '../../errors.js';

interface ReportArgs {
  dir: string;
}

export function reportCommand(ctx: CommandContext): CommandModule<object, ReportArgs> {
  return {
    command: 'report <dir>',
    describe: 'Rebuild every report of a run directory (CSVs, summary.json, comparison, junit.xml, summary.md, report.html) from its records',
    builder: (y) => y.positional('dir', { type: 'string', demandOption: true, describe: 'A run directory' }),
    handler: async (args) => {
      const { writeReports } = await import('../../report/index.js');
      const summary = await writeReports(args.dir, undefined, { onNotice: (m) => ctx.io.err(`${m}\n`) });
      const { formatEvaluation } = await import('../../report/index.js');
      const { REPORT_FILES } = await import('../../report/index.js');
      const evaluation = formatEvaluation(summary);
      ctx.io.out(`${formatSummaryTable(summary)}\n\n${evaluation ? `${evaluation}\n\n` : ''}Rebuilt ${args.dir}: ${REPORT_FILES.join(', ')}\n`);
      const anomalies = formatAnomalies(summary);
      if (anomalies) ctx.io.err(`${anomalies}\n`);
      // The same verdict as the run: a failing gate, or an incomplete run, is exit code 1 here too, so CI can re-judge
      // a run and never sees green for part of one.
      if (!summary.complete) ctx.io.err(`The run is incomplete (${summary.recorded.requests} of ${summary.plan.requests} requests recorded, status ${summary.status}); exit code 1.\n`);
      if (summary.gates?.failed || !summary.complete) ctx.setExitCode(ExitCode.CheckFailures);
    },
  };
}
