import { join } from 'node:path';
import { makeChoiceChecker } from '../check/index.js';
import type { Config } from '../contracts/config.js';
import { readRows } from '../dataset/index.js';
import { openEndpoint, type OpenEndpoint } from './endpoint.js';
import { ApiFatalError, BatchStoppedError, BudgetStoppedError, ExitCode, InterruptedError, UsageError, type EvalrunError } from '../errors.js';
import { BATCH_PRICE_FACTOR } from '../contracts/prices.js';
import type { Budget, BudgetSnapshot } from '../run/index.js';
import { loadWorstCase } from '../plan/index.js';
import { planTasks, summarizePlan, type PlanSummary } from '../plan/index.js';
import { checkShardResume, shardRange, shardRows, type ShardSpec } from '../plan/index.js';
import { openScriptChecks, prepareRun, type PrepareOptions } from './prepare.js';
import { createBatchExecutor, type BatchExecutorOptions, type BatchProgress, type PausePoint } from '../run/index.js';
import { ResponseCache } from '../run/index.js';
import type { ScriptChecks } from '../check/index.js';
import type { Cell, Task } from '../contracts/plan.js';
import type { Row } from '../contracts/dataset.js';
import type { Executor } from '../run/index.js';
import { randomUUID } from 'node:crypto';
import { JournalReader, RECORDS, RunRecorder, type JournalIndex, type RunStatus } from '../record/index.js';
import { claimRunDir, openRunDir } from '../record/index.js';
import type { BatchManifest, RequestRecord } from '../record/index.js';
import { LiveReport } from '../report/index.js';
import { writeReports } from '../report/index.js';
import { exitCodeOf, startManifest } from './run-manifest.js';
import { createHttpExecutor } from '../run/index.js';
import { describeEndpoint, openProvider, type Provider, type EndpointInfo } from '../run/index.js';
import { StopController } from '../util/stop-controller.js';
import { judgeChecks, Judging, type EarlierAnswers } from './judging.js';
import { openBudget, withBudget } from './budget.js';
import type { Summary } from '../contracts/summary.js';

export interface RunEvalOptions extends PrepareOptions {
  /** The run directory. Default: results/<name>-<timestamp> under the working directory. */
  out?: string | undefined;
  /** Continue the run in `out`: skip what is recorded, send the rest. */
  resume?: boolean | undefined;
  /**
   * Resume, and send the requests whose record is a failure again (after fixing a URL or a key). The new records are
   * appended; the latest record of a request is the one every report uses.
   */
  retryErrors?: boolean | undefined;
  /** Stop dispatching when aborted (Ctrl-C): in-flight requests finish within `graceMs`, then are abandoned. */
  signal?: AbortSignal | undefined;
  /** Abort in-flight requests at once (a second Ctrl-C). */
  abortSignal?: AbortSignal | undefined;
  graceMs?: number | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  reporter?: RunReporter | undefined;
  /** `--shard I/K`: run only the I-th of K shares of the plan (src/plan/shard.ts); merge them with `evalrun merge`. */
  shard?: ShardSpec | undefined;
}

export interface RunReporter {
  /** `retrying`: requests recorded as failed that are sent again (`retryErrors`). */
  onStart?(info: { dir: string; plan: PlanSummary; alreadyRecorded: number; retrying?: number; config: Config; batch?: boolean; budget?: (() => BudgetSnapshot) | undefined }): void;
  onRecord?(record: RequestRecord): void;
  onAttempt?(outcome: { status: number | undefined; retrying: boolean }): void;
  /** Something the user should know that is not an error (a dead process's lock taken over). */
  onNotice?(message: string): void;
  /** Batch API mode: the batches by status and the requests recorded, on every change. */
  onBatchProgress?(progress: BatchProgress): void;
}

export interface RunResult {
  dir: string;
  status: RunStatus;
  exitCode: ExitCode;
  summary: Summary;
  /** Why the run stopped early (the API refused us, or the user interrupted), if it did. */
  error?: EvalrunError | undefined;
}

/** The library entry point: what `evalrun run` does. */
export function runEval(options: RunEvalOptions): Promise<RunResult> {
  return runSession(options, undefined);
}

