import type { CommandModule } from 'yargs';
import { ExitCode, UsageError, formatIssue } from '../../errors.js';
import { shownPath as shortPath } from '../../util/shown-path.js';
import { formatAnomalies, formatSummaryTable, SORT_KEYS, type SortKey } from '../../report/index.js';
import { progressReporter } from '../progress.js';
import type { CommandContext } from '../main.js';
import { maxCostArg } from '../max-cost.js';
import { plural } from '../../util/plural.js';

interface RunArgs {
  config: string;
  out?: string | undefined;
  resume?: boolean | undefined;
  'retry-errors'?: boolean | undefined;
  simulate?: boolean | undefined;
  concurrency?: number | undefined;
  quiet?: boolean | undefined;
  cache?: boolean | undefined;
  sort?: string | undefined;
  'grace-s'?: number | undefined;
  shard?: string | undefined;
  batch?: boolean | undefined;
  'max-cost'?: number | undefined;
}

export function runCommand(ctx: CommandContext): CommandModule<object, RunArgs> {
  return {
    command: 'run <config>',
    describe: 'Run every dataset row over every grid cell and write the results',
    builder: (y) =>
      y
        .positional('config', { type: 'string', demandOption: true, describe: 'The YAML config file' })
        .option('out', { type: 'string', describe: 'Run directory (default: results/<name>-<timestamp>)' })
        .option('resume', { type: 'boolean', describe: 'Continue the run in --out: send only what is not recorded yet' })
        .option('retry-errors', { type: 'boolean', describe: 'Resume, and send the requests that failed again (their new records replace the failed ones)' })
        .option('simulate', { type: 'boolean', describe: 'Use the built-in OpenAI simulator (no key, no network)' })
        .option('concurrency', { type: 'number', describe: 'HTTP requests in flight at once (overrides the config)' })
        .option('quiet', { type: 'boolean', describe: 'No progress output' })
        .option('cache', { type: 'boolean', describe: 'Reuse cached responses to identical requests (same sample, not billed again)' })
        .option('sort', { choices: SORT_KEYS, describe: 'Sort the summary table by this metric' })
        .option('grace-s', { type: 'number', default: 30, describe: 'On Ctrl-C, seconds to wait for requests in flight' })
        .option('shard', { type: 'string', describe: 'Run only the I-th of K shares of the plan (e.g. 2/5); join them with evalrun merge' })
        .option('batch', { type: 'boolean', describe: 'Send through the Batch API: half price, answers within 24 h (see README "Batch mode")' })
        .option('max-cost', { type: 'number', describe: "Spend limit in USD for the run directory (over the config's budget_usd): no request is sent whose worst case would pass it" }),
    handler: async (args) => {
      const { io } = ctx;
      if (args.resume && !args.out) {
        throw new UsageError('--resume needs --out DIR: the run directory to continue');
      }
      if (args['retry-errors'] && !args.out) {
        throw new UsageError('--retry-errors needs --out DIR: the run directory whose failed requests to send again');
      }
      if (args.concurrency !== undefined && !(Number.isInteger(args.concurrency) && args.concurrency >= 1)) {
        throw new UsageError(`--concurrency must be a whole number of at least 1 (got ${args.concurrency})`);
      }
      const maxCost = maxCostArg(args['max-cost']);
      const { parseShard } = await import('../../plan/index.js');
      const shard = args.shard === undefined ? undefined : parseShard(args.shard);
      // Loaded here, not at start-up: `evalrun --help` and `plan` must not pay for the SDK and HTTP client.
      const { runEval } = await import('../../app/run.js');
      const stop = new AbortController();
      const abort = new AbortController();
      let resumeHint = '';
      let batchMode = Boolean(args.batch);
      const onSigint = () => {
        if (batchMode && !stop.signal.aborted) {
          // The batches run at the provider whatever we do: detach, and let a resume pick them up.
          io.err(`\nInterrupted: detaching from the batches (they keep running at the provider). ${resumeHint}\n`);
          stop.abort();
          return;
        }
        if (stop.signal.aborted) {
          io.err(`\nSecond interrupt: stopping now. ${resumeHint}\n`);
          abort.abort();
          process.exit(ExitCode.Interrupted);
        }
        io.err(`\nInterrupted: sending nothing more, waiting up to ${args['grace-s']}s for requests in flight (Ctrl-C again to stop at once).\n`);
        stop.abort();
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      const progress = progressReporter(io, { quiet: Boolean(args.quiet) });
      try {
        const result = await runEval({
          config: args.config,
          out: args.out,
          resume: args.resume,
          retryErrors: args['retry-errors'],
          simulate: args.simulate,
          concurrency: args.concurrency,
          cache: args.cache,
          shard,
          batch: args.batch,
          maxCost,
          signal: stop.signal,
          abortSignal: abort.signal,
          graceMs: (args['grace-s'] ?? 30) * 1000,
          env: io.env,
          reporter: {
            ...progress,
            onNotice: (message) => io.err(`${message}\n`),
            onStart: (info) => {
              for (const w of info.config.warnings ?? []) io.err(`warning: ${formatIssue(w)}\n`);
              batchMode ||= Boolean(info.batch);
              resumeHint = `Resume with: evalrun run ${args.config}${args.shard ? ` --shard ${args.shard}` : ''} --out ${shortPath(info.dir)} --resume`;
              progress.onStart?.(info);
              if (args['retry-errors']) io.err(`--retry-errors: sending ${info.retrying ?? 0} failed request${info.retrying === 1 ? '' : 's'} again.\n`);
            },
          },
        });
        progress.done();
        io.out(`${formatSummaryTable(result.summary, (args.sort as SortKey | undefined) ?? 'cell')}\n\n`);
        const { formatEvaluation } = await import('../../report/index.js');
        const { appendStepSummary, REPORT_FILES } = await import('../../report/index.js');
        const { summaryMarkdown } = await import('../../report/index.js');
        const evaluation = formatEvaluation(result.summary);
        if (evaluation) io.out(`${evaluation}\n\n`);
        const anomalies = formatAnomalies(result.summary);
        if (anomalies) io.err(`${anomalies}\n`);
        // Cached answers are not new samples and were not billed: the user must see how many there were.
        if (result.summary.totals.cached > 0) io.out(`${cachedLine(result.summary.totals.cached, result.summary.recorded.requests)}\n\n`);
        io.out(`Results in ${shortPath(result.dir)}: ${REPORT_FILES.join(', ')}, records.jsonl, run.json\n`);
        if (await appendStepSummary(io.env, summaryMarkdown(result.summary))) io.out('Appended summary.md to $GITHUB_STEP_SUMMARY\n');
        if (result.summary.shard) io.out(`This is shard ${result.summary.shard.index}/${result.summary.shard.count} of the plan: join the shards' directories with evalrun merge DIR… --out DIR\n`);
        const s = result.summary;
        if (s.gates?.status === 'not_judged') io.err(`${s.gates.reason}\n`);
        else if (s.gates?.failed && !result.error) io.err(`${plural(s.gates.failed, 'gate check')} failed (see junit.xml); exit code 1.\n`);
        if (result.error) io.err(`${result.error.message}\n${resumeHint}${result.error.exitCode === ExitCode.BudgetStopped ? ' --max-cost USD (a higher budget)' : ''}\n`);
        else if (result.status === 'interrupted') io.err(`Interrupted with ${s.recorded.requests} of ${s.plan.requests} requests recorded. ${resumeHint}\n`);
        else if (s.recorded.failed_requests > 0) {
          io.err(`${plural(s.recorded.failed_requests, 'request')} failed after all attempts or lacked choices they asked for (${plural(s.recorded.failed_choices ?? s.recorded.failed_requests, 'choice')} with finish_reason 'error' in choices.csv); exit code 1.\n`);
        }
        ctx.setExitCode(result.exitCode);
      } finally {
        progress.done();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
    },
  };
}

export function cachedLine(cached: number, requests: number): string {
  return `${cached} of ${requests} requests were answered from the response cache (--cache): not sent, not billed, the same samples as before.`;
}
