import { setMaxListeners } from 'node:events';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { ValidateFunction } from 'ajv';
import type { Config } from './config/types.js';
import { readRows } from './dataset/load.js';
import { ApiFatalError, ExitCode, InterruptedError, OutputError, UsageError, type EvalrunError } from './errors.js';
import { planTasks, summarizePlan, type PlanSummary } from './plan/build-plan.js';
import { checkShardResume, shardRange, shardRows, type ShardSpec } from './plan/shard.js';
import { planFingerprint } from './plan/fingerprint.js';
import { prepareRun, type PrepareOptions } from './prepare-run.js';
import type { Cell } from './plan/types.js';
import { compileSchema, compileTools, type ToolValidators } from './check/validators.js';
import { checkJsonOutput, checkToolCalls, NOT_CHECKED, parseJson, type ChoiceCheck, type ParsedJson } from './check/json-output.js';
import { makeCheckRunner } from './check/checks.js';
import { evaluationOf } from './record/evaluation.js';
import { openProvider, type Provider } from './run/provider.js';
import type { ExecuteDeps } from './run/execute-task.js';
import { openEndpoint, type OpenEndpoint } from './endpoint.js';
import { createHttpExecutor, type Executor } from './run/executor.js';
import { createBatchExecutor, type BatchProgress } from './run/batch/batch-executor.js';
import { randomUUID } from 'node:crypto';
import { Journal } from './record/journal.js';
import { failedRequests, indexJournal } from './record/read-journal.js';
import { MANIFEST, RECORDS, readManifest, writeManifest, writeManifestSync, type RunManifest, type RunStatus } from './record/manifest.js';
import { LOCK, RunLock } from './record/run-lock.js';
import type { RequestRecord } from './record/types.js';
import { recordedInSummary, writeReports, type Summary } from './report/write-reports.js';
import { LiveReport } from './report/live-report.js';
import { TEMP_FILE } from './util/atomic-write.js';
import { versions } from './util/version.js';

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
  /** `evalrun cancel`: resume the run's batch side only to cancel its live batches and record what they finished. */
  cancelBatches?: boolean | undefined;
}