/**
 * `evalrun cancel` (app/cancel.ts): the run's session opened as a resume, its batch side only: the live batches are
 * cancelled and what they finished recorded; `abandon` also forgets those the server no longer knows (404).
 */
export interface CancelAction {
  abandon: boolean;
}

/** A session of the run in `options.out`: a run or resume, or with `cancel` the cancellation of its live batches. */
export async function runSession(options: RunEvalOptions, cancel: CancelAction | undefined): Promise<RunResult> {
  const { config, cells, plan, datasetHash, runHash } = await prepareRun(options);
  const judges = judgeChecks(config);
  // Under a spend limit the tokenizers are loaded before anything is written (prices and bounds were checked with
  // the config).
  const worstCase = config.budgetUsd === undefined ? undefined : await loadWorstCase(cells, config.nMode, judges.map((j) => j.judge!.model));
  const resume = Boolean(options.resume || options.retryErrors);
  if (resume && !options.out) throw new UsageError('resume needs the run directory to continue (--out DIR)');
  const onNotice = (m: string) => options.reporter?.onNotice?.(m);
  const claim = await claimRunDir({ out: options.out, resume, runHash, onNotice });
  // Shards: the plan stays the whole run's (seqs are global); only the rows sent are this shard's.
  const shard = options.shard ? shardRange(options.shard, plan.rows, cells) : undefined;
  let server: OpenEndpoint | undefined;
  let provider: Provider | undefined;
  // The claim's lock (a resumed directory) until the recorder takes the directory over.
  let lock = claim.lock;
  let recorder: RunRecorder | undefined;
  let live: LiveReport | undefined;
  let scripts: ScriptChecks | undefined;
  let judging: Judging | undefined;
  try {
    scripts = await openScriptChecks(config);
    if (claim.previous) checkShardResume(claim.explicit!, claim.previous.shard, shard);
    // Batch mode: asked for now, or the run has live batches (they are polled whatever the flags say). A run whose
    // batches are all finished resumes in the mode the config and flags ask for. Batch mode sends nothing over the
    // synchronous HTTP pool, so that is not opened.
    const isLive = (b: BatchManifest | undefined) => Boolean(b?.parts.some((p) => p.state === 'intent' || p.state === 'submitted'));
    const liveBatches = isLive(claim.previous?.batch) || isLive(claim.previous?.judge_batch);
    const batchMode = liveBatches || cancel !== undefined || Boolean(config.batch);
    const connect = async (stateDir: string | undefined) => {
      server = await openEndpoint(config, { env: options.env, simulatorStateDir: stateDir });
      if (!batchMode) provider = await openProvider(server.endpoint, { concurrency: config.concurrency, timeoutMs: config.timeoutS * 1000 });
    };
    // The provider is opened before the directory exists: a missing key must leave nothing behind. The built-in
    // simulator needs no key and keeps its batches in the run directory, so it is started once that exists.
    const simulated = config.provider.kind === 'simulator';
    if (!simulated) await connect(undefined);
    // Ctrl-C while the datasets were being checked: nothing was sent, so nothing is written either.
    if (options.signal?.aborted || options.abortSignal?.aborted) throw new InterruptedError('Interrupted before the first request: nothing was sent and nothing was written.');
    const opened = await openRunDir(claim, { name: config.name, requests: plan.requests, retryErrors: Boolean(options.retryErrors), onNotice });
    const { dir, index, retry } = opened;
    lock = opened.lock;
    if (simulated) await connect(join(dir, SIMULATOR_DIR));
    const endpoint = server!.endpoint;
    const endpointInfo = provider ?? describeEndpoint(endpoint);
    const started = startManifest({ previous: claim.previous, config, cells, plan, datasetHash, runHash, provider: endpointInfo, shard });
    const manifest = started.batch || !batchMode || !config.batch ? started : Object.assign({}, started, { batch: { run_id: randomUUID(), poll_s: config.batch.pollS, max_requests: config.batch.maxRequests, parts: [] } });
    if (cancel && !liveBatches) {
      throw new UsageError(`${dir} has no live batches to cancel (run.json lists none that are not finished).`);
    }
    const rec = (recorder = await RunRecorder.start(opened, manifest));
    lock = undefined;
    const stops = new StopController({
      signal: options.signal,
      abortSignal: options.abortSignal,
      graceMs: options.graceMs ?? 30_000,
      // A second Ctrl-C may be followed by process.exit at once, even before records.jsonl is open: hand finished
      // records to the OS first, and leave run.json saying how the run ended, not 'running'.
      onHard: () => {
        judging?.flushSync();
        live?.discardSync();
        rec.hardStopSync(ExitCode.Interrupted);
      },
    });
    // A record that cannot be written is not worth a request: a full disk stops the run.
    await rec.openJournal({ validBytes: index?.validBytes, redact: endpointInfo.redact, onFailure: () => stops.hard() });
    const judgedAnswer = (sent: RequestRecord, first: boolean) => {
      // A judged answer's later line is written, not counted again as a request recorded.
      const record = rec.append(sent, !first);
      if (first) options.reporter?.onRecord?.(record);
    };
    // A fresh run's reports are built as its records come in; a resumed run's come from records.jsonl afterwards.
    // Not in batch mode: a batch's answers come one model's part at a time, never in plan order, so the live report
    // would only hold them waiting; the reports are built from records.jsonl at the end instead.
    // Nor with judge checks: an answer's verdicts come in a later line of its seq.
    live = index || manifest.batch || judges.length > 0 ? undefined : new LiveReport(dir, manifest);
    // Batch mode: answers first, their judge calls in batches of their own once the answers are in (judgeBatches).
    const judgeInBatches = judges.length > 0 && manifest.batch !== undefined && batchMode;
    if (judges.length > 0) {
      for (const j of judges) {
        if (cells.some((c) => c.params['model'] === j.judge!.model)) {
          onNotice(`warning: judge check '${j.name}' is graded by ${j.judge!.model}, one of the models evaluated: a model tends to prefer its own answers (self-preference); a judge of another model family is more trustworthy`);
        }
      }
      judging = await Judging.open(config, cells, {
        dir,
        requests: plan.requests,
        // Batch mode reads pending answers back only in the judge phase, once the answer batches are recorded.
        resume: index !== undefined && !judgeInBatches,
        defer: judgeInBatches,
        earlier: index && !judgeInBatches ? await earlierAnswers(join(dir, RECORDS), index, opened.skip) : undefined,
        redact: endpointInfo.redact,
        onFailure: () => stops.hard(),
        stop: stops.stop,
        answer: judgedAnswer,
      });
    }
    const budget =
      config.budgetUsd === undefined || !worstCase
        ? undefined
        : await openBudget({ config, cells, dir, requests: plan.requests, worstCase, recorded: index !== undefined, previousSpentUsd: claim.previous?.budget?.spent_usd, factor: manifest.batch && batchMode ? BATCH_PRICE_FACTOR : 1 });
    const shown = shard ? summarizePlan(shard.rows[1] - shard.rows[0], cells) : plan;
    options.reporter?.onStart?.({ dir, plan: shown, alreadyRecorded: (index?.count ?? 0) - (retry?.count ?? 0), retrying: retry?.count ?? 0, config, batch: manifest.batch !== undefined, budget: budget && (() => budget.snapshot()) });
    const allRows = () => (shard ? shardRows(readRows(config), shard) : readRows(config));
    const rowsOf = () => (judging && !judgeInBatches ? judging.rows(allRows()) : allRows());
    const executor = chooseExecutor({ options, cancel, config, cells, dir, provider, endpointInfo, endpoint, batchMode, recorder: rec, rowsOf, skip: opened.skip, scripts, budget });
    const planned = planTasks(config, cells, rowsOf(), opened.skip);
    const sync = judging && !judgeInBatches;
    let result = await executor.execute(sync ? judging!.tasks(planned) : planned, {
      stop: stops.stop,
      abort: stops.abort,
      ...(sync ? { onSettled: () => judging!.onSettled() } : {}),
      onRecord: (sent, task) => {
        budget?.settle(sent, task);
        if (judging) return judging.onRecord(sent, task);
        // Every file is derived from the record as written: the configured secrets are scrubbed from it here.
        const record = rec.append(sent);
        live?.add(record);
        options.reporter?.onRecord?.(record);
      },
    });
    if (judgeInBatches && !result.fatal && !stops.stop.aborted && (!cancel || isLive(rec.manifest.judge_batch))) {
      await judging!.close().catch((e: unknown) => failRun(e, rec));
      await rec.flushJournal().catch((e: unknown) => failRun(e, rec));
      judging = await Judging.open(config, cells, { dir, requests: plan.requests, resume: true, defer: true, redact: endpointInfo.redact, onFailure: () => stops.hard(), stop: stops.stop, answer: judgedAnswer });
      const j = judging;
      await j.load(allRows());
      await envPause(options.env ?? process.env)?.('before-judges');
      const judgeExecutor = createBatchExecutor(
        batchOptions({ options, cancel, config, endpointInfo, endpoint, recorder: rec, cells, dir: join(dir, JUDGE_BATCH_DIR), section: 'judge_batch', maxN: 1, tasks: (want) => j.batchCalls(want), budget }),
      );
      result = await judgeExecutor.execute(j.batchCalls(), {
        stop: stops.stop,
        abort: stops.abort,
        onRecord: (sent, task) => {
          budget?.settle(sent, task);
          j.onRecord(sent, task);
        },
      });
    }
    stops.dispose();
    await judging?.close().catch((e: unknown) => failRun(e, rec));
    await rec.closeJournal().catch((e: unknown) => failRun(e, rec));
    const fatal = result.fatal ?? budget?.stopError('what was answered is recorded and the outputs are incomplete. Resume with a higher budget (--resume --max-cost USD) to send only what is missing.');
    const stoppedBy = fatal instanceof ApiFatalError || fatal instanceof BatchStoppedError || fatal instanceof BudgetStoppedError ? fatal : undefined;
    if (fatal && !stoppedBy) throw fatal;
    const status: RunStatus = fatal ? 'stopped' : stops.stop.aborted || cancel ? 'interrupted' : 'complete';
    await rec.end(status);
    await rec.update((m) => withBudget(m, budget, fatal));
    const ended = rec.manifest;
    const summary = (await live?.finish(ended)) ?? (await writeReports(dir, ended));
    const exitCode = stoppedBy ? stoppedBy.exitCode : exitCodeOf(status, summary);
    await rec.update((m) => Object.assign({}, m, { exit_code: exitCode }));
    return { dir, status, exitCode, summary, error: stoppedBy };
  } finally {
    // After an error on the way (its partial choices.csv must not stay behind); a no-op after finish.
    await live?.discard();
    // judgments.jsonl and the files judging reads back, after an error on the way; a no-op once closed.
    await judging?.close().catch(() => undefined);
    await scripts?.close();
    await provider?.close();
    await server?.close();
    await recorder?.release();
    await lock?.release();
  }
}

