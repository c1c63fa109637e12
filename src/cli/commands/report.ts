import type { CommandModule } from 'yargs';
import { formatSummaryTable } from '../../report/console-table.js';
import type { CommandContext } from '../main.js';

interface ReportArgs {
  dir: string;
}

export function reportCommand(ctx: CommandContext): CommandModule<object, ReportArgs> {
  return {
    command: 'report <dir>',
    describe: 'Rebuild choices.csv, stats.csv and summary.json of a run directory from its records',
    builder: (y) => y.positional('dir', { type: 'string', demandOption: true, describe: 'A run directory' }),
    handler: async (args) => {
      const { writeReports } = await import('../../report/write-reports.js');
      const summary = await writeReports(args.dir);
      ctx.io.out(`${formatSummaryTable(summary)}\n\nRebuilt ${args.dir}: choices.csv, stats.csv, summary.json\n`);
    },
  };
}
