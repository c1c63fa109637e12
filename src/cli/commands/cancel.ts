import type { CommandModule } from 'yargs';
import { ExitCode } from '../../errors.js';
import { shownPath } from '../../util/shown-path.js';
import { plural } from '../../util/plural.js';
import { progressReporter } from '../progress.js';
import type { CommandContext } from '../main.js';

interface CancelArgs {
  dir: string;
  config?: string | undefined;
  quiet?: boolean | undefined;
  abandon?: boolean | undefined;
}

/**
 * `evalrun cancel DIR`: the run's live batches are cancelled at the provider, waited for until they say cancelled,
 * and what they had finished is recorded and reported (paid for, so never thrown away). The run stays resumable:
 * a later `--resume` submits what was not answered.
 */
export function cancelCommand(ctx: CommandContext): CommandModule<object, CancelArgs> {
  return {
    command: 'cancel <dir>',
    describe: "Cancel a Batch API run's live batches, record what they finished, and write the reports",
    builder: (y) =>
      y
        .positional('dir', { type: 'string', demandOption: true, describe: 'The run directory' })
        .option('config', { type: 'string', describe: "The run's config file (default: the one run.json names)" })
        .option('quiet', { type: 'boolean', describe: 'No progress output' })
        .option('abandon', {
          type: 'boolean',
          describe: 'Also forget live batches the server no longer knows (404): --resume then sends their requests again, which pays twice if the provider did run them',
        }),
    handler: async (args) => {
      const { io } = ctx;
      const { readBatchRun, cancelBatches } = await import('../../app/cancel.js');
      const manifest = await readBatchRun(args.dir);
      const progress = progressReporter(io, { quiet: Boolean(args.quiet) });
      const live = [...manifest.batch.parts, ...(manifest.judge_batch?.parts ?? [])].filter((p) => p.state === 'submitted' || p.state === 'intent').length;
      io.err(`Cancelling ${plural(live, 'live batch', 'live batches')} of ${shownPath(args.dir)}…\n`);
      if (args.abandon) {
        io.err('--abandon: a batch the server answers 404 for is forgotten. If the provider did run it (a server that lost track, another key), a --resume pays for its requests twice.\n');
      }
      try {
        const result = await cancelBatches(args.dir, manifest, {
          config: args.config,
          abandon: args.abandon,
          env: io.env,
          reporter: { ...progress, onNotice: (m) => io.err(`${m}\n`) },
        });
        progress.done();
        const s = result.summary;
        if (result.error) {
          io.err(`${result.error.message}\n`);
          ctx.setExitCode(result.exitCode);
          return;
        }
        io.out(`Cancelled. ${s.recorded.requests} of ${s.plan.requests} requests are recorded in ${shownPath(result.dir)} (reports written). ` +
          `Submit the rest later with: evalrun run ${manifest.config_file} --out ${shownPath(result.dir)} --resume\n`);
        ctx.setExitCode(ExitCode.Ok);
      } finally {
        progress.done();
      }
    },
  };
}