export interface RunReporter {
  /** `retrying`: requests recorded as failed that are sent again (`retryErrors`). */
  onStart?(info: { dir: string; plan: PlanSummary; alreadyRecorded: number; retrying?: number; config: Config; batch?: boolean }): void;
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
export async function runEval(options: RunEvalOptions): Promise<RunResult> {
  const { config, cells, plan, datasetHash, runHash } = await prepareRun(options);
  const resume = Boolean(options.resume || options.retryErrors);
  if (resume && !options.out) throw new UsageError('resume needs the run directory to continue (--out DIR)');
  const explicit = options.out ? resolvePath(options.out) : undefined;
  const takeLock = (dir: string) => RunLock.acquire(dir, { onTakeover: (m) => options.reporter?.onNotice?.(m) });
  // A resumed directory is locked before anything in it is read: another process may be writing it right now.
  let lock = explicit && resume ? await lockExisting(explicit, takeLock) : undefined;
  let server: OpenEndpoint | undefined;
  let opened: Provider | undefined;
  // Shards: the plan stays the whole run's (seqs are global); only the rows sent are this shard's.
  const shard = options.shard ? shardRange(options.shard, plan.rows, cells) : undefined;
  let live: LiveReport | undefined;
  try {
    const previous = explicit ? (resume ? await checkResumable(explicit, runHash) : await checkFresh(explicit)) : undefined;
    if (previous) checkShardResume(explicit!, previous.shard, shard);
    // The provider is opened before the directory exists: a missing key must leave nothing behind.
    server = await openEndpoint(config, { env: options.env });
    const provider = openProvider(server.endpoint, { concurrency: config.concurrency, timeoutMs: config.timeoutS * 1000 });
    opened = provider;
    // Ctrl-C while the datasets were being checked: nothing was sent, so nothing is written either.
    if (options.signal?.aborted || options.abortSignal?.aborted) throw new InterruptedError('Interrupted before the first request: nothing was sent and nothing was written.');
    const dir = explicit ?? (await createRunDir(join('results', `${config.name}-${timestamp()}`)));
    if (explicit) await mkdir(dir, { recursive: true });
    if (!lock) {
      lock = await takeLock(dir);
      // Another fresh run may have claimed the directory between the check above and the lock.
      if (explicit) await checkFresh(dir);
    }
    // A killed session may have left a report half-written; the files are derived again at the end.
    if (previous) await removeTempFiles(dir);
    const index = previous ? await indexJournal(join(dir, RECORDS), plan.requests) : undefined;
    if (previous && index) await checkJournalIntact(dir, previous, index.count);
    // Requests to send again: recorded, but their latest record is a failure.
    const retry = index && options.retryErrors ? await failedRequests(join(dir, RECORDS), index) : undefined;
    const skip = index ? (seq: number) => index.offsets[seq]! >= 0 && !(retry?.seqs[seq] === 1) : undefined;
    const now = new Date().toISOString();
    const manifest: RunManifest = previous
      ? { ...previous, status: 'running', ended_at: null, exit_code: null, provider: { kind: provider.kind, base_url: provider.shownBaseUrl } }
      : {
          format: 'evalrun-run/1',
          name: config.name,
          config_file: config.file,
          run_hash: runHash,
          config_hash: config.hash,
          dataset_hash: datasetHash,
          status: 'running',
          started_at: now,
          ended_at: null,
          exit_code: null,
          versions,
          provider: { kind: provider.kind, base_url: provider.shownBaseUrl },
          plan: { rows: plan.rows, requests: plan.requests, choices: plan.choices, cells: cells.map((c) => ({ id: c.id, params: c.params, ...(c.prompt !== undefined ? { prompt: c.prompt } : {}), n: c.n, json_mode: c.jsonMode })) },
          ...(config.prompts ? { prompts: Object.fromEntries(config.prompts.map((p) => [p.name, p.messages])) } : {}),
          sessions: [],
          schema_file: config.schemaFile ?? null,
          plan_fingerprint: planFingerprint(config, cells, datasetHash, plan.rows),
          ...(shard ? { shard } : {}),
        };
    // Batch mode: asked for now, or the run has batches already (they are polled whatever the flags say).
    if (!manifest.batch && config.batch && !options.cancelBatches) manifest.batch = { run_id: randomUUID(), poll_s: config.batch.pollS, max_requests: config.batch.maxRequests, parts: [] };
    if (options.cancelBatches && !manifest.batch?.parts.some((p) => p.state === 'intent' || p.state === 'submitted')) {
      throw new UsageError(`${dir} has no live batches to cancel (run.json lists none that are not finished).`);
    }
    manifest.sessions = [...manifest.sessions, { started_at: now, ended_at: null, status: 'running', recorded: 0 }];
    // Gates, comparison and prices may change between sessions (they judge, not produce, the records).
    manifest.evaluation = evaluationOf(config);
    await writeManifest(dir, manifest);
    const journal = await Journal.open(join(dir, RECORDS), index?.validBytes);
    // A fresh run's reports are built as its records come in; a resumed run's come from records.jsonl afterwards.
    // Not in batch mode: a batch's answers come one model's part at a time, never in plan order, so the live report
    // would only hold them waiting; the reports are built from records.jsonl at the end instead.
    live = index || manifest.batch ? undefined : new LiveReport(dir, manifest);
    options.reporter?.onStart?.({ dir, plan: shard ? summarizePlan(shard.rows[1] - shard.rows[0], cells) : plan, alreadyRecorded: (index?.count ?? 0) - (retry?.count ?? 0), retrying: retry?.count ?? 0, config, batch: manifest.batch !== undefined });

    // Two stages of stopping: `stopping` sends nothing more (Ctrl-C); `abort` also ends what is in flight (a second
    // Ctrl-C, or the grace period running out).
    const stopping = new AbortController();
    const abort = new AbortController();
    // Retry and pacing waits listen on it.
    setMaxListeners(0, abort.signal);
    let grace: NodeJS.Timeout | undefined;
    const hardStop = () => {
      stopping.abort();
      abort.abort();
    };
    const onStop = () => {
      stopping.abort();
      grace = setTimeout(hardStop, options.graceMs ?? 30_000);
      grace.unref();
    };
    let recorded = 0;
    const onHardStop = () => {
      // A hard stop may be followed by process.exit at once: hand finished records to the OS first, and leave
      // run.json saying how the run ended, not 'running'.
      journal.flushSync();
      live?.discardSync();
      hardStop();
      const ended = new Date().toISOString();
      manifest.sessions[manifest.sessions.length - 1] = { ...manifest.sessions.at(-1)!, ended_at: ended, status: 'interrupted', recorded };
      writeManifestSync(dir, { ...manifest, status: 'interrupted', ended_at: ended, exit_code: ExitCode.Interrupted });
      lock?.releaseSync();
    };
    options.signal?.addEventListener('abort', onStop, { once: true });
    options.abortSignal?.addEventListener('abort', onHardStop, { once: true });
    const rowsOf = () => (shard ? shardRows(readRows(config), shard) : readRows(config));
    const check = makeChecker(config, cells);
    const batchState = manifest.batch;
    const executor: Executor = batchState
      ? createBatchExecutor({
          endpoint: server.endpoint,
          config,
          batch: config.batch ?? { pollS: batchState.poll_s, maxRequests: batchState.max_requests },
          check,
          redact: provider.redact,
          dir,
          state: batchState,
          runStartedAt: manifest.started_at,
          save: () => writeManifest(dir, manifest),
          replan: (want) => planTasks(config, cells, rowsOf(), (seq) => !want(seq) || (skip?.(seq) ?? false)),
          cancel: options.cancelBatches,
          onProgress: (p) => options.reporter?.onBatchProgress?.(p),
          onNotice: (m) => options.reporter?.onNotice?.(m),
        })
      : createHttpExecutor({ provider, config, check, onAttempt: (o) => options.reporter?.onAttempt?.(o) });
    const result = await executor.execute(planTasks(config, cells, rowsOf(), skip), {
      stop: stopping.signal,
      abort: abort.signal,
      onRecord: (record) => {
        journal.append(record);
        recorded++;
        live?.add(record);
        options.reporter?.onRecord?.(record);
      },
    });
    clearTimeout(grace);
    options.signal?.removeEventListener('abort', onStop);
    options.abortSignal?.removeEventListener('abort', onHardStop);
    await journal.close();

    const fatal = result.fatal;
    const status: RunStatus = fatal ? 'stopped' : stopping.signal.aborted || options.cancelBatches ? 'interrupted' : 'complete';
    manifest.status = status;
    manifest.ended_at = new Date().toISOString();
    manifest.sessions[manifest.sessions.length - 1] = { ...manifest.sessions.at(-1)!, ended_at: manifest.ended_at, status, recorded: result.recorded };
    const summary = (await live?.finish(manifest)) ?? (await writeReports(dir, manifest));
    const error = fatal instanceof ApiFatalError ? fatal : undefined;
    if (fatal && !error) throw fatal;
    const exitCode: ExitCode = error
      ? ExitCode.Api
      : status === 'interrupted'
        ? ExitCode.Interrupted
        : !summary.complete || summary.recorded.failed_requests > 0 || (summary.gates?.failed ?? 0) > 0
          ? ExitCode.CheckFailures
          : ExitCode.Ok;
    manifest.exit_code = exitCode;
    await writeManifest(dir, manifest);
    return { dir, status, exitCode, summary, error };
  } finally {
    // After an error on the way (its partial choices.csv must not stay behind); a no-op after finish.
    await live?.discard();
    await opened?.close();
    await server?.close();
    await lock?.release();
  }
}

/**
 * A journal that lost records (deleted, truncated, replaced) must not be resumed: the requests it lost would be sent
 * and paid for again, and the reports rebuilt from it would drop the answers they show.
 */
async function checkJournalIntact(dir: string, previous: RunManifest, count: number): Promise<void> {
  const appended = previous.sessions.reduce((s, x) => s + x.recorded, 0);
  const shown = await recordedInSummary(dir);
  const expected = Math.max(shown ?? 0, count === 0 ? appended : 0);
  if (count < expected) {
    throw new OutputError(
      `cannot resume ${dir}: ${join(dir, RECORDS)} holds ${count} recorded requests, but ${shown !== undefined && shown >= expected ? 'summary.json shows' : 'run.json counts'} ${expected}: records were lost from it (deleted, truncated or replaced?). ` +
        `Resuming would send those requests again and pay twice. Nothing was sent or rewritten; restore records.jsonl from a backup or the CI artifact.`,
      'EVALRUN_RECORDS_LOST',
    );
  }
}

/** Locks a directory that should hold a run; a missing one is left for checkResumable to explain. */
async function lockExisting(dir: string, take: (dir: string) => Promise<RunLock>): Promise<RunLock | undefined> {
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  return isDir ? take(dir) : undefined;
}

function makeChecker(config: Config, cells: Cell[]): ExecuteDeps['check'] {
  const validators: Array<ValidateFunction | undefined> = cells.map((c) => {
    const own = (c.params['response_format'] as { json_schema?: { schema?: Record<string, unknown> } } | undefined)?.json_schema?.schema;
    const schema = config.schema ?? own;
    return schema ? compileSchema(schema) : undefined;
  });
  // Each cell's tools, compiled once per cell (and once per schema object: cells sharing `tools` share them).
  const tools: ToolValidators[] = cells.map((c) => compileTools(c.params['tools']));
  const grade = makeCheckRunner(config.checks ?? []);
  return (task, content, toolCalls, gradeContent = true) => {
    let parsed: ParsedJson | undefined;
    const parse = () => (parsed ??= parseJson(content));
    let check: ChoiceCheck = gradeContent && task.cell.jsonMode ? checkJsonOutput(content, validators[task.cell.index], parse()) : NOT_CHECKED;
    const parsedArgs = toolCalls?.map((c) => parseJson(c.arguments));
    if (toolCalls?.length) {
      const args = checkToolCalls(toolCalls, tools[task.cell.index]!, parsedArgs);
      check = { ...check, schema_errors: [...check.schema_errors, ...args.errors], tool_args_valid: args.valid };
    }
    // Checks compare with the dataset row, which records do not carry: they are graded here, once, per choice.
    if (!grade) return check;
    const details: NonNullable<ChoiceCheck['check_details']> = {};
    const checks = grade(content, task.row.vars, parse, { toolCalls: toolCalls ?? null, parsedArgs, gradeContent }, details);
    return Object.keys(details).length ? { ...check, checks, check_details: details } : { ...check, checks };
  };
}

async function checkFresh(dir: string): Promise<undefined> {
  const entries = await readdir(dir).catch(() => undefined);
  if (entries === undefined) {
    const isFile = await stat(dir).then((s) => !s.isDirectory(), () => false);
    if (isFile) throw new OutputError(`--out ${dir} is a file, not a directory`);
    return undefined;
  }
  if (entries.includes(MANIFEST) || entries.includes(RECORDS)) {
    throw new OutputError(
      `${dir} already holds a run; evalrun never overwrites results. Continue it with --resume, or choose another --out.`,
      'EVALRUN_OUT_EXISTS',
    );
  }
  // Our own lock, or a dead process's left before it wrote anything.
  if (entries.some((e) => e !== LOCK)) throw new OutputError(`${dir} is not empty; choose an empty or new directory for --out`, 'EVALRUN_OUT_EXISTS');
  return undefined;
}

async function removeTempFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (TEMP_FILE.test(name)) await rm(join(dir, name), { force: true });
  }
}

async function checkResumable(dir: string, runHash: string): Promise<RunManifest> {
  const manifest = await readManifest(dir);
  if (manifest.run_hash !== runHash) {
    throw new OutputError(
      `cannot resume ${dir}: the config or the dataset changed since this run started (run hash ${manifest.run_hash}, now ${runHash}). Resuming would mix results of two different evaluations; start a new run instead (another --out).`,
      'EVALRUN_RESUME_MISMATCH',
    );
  }
  return manifest;
}

/**
 * Creates the default run directory. mkdir without `recursive` fails if the directory exists, so two runs started in
 * the same second cannot both claim it: the second gets `-2`, the next `-3`, …
 */
async function createRunDir(base: string): Promise<string> {
  await mkdir(dirname(resolvePath(base)), { recursive: true });
  for (let i = 1; ; i++) {
    const dir = resolvePath(i === 1 ? base : `${base}-${i}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}
