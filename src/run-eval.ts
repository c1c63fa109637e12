import { setMaxListeners } from 'node:events';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { ValidateFunction } from 'ajv';
import type { Config } from './config/types.js';
import { readRows } from './dataset/load.js';
import { ApiFatalError, ExitCode, InterruptedError, OutputError, UsageError, type EvalrunError } from './errors.js';
import { planTasks, type PlanSummary } from './plan/build-plan.js';
import { prepareRun, type PrepareOptions } from './prepare-run.js';
import type { Cell, Task } from './plan/types.js';
import { compileSchema } from './check/validators.js';
import { checkJsonOutput, NOT_CHECKED, parseJson, type ParsedJson } from './check/json-output.js';
import { makeCheckRunner } from './check/checks.js';
import { evaluationOf } from './record/evaluation.js';
import { openProvider } from './run/provider.js';
import { openEndpoint } from './endpoint.js';
import { createHttpExecutor } from './run/executor.js';
import { Journal } from './record/journal.js';
import { indexJournal } from './record/read-journal.js';
import { MANIFEST, RECORDS, readManifest, writeManifest, type RunManifest, type RunStatus } from './record/manifest.js';
import type { RequestRecord } from './record/types.js';
import { writeReports, type Summary } from './report/write-reports.js';
import { LiveReport } from './report/live-report.js';
import { TEMP_FILE } from './util/atomic-write.js';
import { versions } from './util/version.js';

export interface RunEvalOptions extends PrepareOptions {
  /** The run directory. Default: results/<name>-<timestamp> under the working directory. */
  out?: string | undefined;
  /** Continue the run in `out`: skip what is recorded, send the rest. */
  resume?: boolean | undefined;
  /** Stop dispatching when aborted (Ctrl-C): in-flight requests finish within `graceMs`, then are abandoned. */
  signal?: AbortSignal | undefined;
  /** Abort in-flight requests at once (a second Ctrl-C). */
  abortSignal?: AbortSignal | undefined;
  graceMs?: number | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  reporter?: RunReporter | undefined;
}

export interface RunReporter {
  onStart?(info: { dir: string; plan: PlanSummary; alreadyRecorded: number; config: Config }): void;
  onRecord?(record: RequestRecord): void;
  onAttempt?(outcome: { status: number | undefined; retrying: boolean }): void;
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
  if (options.resume && !options.out) throw new UsageError('resume needs the run directory to continue (--out DIR)');
  const explicit = options.out ? resolvePath(options.out) : undefined;
  const previous = explicit ? (options.resume ? await checkResumable(explicit, runHash) : await checkFresh(explicit)) : undefined;
  // The provider is opened before the directory exists: a missing key must leave nothing behind.
  const server = await openEndpoint(config, { env: options.env });
  const provider = openProvider(server.endpoint, { concurrency: config.concurrency, timeoutMs: config.timeoutS * 1000 });
  let live: LiveReport | undefined;
  try {
    // Ctrl-C while the datasets were being checked: nothing was sent, so nothing is written either.
    if (options.signal?.aborted || options.abortSignal?.aborted) throw new InterruptedError('Interrupted before the first request: nothing was sent and nothing was written.');
    const dir = explicit ?? (await createRunDir(join('results', `${config.name}-${timestamp()}`)));
    if (explicit) await mkdir(dir, { recursive: true });
    // A killed session may have left a report half-written; the files are derived again at the end.
    if (previous) await removeTempFiles(dir);
    const index = previous ? await indexJournal(join(dir, RECORDS), plan.requests) : undefined;
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
          plan: { rows: plan.rows, requests: plan.requests, choices: plan.choices, cells: cells.map((c) => ({ id: c.id, params: c.params, n: c.n, json_mode: c.jsonMode })) },
          sessions: [],
          schema_file: config.schemaFile ?? null,
        };
    manifest.sessions = [...manifest.sessions, { started_at: now, ended_at: null, status: 'running', recorded: 0 }];
    // Gates, comparison and prices may change between sessions (they judge, not produce, the records).
    manifest.evaluation = evaluationOf(config);
    await writeManifest(dir, manifest);
    const journal = await Journal.open(join(dir, RECORDS), index?.validBytes);
    // A fresh run's reports are built as its records come in; a resumed run's come from records.jsonl afterwards.
    live = index ? undefined : new LiveReport(dir, manifest);
    options.reporter?.onStart?.({ dir, plan, alreadyRecorded: index?.count ?? 0, config });

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
    const onHardStop = () => {
      // A hard stop may be followed by process.exit at once: hand finished records to the OS first.
      journal.flushSync();
      live?.discardSync();
      hardStop();
    };
    options.signal?.addEventListener('abort', onStop, { once: true });
    options.abortSignal?.addEventListener('abort', onHardStop, { once: true });
    const executor = createHttpExecutor({ provider, config, check: makeChecker(config, cells), onAttempt: (o) => options.reporter?.onAttempt?.(o) });
    const result = await executor.execute(planTasks(config, cells, readRows(config), index ? (seq) => index.offsets[seq]! >= 0 : undefined), {
      stop: stopping.signal,
      abort: abort.signal,
      onRecord: (record) => {
        journal.append(record);
        live?.add(record);
        options.reporter?.onRecord?.(record);
      },
    });
    clearTimeout(grace);
    options.signal?.removeEventListener('abort', onStop);
    options.abortSignal?.removeEventListener('abort', onHardStop);
    await journal.close();

    const fatal = result.fatal;
    const status: RunStatus = fatal ? 'stopped' : stopping.signal.aborted ? 'interrupted' : 'complete';
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
    await provider.close();
    await server.close();
  }
}

function makeChecker(config: Config, cells: Cell[]): (task: Task, content: string | null) => ReturnType<typeof checkJsonOutput> {
  const validators: Array<ValidateFunction | undefined> = cells.map((c) => {
    const own = (c.params['response_format'] as { json_schema?: { schema?: Record<string, unknown> } } | undefined)?.json_schema?.schema;
    const schema = config.schema ?? own;
    return schema ? compileSchema(schema) : undefined;
  });
  const grade = makeCheckRunner(config.checks ?? []);
  return (task, content) => {
    let parsed: ParsedJson | undefined;
    const parse = () => (parsed ??= parseJson(content));
    const json = task.cell.jsonMode ? checkJsonOutput(content, validators[task.cell.index], parse()) : NOT_CHECKED;
    // Checks compare with the dataset row, which records do not carry: they are graded here, once, per choice.
    return grade ? { ...json, checks: grade(content, task.row.vars, parse) } : json;
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
  if (entries.length > 0) throw new OutputError(`${dir} is not empty; choose an empty or new directory for --out`, 'EVALRUN_OUT_EXISTS');
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
