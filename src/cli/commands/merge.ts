import type { CommandModule } from 'yargs';
import { relative } from 'node:path';
import { formatAnomalies, formatSummaryTable } from '../../report/index.js';
import type { CommandContext } from '../main.js';

interface MergeArgs {
  dirs: string[];
  out: string;
  partial?: boolean | undefined;
}

export function mergeCommand(ctx: CommandContext): CommandModule<object, MergeArgs> {
  return {
    command: 'merge <dirs..>',
    describe: 'Join the run directories of shards (evalrun run --shard I/K) into one run directory with every report',
    builder: (y) =>
      y
        .positional('dirs', { type: 'string', array: true, demandOption: true, describe: "The shards' run directories" })
        .option('out', { type: 'string', demandOption: true, describe: 'The merged run directory (new or empty)' })
        .option('partial', { type: 'boolean', describe: 'Merge what is there when shards are missing or unfinished; every output says it is partial' }),
    handler: async (args) => {
      const { io } = ctx;
      const { mergeRuns } = await import('../../app/merge.js');
      const result = await mergeRuns({ dirs: args.dirs, out: args.out, partial: args.partial });
      const s = result.summary;
      const merged = result.manifest.merged!;
      io.out(`${formatSummaryTable(s)}\n\n`);
      const { formatEvaluation } = await import('../../report/index.js');
      const { appendStepSummary, REPORT_FILES } = await import('../../report/index.js');
      const { summaryMarkdown, partialNote } = await import('../../report/index.js');
      const evaluation = formatEvaluation(s);
      if (evaluation) io.out(`${evaluation}\n\n`);
      const anomalies = formatAnomalies(s);
      if (anomalies) io.err(`${anomalies}\n`);
      io.out(`Merged ${merged.shards.length} of ${merged.shards.length + merged.missing.length} shards into ${shortPath(result.dir)}: ${REPORT_FILES.join(', ')}, records.jsonl, run.json\n`);
      if (await appendStepSummary(io.env, summaryMarkdown(s))) io.out('Appended summary.md to $GITHUB_STEP_SUMMARY\n');
      if (merged.partial) io.err(`${partialNote(s)}; exit code 1.\n`);
      if (s.gates?.failed) io.err(`${s.gates.failed} gate checks failed (see junit.xml); exit code 1.\n`);
      if (s.recorded.failed_requests > 0) {
        io.err(`${s.recorded.failed_requests} requests failed after all attempts or lacked choices they asked for (${s.recorded.failed_choices ?? s.recorded.failed_requests} choices with finish_reason 'error' in choices.csv); exit code 1.\n`);
      }
      ctx.setExitCode(result.exitCode);
    },
  };
}

function shortPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
}