/** The folder of the run directory where the built-in simulator keeps its files and batches. */
const SIMULATOR_DIR = 'simulator';
/** Batch mode with judge checks: the judge batches' files, under JUDGE_BATCH_DIR/batches (the answers' under batches/). */
const JUDGE_BATCH_DIR = 'judges';

/**
 * The executor for this session: the Batch API's when run.json has a batch section (asked for now, or batches from
 * an earlier session still to poll), else the synchronous HTTP one. Both grade answers with the same checker.
 */
function chooseExecutor(p: {
  options: RunEvalOptions;
  cancel: CancelAction | undefined;
  config: Config;
  cells: readonly Cell[];
  dir: string;
  /** The synchronous HTTP provider: opened unless the run is in batch mode. */
  provider: Provider | undefined;
  endpointInfo: EndpointInfo;
  endpoint: OpenEndpoint['endpoint'];
  batchMode: boolean;
  recorder: RunRecorder;
  rowsOf: () => AsyncIterable<Row>;
  skip: ((seq: number) => boolean) | undefined;
  scripts: ScriptChecks | undefined;
  budget: Budget | undefined;
}): Executor {
  const { options, config, cells } = p;
  const state = p.recorder.manifest.batch;
  if (!state || !p.batchMode) return createHttpExecutor({ provider: p.provider!, config, check: makeChoiceChecker(config, cells), scripts: p.scripts, budget: p.budget, onAttempt: (o) => options.reporter?.onAttempt?.(o) });
  return createBatchExecutor(
    Object.assign(
      batchOptions({
        options,
        cancel: p.cancel,
        config,
        endpointInfo: p.endpointInfo,
        endpoint: p.endpoint,
        recorder: p.recorder,
        cells,
        dir: p.dir,
        section: 'batch',
        maxN: cells.reduce((m, c) => Math.max(m, c.n), 1),
        tasks: (want) => planTasks(config, cells, p.rowsOf(), (seq) => !want(seq) || (p.skip?.(seq) ?? false)),
        budget: p.budget,
      }),
      { scripts: p.scripts },
    ),
  );
}

