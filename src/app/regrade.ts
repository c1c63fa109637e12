import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { gradedParts, makeChoiceChecker, type ScriptChecks } from '../check/index.js';
import type { ChoiceCheck, ToolCall } from '../check/index.js';
import type { Config } from '../contracts/config.js';
import type { ChoiceGrades } from '../contracts/checks.js';
import type { Cell, Task } from '../contracts/plan.js';
import { evaluationOf } from '../contracts/evaluation.js';
import type { Summary } from '../contracts/summary.js';
import { readRows } from '../dataset/index.js';
import { OutputError, UsageError } from '../errors.js';
import { planTasks } from '../plan/index.js';
import { planFingerprint } from '../plan/index.js';
import { openScriptChecks, prepareRun } from './prepare.js';
import { indexJournal, recordsInOrder, RECORDS, readManifest, RunLock, type JournalIndex, type RunManifest } from '../record/index.js';
import { MANIFEST, writeManifest } from '../record/index.js';
import type { ChoiceRecord, RequestRecord } from '../record/index.js';
import { ReportThread } from '../report/index.js';
import { choiceFails, inputOf } from '../run/index.js';
import { gradeScripts } from '../run/index.js';
import { requestShape } from './run-manifest.js';
import { canonicalJson } from '../util/canonical-json.js';
import { createHttpExecutor, openProvider } from '../run/index.js';
import { openEndpoint } from './endpoint.js';
import { judgeChecks, Judging } from './judging.js';
import { openBudget, withBudget } from './budget.js';
import { loadWorstCase } from '../plan/index.js';
import type { Budget } from '../run/index.js';

export interface RegradeOptions {
  dir: string;
  /** The config to grade with; default: the run's own (run.json's config_file), as it reads now. */
  config?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  onNotice?: ((message: string) => void) | undefined;
  /** `--max-cost`: the spend limit in USD for the run directory, over the config's `budget_usd` (judge calls). */
  maxCost?: number | undefined;
}

export interface RegradeResult {
  dir: string;
  summary: Summary;
  configFile: string;
  /** Requests whose records were graded again. */
  regraded: number;
  /** Judge calls sent to the provider (a changed judge); 0 when every verdict was read back. No answer is ever sent. */
  judgeCalls: number;
}

/** Records graded ahead of the one being written: several batches queued for the script-check pool, memory bounded. */
const WINDOW = 256;
/** records.jsonl is written, and handed to the report thread, in chunks of about this many characters, not per record. */
const CHUNK = 1 << 20;
const STAGING = /^regrade\.staging-\d+$/;

/**
 * `evalrun regrade DIR`: the run's recorded answers graded again with the config's checks (the run's own config, or
 * another whose requests are the same), and every output rewritten. Nothing is sent. The new records.jsonl, run.json
 * and reports are written to a staging folder in DIR first and moved over the old ones only once all are complete.
 */
export async function regradeRun(options: RegradeOptions): Promise<RegradeResult> {
  const dir = resolvePath(options.dir);
  const manifest = await readManifest(dir);
  const configFile = options.config ? resolvePath(options.config) : manifest.config_file;
  if (!configFile) throw new UsageError(`${join(dir, MANIFEST)} names no config file: give the config with --config FILE`);
  const { config, cells, plan, datasetHash, runHash } = await prepareRun({ config: configFile, env: options.env, maxCost: options.maxCost });
  const difference = requestDifference(manifest, config, cells, plan.rows, datasetHash);
  if (difference) throw refused(dir, configFile, difference);
  const lock = await RunLock.acquire(dir, { onTakeover: options.onNotice });
  let scripts: ScriptChecks | undefined;
  let judges: RegradeJudges | undefined;
  let reports: ReportThread | undefined;
  const staging = join(dir, `regrade.staging-${process.pid}`);
  try {
    for (const name of await readdir(dir)) if (STAGING.test(name)) await rm(join(dir, name), { recursive: true, force: true });
    await mkdir(staging);
    let next: RunManifest = {
      ...manifest,
      config_file: config.file,
      config_hash: config.hash,
      run_hash: runHash,
      plan_fingerprint: planFingerprint(config, cells, datasetHash, plan.rows),
      request: requestShape(config),
      schema_file: config.schemaFile ?? null,
      evaluation: evaluationOf(config),
      regrades: [...(manifest.regrades ?? []), { at: new Date().toISOString(), config_file: config.file, config_hash: config.hash, previous_config_hash: manifest.config_hash }],
    };
    // The reports are built from the regraded records' text as it is written, on a thread of their own. Its start,
    // the script checks' (a thread loading the modules) and the pass indexing records.jsonl overlap.
    reports = new ReportThread(next, staging);
    const indexing = indexRecords(dir, manifest);
    indexing.catch(() => {});
    const opening = openScriptChecks(config);
    opening.catch(() => {});
    scripts = await opening;
    const index = await indexing;
    if (judgeChecks(config).length > 0) judges = await openJudges(dir, config, cells, index, manifest, options.env);
    const regraded = await regradeRecords(dir, staging, index, config, cells, scripts, reports, judges);
    // Judge calls were sent under a spend limit: run.json says what the directory has spent, as after a run.
    if (judges?.budget) next = withBudget(next, judges.budget, undefined);
    await writeManifest(staging, next);
    const summary = await reports.finish(next);
    // Everything new is complete: move it over the old, records.jsonl last (until then `evalrun report` would still
    // rebuild the old reports from the old records, never a mix).
    const files = (await readdir(staging)).filter((f) => f !== RECORDS);
    for (const f of [...files, RECORDS]) await rename(join(staging, f), join(dir, f));
    return { dir, summary, configFile: config.file, regraded, judgeCalls: judges?.sent() ?? 0 };
  } finally {
    await rm(staging, { recursive: true, force: true });
    await Promise.all([scripts?.close(), reports?.close(), judges?.close()]);
    await lock.release();
  }
}

