import type { Config } from '../contracts/config.js';
import type { Task } from '../contracts/plan.js';
import type { RequestRecord } from '../record/index.js';
import { ResponseCache } from './cache.js';
import { executeTask } from './execute-task.js';
import { Pacer } from './pacer.js';
import type { Provider } from './provider.js';
import { serverAskedDelayMs } from './retry.js';
import { runPlan, type Slots } from './run-plan.js';
import { gradeScripts } from './grade-scripts.js';
import type { ChoiceChecker, ScriptChecks } from '../check/index.js';
import type { Budget } from './budget.js';

/**
 * The stage between the plan and the journal: takes the planned tasks and produces one record per finished request.
 * records.jsonl is the contract: every executor writes the same records, so checks, reports and resume work the
 * same whichever produced them. How requests are sent (scheduling, retries, pacing, caching) is the executor's own
 * business; runEval only wires config → plan → executor → journal → report. The synchronous HTTP executor
 * (`createHttpExecutor`) is the first; a Batch API executor is another implementation of this interface.
 */
export interface Executor {
  /**
   * Sends the tasks and hands each record to `run.onRecord` as it is produced. Resolves when every task taken from
   * the stream is recorded, or dropped unsent because the run stopped (a dropped task stays unrecorded, so a resume
   * sends it again).
   */
  execute(tasks: AsyncIterable<Task>, run: ExecutionControl): Promise<ExecutorResult>;
}

export interface ExecutionControl {
  onRecord(record: RequestRecord, task: Task): void;
  /**
   * Told when a task taken from the stream is finished, recorded or dropped. A stream that adds tasks as records
   * come in (a judge's calls about the answers) ends once nothing taken is unfinished and nothing more will come.
   */
  onSettled?(task: Task): void;
  /** Aborted: take no more tasks and send nothing more; what is in flight may finish (the first Ctrl-C). */
  stop: AbortSignal;
  /** Aborted: end what is in flight too and record nothing more (a second Ctrl-C, or the grace period ran out). */
  abort: AbortSignal;
}

export interface ExecutorResult {
  /** Tasks taken from the stream. */
  dispatched: number;
  /** Records handed to onRecord. */
  recorded: number;
  /** The error that stopped the run (an ApiFatalError: the API refused the key or the model), if any. */
  fatal: unknown;
}

export interface HttpExecutorOptions {
  provider: Provider;
  config: Pick<Config, 'concurrency' | 'retry' | 'timeoutS' | 'rateLimit' | 'cacheDir' | 'nMode'>;
  /** Checks one choice for its cell (JSON + schema, tool-call arguments, graded checks). */
  check: ChoiceChecker;
  /** The run's script checks, graded on each record once its answer is in (outside the HTTP slot). */
  scripts?: ScriptChecks | undefined;
  /** After every HTTP attempt: progress. */
  onAttempt?: ((outcome: { status: number | undefined; retrying: boolean }) => void) | undefined;
  /**
   * The spend limit: a task's worst case is reserved before its first request is sent (its retries and its
   * `n_mode: repeat` parts use that reservation); the caller settles it with the record.
   */
  budget?: Budget | undefined;
}

/** What halts the slots when the budget refuses a request. */
const BUDGET_STOP = Symbol('budget stop');

/**
 * One chat completion request per task, sent at once over the provider's HTTP pool: `concurrency` in flight, each
 * retried by evalrun's policy, spaced by the configured or server-reported rate limits, answered from the response
 * cache when one is configured.
 */
export function createHttpExecutor(options: HttpExecutorOptions): Executor {
  const { provider, config } = options;
  return {
    async execute(tasks, run) {
      const pacer = new Pacer({ rpm: config.rateLimit.rpm, tpm: config.rateLimit.tpm, perModel: config.rateLimit.perModel });
      const cache = config.cacheDir ? new ResponseCache(config.cacheDir, provider.cacheKeyUrl) : undefined;
      // Shared by the run's requests: until one has had an HTTP answer, an unreachable server stops the run.
      const reach = { answered: false };
      // No signal per request (the SDK never removes its listener): a hard stop closes the HTTP pool instead.
      const onAbort = () => provider.abortInFlight();
      run.abort.addEventListener('abort', onAbort, { once: true });
      const budget = options.budget;
      const onStop = () => budget?.close();
      run.stop.addEventListener('abort', onStop, { once: true });
      try {
        const result = await runPlan(tasks, {
          concurrency: config.concurrency,
          stop: run.stop,
          execute: async (task, slots) => {
            // Reserved before a slot is taken: a request waiting for room holds no slot that a retry could need.
            if (budget && !(await budget.reserve(task))) {
              if (budget.stopped) slots.halt(BUDGET_STOP);
              return undefined;
            }
            let record: RequestRecord | undefined;
            try {
              record = await send(task, slots);
            } finally {
              if (!record) budget?.release(task);
            }
            return record;
          },
          onRecord: run.onRecord,
          onSettled: run.onSettled,
        });
        // The budget's refusal is not an error of the run's: the caller asks the budget why it stopped.
        return result.fatal === BUDGET_STOP ? Object.assign({}, result, { fatal: undefined }) : result;
      } finally {
        run.abort.removeEventListener('abort', onAbort);
        run.stop.removeEventListener('abort', onStop);
      }
      async function send(task: Task, slots: Slots): Promise<RequestRecord | undefined> {
        const record = await executeTask(task, {
          client: provider.client,
          slots,
          retry: { maxAttempts: config.retry.maxAttempts, maxWaitMs: config.retry.maxWaitS * 1000 },
          timeoutMs: config.timeoutS * 1000,
          check: options.check,
          redact: provider.redact,
          signal: run.abort,
          cache,
          nMode: config.nMode,
          reach,
          beforeAttempt: (t) => pacer.acquire(t, run.abort),
          onAttempt: (o) => {
            pacer.observe(o.status, o.headers, serverAskedDelayMs(o.headers));
            options.onAttempt?.(o);
          },
        });
        return record && options.scripts && task.graded !== false ? gradeScripts(options.scripts, record, task, run.abort) : record;
      }
    },
  };
}