/**
 * A Batch API executor over one section of run.json: `batch` (the plan's answers) or `judge_batch` (their judge
 * calls, by call id). Both go through the same protocol: intent first, never paid twice, resumed, cancelled alike.
 */
function batchOptions(p: {
  options: RunEvalOptions;
  cancel: CancelAction | undefined;
  config: Config;
  endpointInfo: EndpointInfo;
  endpoint: OpenEndpoint['endpoint'];
  recorder: RunRecorder;
  cells: readonly Cell[];
  dir: string;
  section: 'batch' | 'judge_batch';
  maxN: number;
  tasks: (want: (seq: number) => boolean) => AsyncIterable<Task>;
  /** The run's spend limit: answer and judge parts reserve from the same one. */
  budget: Budget | undefined;
}): BatchExecutorOptions {
  const { options, config, section } = p;
  const manifest = p.recorder.manifest;
  const answers = manifest.batch!;
  const state = manifest[section] ?? { run_id: randomUUID(), poll_s: answers.poll_s, max_requests: answers.max_requests, parts: [] };
  return {
    endpoint: p.endpoint,
    config,
    batch: config.batch ?? { pollS: state.poll_s, maxRequests: state.max_requests },
    // The run's checker leaves a judge call (graded: false) to its verdict's reader (judging.ts).
    check: makeChoiceChecker(config, p.cells),
    redact: p.endpointInfo.redact,
    dir: p.dir,
    state: {
      batch: state,
      startedAt: manifest.started_at,
      // Each save hands over a fresh section, which run.json takes whole.
      save: (batch) => p.recorder.update((m) => Object.assign({}, m, { [section]: batch })),
      tasks: p.tasks,
    },
    cancel: p.cancel !== undefined,
    abandon: p.cancel?.abandon,
    maxN: p.maxN,
    cache: config.cacheDir ? new ResponseCache(config.cacheDir, p.endpointInfo.cacheKeyUrl) : undefined,
    pause: envPause(options.env ?? process.env),
    onProgress: (progress) => options.reporter?.onBatchProgress?.(progress),
    onNotice: (m) => options.reporter?.onNotice?.(m),
    budget: p.budget,
  };
}