async function indexRecords(dir: string, manifest: RunManifest): Promise<JournalIndex> {
  const file = join(dir, RECORDS);
  const index = await indexJournal(file, manifest.plan.requests);
  if (index.count === 0) throw new OutputError(`${file} holds no records: there is nothing to grade. Nothing was rewritten.`, 'EVALRUN_NO_RECORDS');
  return index;
}

/** Walks the plan and the records together, both in plan order, and writes each record graded again. */
async function regradeRecords(
  dir: string,
  staging: string,
  index: JournalIndex,
  config: Config,
  cells: readonly Cell[],
  scripts: ScriptChecks | undefined,
  reports: ReportThread,
  judges?: RegradeJudges,
): Promise<number> {
  const file = join(dir, RECORDS);
  const check = makeChoiceChecker(config, cells);
  const out = createWriteStream(join(staging, RECORDS));
  let lines: string[] = [];
  let size = 0;
  const write = async (r: RequestRecord) => {
    const line = JSON.stringify(r);
    lines.push(line);
    size += line.length + 1;
    if (size >= CHUNK) await flushLines();
  };
  const flushLines = async () => {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    lines = [];
    size = 0;
    await Promise.all([out.write(text) ? undefined : once(out, 'drain'), reports.add(text)]);
  };
  const records = recordsInOrder(file, index)[Symbol.asyncIterator]();
  const queue: Array<Promise<RequestRecord>> = [];
  let count = 0;
  try {
    for await (const task of planTasks(config, cells, readRows(config), (seq) => index.offsets[seq]! < 0)) {
      const next = await records.next();
      if (next.done) break;
      const record = next.value;
      if (record.seq !== task.seq || record.cell !== task.cell.id || record.row_id !== task.row.id) {
        throw new OutputError(
          `${file}: request ${record.seq} was recorded for row '${record.row_id}' in cell ${record.cell}, but the config plans row '${task.row.id}' in cell ${task.cell.id} there: ` +
            `the config's rows or cells differ from the run's (an id_column or dataset change?). Nothing was rewritten.`,
          'EVALRUN_REGRADE_REQUESTS_DIFFER',
        );
      }
      regradeBuiltIn(record, task, check);
      const graded = scripts ? gradeScripts(scripts, record, task) : Promise.resolve(record);
      const regraded = judges ? graded.then((r) => judges.judge(r, task)) : graded;
      // Awaited in turn below; until then a failure (the API refused the judge's key) must not go unhandled.
      regraded.catch(() => {});
      queue.push(regraded);
      if (queue.length >= WINDOW) await write(await queue.shift()!);
      count++;
    }
    while (queue.length) await write(await queue.shift()!);
    await judges?.finish();
    await flushLines();
  } finally {
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    await records.return?.(undefined);
  }
  return count;
}

/** The judge checks of a regrade: their calls sent over the run's provider, the recorded ones read back. */
interface RegradeJudges {
  judge(record: RequestRecord, task: Task): Promise<RequestRecord>;
  /** Judge calls sent so far (not read back, not from the response cache). */
  sent(): number;
  /** The spend limit the calls were sent under (`budget_usd`, `--max-cost`). */
  budget: Budget | undefined;
  /** Waits for the executor to end; throws what stopped it (an API refusal). */
  finish(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Judge checks make `regrade` send requests: the judge calls only (never an answer), through the synchronous
 * executor as a run sends them, each appended to judgments.jsonl as it comes. A call judgments.jsonl already holds
 * with the same body is read back, not sent: regrading with an unchanged judge sends nothing. Under a spend limit the
 * calls are reserved and settled as a run's are, from what the directory has already spent; a call that does not fit
 * stops the regrade (exit 8) with nothing rewritten, and the calls made are kept in judgments.jsonl to be read back.
 */
async function openJudges(dir: string, config: Config, cells: readonly Cell[], index: JournalIndex, manifest: RunManifest, env: NodeJS.ProcessEnv | undefined): Promise<RegradeJudges> {
  const requests = index.offsets.length;
  const budget =
    config.budgetUsd === undefined
      ? undefined
      : await openBudget({
          config,
          cells,
          dir,
          requests,
          worstCase: await loadWorstCase(cells, config.nMode, judgeChecks(config).map((j) => j.judge!.model)),
          recorded: true,
          previousSpentUsd: manifest.budget?.spent_usd,
          factor: 1,
        });
  const server = await openEndpoint(config, { env, simulatorStateDir: join(dir, 'simulator') });
  const provider = await openProvider(server.endpoint, { concurrency: config.concurrency, timeoutMs: config.timeoutS * 1000 }).catch(async (e: unknown) => {
    await server.close();
    throw e;
  });
  const stop = new AbortController();
  const waiting = new Map<number, (r: RequestRecord) => void>();
  const judging = await Judging.open(config, cells, {
    dir,
    requests,
    resume: false,
    reuseAll: true,
    // The walk brings every recorded answer: a pairwise check's baseline it does not bring was never recorded.
    earlier: { comes: (seq) => index.offsets[seq]! >= 0, read: () => Promise.resolve(undefined) },
    redact: provider.redact,
    onFailure: () => stop.abort(),
    stop: stop.signal,
    answer: (record) => {
      waiting.get(record.seq)?.(record);
      waiting.delete(record.seq);
    },
  });
  let walked: () => void = () => {};
  const walk = new Promise<void>((resolve) => (walked = resolve));
  const noAnswers = (async function* (): AsyncGenerator<Task> {
    await walk;
  })();
  const executor = createHttpExecutor({ provider, config, check: makeChoiceChecker(config, cells), budget });
  let sent = 0;
  const execution = executor.execute(judging.tasks(noAnswers), {
    stop: stop.signal,
    abort: stop.signal,
    onRecord: (r, t) => {
      if (!r.cached) sent++;
      budget?.settle(r, t);
      judging.onRecord(r, t);
    },
    onSettled: () => judging.onSettled(),
  });
  // A fatal answer (a refused key) or the budget's refusal ends the executor: every record still waiting is then
  // released unjudged.
  const why = (result: { fatal?: unknown }) =>
    result.fatal ??
    budget?.stopError('the judge calls made are kept in judgments.jsonl, and nothing was rewritten. Regrade again with a higher budget (--max-cost USD): the calls made are read back, not sent again.');
  let fatal: unknown;
  void execution.then((result) => {
    if (why(result) === undefined) return;
    fatal = why(result);
    stop.abort();
    for (const [, release] of waiting) release(undefined as unknown as RequestRecord);
  });
  // What stopped the judge calls (the API's refusal, with its exit code and message) is what the user is told.
  const stopped = () => fatal ?? new OutputError('the judge calls were stopped: nothing was rewritten', 'EVALRUN_REGRADE_JUDGES');
  return {
    judge: (record, task) =>
      new Promise<RequestRecord>((resolve, reject) => {
        if (stop.signal.aborted) return reject(stopped());
        waiting.set(record.seq, (r) => (r ? resolve(r) : reject(stopped())));
        judging.regrade(record, task);
      }),
    sent: () => sent,
    budget,
    async finish() {
      walked();
      const result = await execution;
      if (why(result) !== undefined) throw fatal ?? why(result);
    },
    async close() {
      walked();
      stop.abort();
      await execution.catch(() => undefined);
      await judging.close();
      await provider.close();
      await server.close();
    },
  };
}

/**
 * The fields a grading wrote on a choice: replaced whole, so a check removed from the config leaves nothing behind.
 * Every key of ChoiceGrades, and only those (the compiler holds the list to the type).
 */
const GRADED_FIELDS = Object.keys({
  json_valid: true,
  schema_valid: true,
  schema_errors: true,
  checks: true,
  tool_args_valid: true,
  check_details: true,
  check_scores: true,
  check_reasons: true,
  check_human: true,
} satisfies Record<keyof ChoiceGrades, true>) as Array<keyof ChoiceGrades>;

function regradeBuiltIn(record: RequestRecord, task: Task, check: ReturnType<typeof makeChoiceChecker>): void {
  if (record.error !== null) return;
  for (const c of record.choices) {
    if (c.error !== undefined) continue;
    const calls: ToolCall[] | null = c.tool_calls?.length ? c.tool_calls.map((t) => ({ id: t.id ?? null, name: t.name, arguments: t.arguments, ...(t.type !== undefined ? { type: t.type } : {}) })) : null;
    const parts = gradedParts({ content: c.content, refusal: c.refusal, finish_reason: c.finish_reason, hasToolCalls: calls !== null });
    const graded: ChoiceCheck = check(task, c.content, calls, parts.content, parts.nothing);
    const choice = c as ChoiceRecord & Record<string, unknown>;
    for (const f of GRADED_FIELDS) delete choice[f];
    Object.assign(choice, graded);
  }
  if (record.choices.some(choiceFails)) record.input = inputOf(task);
  else delete record.input;
}

/** What a config would send differently from what the run sent, in words; undefined when the requests are the same. */
export function requestDifference(m: RunManifest, config: Config, cells: readonly Cell[], rows: number, datasetHash: string): string | undefined {
  if (m.dataset_hash !== datasetHash) return 'the dataset differs from the one the run sent (its bytes have changed)';
  if (m.plan.rows !== rows) return `the dataset has ${rows} rows; the run sent ${m.plan.rows}`;
  const had = m.plan.cells;
  for (let i = 0; i < Math.max(had.length, cells.length); i++) {
    const a = had[i];
    const b = cells[i];
    if (!a) return `the config adds cell ${b!.id}, which the run did not send`;
    if (!b) return `the config drops cell ${a.id}, which the run sent`;
    if (a.id !== b.id) return `cell ${i + 1} is ${b.id} in the config but ${a.id} in the run`;
    if (a.n !== b.n) return `cell ${a.id}: n ${b.n} in the config, ${a.n} in the run`;
    const keys = [...new Set([...Object.keys(a.params), ...Object.keys(b.params)])];
    for (const k of keys) {
      if (canonicalJson(a.params[k] ?? null) !== canonicalJson(b.params[k] ?? null)) {
        return `cell ${a.id}: '${k}' is ${show(b.params[k])} in the config but the run sent ${show(a.params[k])}`;
      }
    }
    if ((a.prompt ?? null) !== (b.prompt ?? null)) return `cell ${a.id}: prompt '${b.prompt}' in the config, '${a.prompt}' in the run`;
  }
  const variants = Object.fromEntries((config.prompts ?? []).map((v) => [v.name, v.messages]));
  for (const name of new Set([...Object.keys(m.prompts ?? {}), ...Object.keys(variants)])) {
    if (canonicalJson(m.prompts?.[name] ?? null) !== canonicalJson(variants[name] ?? null)) return `prompt variant '${name}' sends other messages than the run did`;
  }
  if (m.request) {
    const now = requestShape(config);
    if (canonicalJson(m.request.messages) !== canonicalJson(now.messages)) return "the message template ('messages') differs from the run's";
    if (m.request.id_column !== now.id_column) return `id_column is ${show(now.id_column)} in the config, ${show(m.request.id_column)} in the run`;
    if (m.request.n_mode !== now.n_mode) return `n_mode is ${now.n_mode} in the config, ${m.request.n_mode} in the run`;
  }
  return undefined;
}

function show(v: unknown): string {
  return v === undefined ? '(unset)' : (JSON.stringify(v) ?? String(v));
}

function refused(dir: string, configFile: string, difference: string): OutputError {
  return new OutputError(
    `Cannot regrade ${dir} with ${configFile}: its requests differ from the run's: ${difference}. Regrading re-checks recorded answers ` +
      `and sends nothing, so the requests must be the same; to send the new ones, start a new run. Nothing was rewritten.`,
    'EVALRUN_REGRADE_REQUESTS_DIFFER',
  );
}