/**
 * The test hook of the kill -9 tests (test/e2e/batch.test.ts): inert unless EVALRUN_TEST_PAUSE_AT names a point of
 * the batch protocol; there it says so on stderr and waits to be killed (`ingesting`: at the third line, so that
 * some of a part's lines are recorded and some not). Read here, at the edge, never in run/.
 */
function envPause(env: NodeJS.ProcessEnv): ((point: PausePoint) => Promise<void>) | undefined {
  const at = env['EVALRUN_TEST_PAUSE_AT'];
  if (!at) return undefined;
  let lines = 0;
  return async (point) => {
    if (point !== at || (point === 'ingesting' && ++lines < 3)) return;
    process.stderr.write(`evalrun test pause: ${point}\n`);
    await new Promise<never>(() => setInterval(() => {}, 60_000));
  };
}

/**
 * The journal could not be written (a full disk): run.json says the run failed, if it still can be written, and
 * the error (exit code 6) tells the user what to do. records.jsonl keeps what was written; a resume cuts a torn
 * last line and sends the rest.
 */
async function failRun(error: unknown, recorder: RunRecorder): Promise<never> {
  await recorder.fail(ExitCode.Output).catch(() => {});
  throw error;
}

/** A resumed session's answers recorded before it: those its plan skips are read back from records.jsonl. */
async function earlierAnswers(path: string, index: JournalIndex, skip: ((seq: number) => boolean) | undefined): Promise<EarlierAnswers> {
  const reader = await JournalReader.open(path, index);
  return { comes: (seq) => !(skip?.(seq) ?? false), read: (seq) => reader.read(seq), close: () => reader.close() };
}
