/**
 * The Batch API executor: the plan goes out as JSONL files (one model each, ≤ max_requests lines), each becomes a
 * batch, the batches are polled, and their output and error files are streamed line by line into records.jsonl with
 * the same records the synchronous executor writes. The order of steps is the never-pay-twice protocol of
 * docs/decisions.md: intent in run.json before the upload, the batch id right after create, discovery by metadata on
 * resume, results recorded before a part is closed, retries only for lines the provider never ran or answered with
 * a retryable failure, within retry.max_attempts. A request the provider reports as run is never sent again
 * automatically: when its answer cannot be read it is recorded as `batch_result_lost` (src/run/batch/ingest.ts).
 */
import { mkdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { BatchOptions, Config } from '../../contracts/config.js';
import { ApiFatalError, BatchStoppedError } from '../../errors.js';
import type { Task } from '../../contracts/plan.js';
import type { BatchManifest, BatchPart } from '../../record/index.js';
import type { Endpoint } from '../provider.js';
import type { ChoiceChecker } from '../../check/index.js';
import { successRecord } from '../answer-record.js';
import type { ResponseCache } from '../cache.js';
import type { Executor, ExecutorResult } from '../executor.js';
import { BatchApiError, batchFailure, openAiBatchApi, type Batch, type BatchApi } from './batch-api.js';
import { retryDelayMs, sleep, withRetry, type RetryPolicy } from '../retry.js';
import { buildBatchFiles, diskSink, linesOf } from './build-files.js';
import type { RequestRecord } from '../../record/index.js';
import { ingestPart, type IngestResult } from './ingest.js';
import { lineOutcome } from './parse-line.js';
import type { BatchOutputLine } from './types.js';
import { anyOf, runSet, toRuns } from './seq-runs.js';
import { gradeScripts } from '../grade-scripts.js';
import { roundTo } from '../../util/round.js';
import type { ScriptChecks } from '../../check/index.js';
import type { Budget } from '../budget.js';

export interface BatchProgress {
  /** Live and finished batches of this run, by the provider's status. */
  byStatus: Record<string, number>;
  /** Requests recorded this session: answered, and failed for good. */
  done: number;
  failed: number;
  /** Requests in live batches. */
  pending: number;
  /** Seconds spent waiting on the provider this session. */
  waitingS: number;
  /** A result file being downloaded: bytes so far. */
  downloading?: { file: string; bytes: number } | undefined;
  /** Parts refused for the enqueued-token limit: seconds until the next try. */
  limitWaitS?: number | undefined;
}

export type PausePoint = 'after-upload' | 'after-create' | 'ingesting';

export interface BatchExecutorOptions {
  endpoint: Endpoint;
  config: Pick<Config, 'retry' | 'timeoutS' | 'nMode'>;
  /** The largest n of the plan's cells: with `n_mode: repeat` a request is up to that many lines. */
  maxN: number;
  batch: BatchOptions;
  check: ChoiceChecker;
  /** The run's script checks, graded on each record before it is handed on. */
  scripts?: ScriptChecks | undefined;
  redact: (text: string) => string;
  /** The run directory: input files are built under DIR/batches. */
  dir: string;
  /** run.json's batch section, owned by the caller, changed here in place; `save` writes run.json atomically. */
  state: BatchManifest;
  /** When the run started (run.json `started_at`): batches listed older than it are not the run's. */
  runStartedAt: string;
  save: () => Promise<void>;
  /** The plan's tasks again, those `want` accepts (and not recorded when the session started). */
  replan: (want: (seq: number) => boolean) => AsyncIterable<Task>;
  /** `evalrun cancel`: submit nothing, cancel the live batches, record what they finished. */
  cancel?: boolean | undefined;
  /** `evalrun cancel --abandon`: forget the live batches the server no longer knows (404). */
  abandon?: boolean | undefined;
  /** The response cache: read before the files are built, written with the batches' answers. */
  cache?: ResponseCache | undefined;
  /** The Batch API; default the OpenAI SDK over the endpoint. */
  api?: BatchApi | undefined;
  /** A test hook: called at the protocol's dangerous instants (test/e2e/batch.test.ts kills the process there). */
  pause?: ((point: PausePoint) => Promise<void>) | undefined;
  onProgress?: ((p: BatchProgress) => void) | undefined;
  onNotice?: ((message: string) => void) | undefined;
  /**
   * The spend limit: each request's worst case is reserved as its line is chosen for a part; the first that does not
   * fit ends the part and the plan (the parts already built are submitted and polled to the end).
   */
  budget?: Budget | undefined;
}

const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
/** The statuses the Batch API documents; anything else is reported once and polled like a live batch. */
const KNOWN = new Set([...FINAL, 'validating', 'in_progress', 'finalizing', 'cancelling']);
/** Batches created this long before the run started are still looked at (clocks differ). */
const CLOCK_SLACK_S = 600;
/** A batch not final this long past its expires_at is the provider's problem: the run stops instead of polling on. */
const OVERDUE_S = 3600;
/** The least poll interval against a remote server; a loopback server (the simulator, a test server) has none. */
const MIN_REMOTE_POLL_MS = 5000;
/** Waits after an enqueued-token-limit refusal: doubling from a minute (poll_s on loopback) up to 30 minutes, 8 tries. */
const LIMIT_WAIT_BASE_MS = 60_000;
const LIMIT_WAIT_MAX_MS = 30 * 60_000;
const MAX_LIMIT_WAITS = 8;
/** A refused part is split so each piece's tokens stay under this share of the stated limit. */
const LIMIT_FILL = 0.8;

export function createBatchExecutor(options: BatchExecutorOptions): Executor {
  return { execute: (tasks, run) => new BatchSession(options, run).execute(tasks) };
}

/** The test hook of the kill -9 tests: inert unless EVALRUN_TEST_PAUSE_AT names the point; then it waits to be killed. */
export function envPause(env: NodeJS.ProcessEnv): ((point: PausePoint) => Promise<void>) | undefined {
  const at = env['EVALRUN_TEST_PAUSE_AT'];
  if (!at) return undefined;
  return async (point) => {
    if (point !== at) return;
    process.stderr.write(`evalrun test pause: ${point}\n`);
    await new Promise<never>(() => setInterval(() => {}, 60_000));
  };
}

type Control = Parameters<Executor['execute']>[1];

/** A part refused for a limit, waiting to be submitted again: after `notBefore`, or once no batch of the run runs. */
interface Waiting {
  part: BatchPart;
  notBefore: number;
  afterLive: boolean;
}

class BatchSession {
  private readonly api: BatchApi;
  private readonly state: BatchManifest;
  private readonly maxAttempts: number;
  private readonly local: boolean;
  private readonly repeat: boolean;
  private dispatched = 0;
  private recorded = 0;
  private done = 0;
  private failed = 0;
  private waitingMs = 0;
  private readonly waiting: Waiting[] = [];
  private readonly reportedStatus = new Set<string>();
  private downloading: BatchProgress['downloading'];
  private lastProgress = '';
  private lastBytesShown = 0;
  /** Set when something outside the run stopped it (a batch cancelled by someone else, an overdue batch). */
  private stopped: BatchStoppedError | undefined;

  private readonly o: BatchExecutorOptions;
  private readonly run: Control;

  constructor(o: BatchExecutorOptions, run: Control) {
    this.o = o;
    this.run = run;
    this.api = o.api ?? openAiBatchApi(o.endpoint, o.config.timeoutS * 1000, o.redact);
    this.state = o.state;
    this.maxAttempts = o.config.retry.maxAttempts;
    this.local = isLoopback(o.endpoint.baseUrl);
    this.repeat = o.config.nMode === 'repeat';
  }

  async execute(tasks: AsyncIterable<Task>): Promise<ExecutorResult> {
    try {
      await this.holdLive();
      await this.recoverIntents();
      if (this.o.cancel) await this.cancelLive();
      else await this.submitPlan(tasks);
      if (!this.stopped) await this.pollUntilDone();
      return { dispatched: this.dispatched, recorded: this.recorded, fatal: this.stopped };
    } catch (e) {
      if (this.run.stop.aborted && !(e instanceof BatchApiError && e.status !== undefined)) return { dispatched: this.dispatched, recorded: this.recorded, fatal: undefined };
      return { dispatched: this.dispatched, recorded: this.recorded, fatal: this.fatalOf(e) };
    }
  }

  // ---- submitting ----

  /** A resumed run's live parts were sent by an earlier session: their worst case is reserved before anything new. */
  private async holdLive(): Promise<void> {
    const budget = this.o.budget;
    const live = this.state.parts.filter((p) => p.state === 'intent' || p.state === 'submitted');
    if (!budget || live.length === 0) return;
    for await (const t of this.o.replan(anyOf(live.map((p) => runSet(p.seqs))))) budget.holdSent(t);
  }

  /** Parts killed between their intent and their batch id: adopt the batch the provider has, or submit them now. */
  private async recoverIntents(): Promise<void> {
    const intents = this.state.parts.filter((p) => p.state === 'intent');
    if (intents.length === 0) return;
    const found = await this.findByMetadata(intents);
    for (const part of intents) {
      const batch = found.get(key(part));
      if (batch) {
        this.o.onNotice?.(`Batch part ${part.part}: found batch ${batch.id}, created before the last session stopped; adopted it, nothing is submitted again.`);
        this.adopt(part, batch);
        await this.o.save();
      } else if (this.o.cancel) {
        // Never submitted: its requests go back to the plan for the next resume.
        part.state = 'abandoned';
        await this.o.save();
      } else {
        await this.submit(part);
      }
    }
  }

  /** The run's batches at the provider, keyed by part and attempt (newest first, stopping at the run's start). */
  private async findByMetadata(parts: BatchPart[]): Promise<Map<string, Batch>> {
    const wanted = new Set(parts.map(key));
    const found = new Map<string, Batch>();
    const since = Date.parse(this.o.runStartedAt) / 1000 - CLOCK_SLACK_S;
    for await (const b of this.api.listBatches()) {
      if (b.created_at < since) break;
      const m = b.metadata as Record<string, string> | null | undefined;
      if (!m || m['evalrun_run'] !== this.state.run_id) continue;
      const k = `${m['evalrun_part']}/${m['evalrun_attempt']}`;
      if (wanted.has(k) && !found.has(k)) found.set(k, b);
      if (found.size === wanted.size) break;
    }
    return found;
  }

  /**
   * Streams the plan (minus what live parts hold, minus cache hits, recorded at once) into files; each is recorded,
   * uploaded and created as it is done.
   */
  private async submitPlan(tasks: AsyncIterable<Task>): Promise<void> {
    const live = anyOf(this.state.parts.filter((p) => p.state === 'intent' || p.state === 'submitted').map((p) => runSet(p.seqs)));
    const stop = this.run.stop;
    const cached = (t: Task) => this.fromCache(t);
    async function* fresh() {
      for await (const t of tasks) {
        if (stop.aborted) return;
        if (live(t.seq)) continue;
        if (await cached(t)) continue;
        yield t;
      }
    }
    await this.buildAndSubmit(fresh(), 1);
  }

  /** A cached answer is recorded as cached (not sent, not billed); true when there was one. */
  private async fromCache(task: Task): Promise<boolean> {
    // A repeat set's n answers are cached by the synchronous path under keys of their own: not looked up here.
    if (!this.o.cache || linesOf(task, this.repeat) > 1) return false;
    const hit = await this.o.cache.get(task.body);
    if (!hit) return false;
    const record = successRecord(task, hit.data as Parameters<typeof successRecord>[1], { attempts: 0, latency: hit.latency_ms, t0: performance.now(), startedAt: new Date(), status: hit.status, requestId: hit.request_id }, this.o);
    this.run.onRecord(Object.assign(record, { cached: true }), task);
    this.recorded++;
    this.done++;
    return true;
  }

  private async buildAndSubmit(tasks: AsyncIterable<Task>, attempt: number, maxRequests = this.o.batch.maxRequests, carry: Partial<BatchPart> = {}): Promise<void> {
    const dir = join(this.o.dir, 'batches');
    await mkdir(dir, { recursive: true });
    let next = this.nextPart();
    const tokens = new Map<string, number>();
    const repeat = this.repeat;
    const budget = this.o.budget;
    const counted = async function* (src: AsyncIterable<Task>) {
      for await (const t of src) {
        // A line submitted again (attempt > 1) uses the reservation its request already holds.
        if (budget && !budget.reserveNow(t)) return;
        tokens.set(t.body.model, (tokens.get(t.body.model) ?? 0) + taskTokens(t) * linesOf(t, repeat));
        yield t;
      }
    };
    const built = buildBatchFiles(counted(tasks), { maxRequests, repeat: this.repeat, open: () => diskSink(dir, `part-${next++}`) });
    let t0 = performance.now();
    for await (const f of built) {
      // Stopped while building: the files cut short are never recorded nor sent; a resume builds them again.
      if (this.run.stop.aborted) return;
      const buildS = (performance.now() - t0) / 1000;
      const number = Number(/part-(\d+)\.jsonl$/.exec(f.result)![1]);
      const part: BatchPart = Object.assign({}, carry, {
        part: number,
        attempt,
        model: f.model,
        seqs: toRuns(f.seqs),
        requests: f.requests,
        ...(f.lines !== f.requests ? { lines: f.lines } : {}),
        file: relative(this.o.dir, f.result),
        state: 'intent',
        intent_at: new Date().toISOString(),
        build_s: roundTo(buildS, 3),
        tokens: Math.round(tokens.get(f.model) ?? 0),
      } satisfies BatchPart);
      tokens.set(f.model, 0);
      this.state.parts.push(part);
      this.state.parts.sort((a, b) => a.part - b.part);
      // Step 2: the intent is on disk before anything reaches the provider.
      await this.o.save();
      this.dispatched += f.requests;
      await this.submit(part);
      if (this.run.stop.aborted) return;
      t0 = performance.now();
    }
  }

  private nextPart(): number {
    return this.state.parts.reduce((m, p) => Math.max(m, p.part), 0) + 1;
  }

  /** Upload and create; the id is recorded before anything else. A create that may have reached the API is looked up before it is tried again. */
  private async submit(part: BatchPart): Promise<void> {
    const path = join(this.o.dir, part.file);
    if (!(await stat(path).then(() => true, () => false))) await this.rebuild(part);
    const file = await this.call(() => this.api.uploadFile(path));
    part.input_file_id = file.id;
    await this.o.pause?.('after-upload');
    const metadata = { evalrun_run: this.state.run_id, evalrun_part: String(part.part), evalrun_attempt: String(part.attempt) };
    // A create that failed may have created the batch all the same (no answer, a gateway's 5xx after the upstream
    // created it). Creating another would pay twice, so every attempt after a failed one looks it up first, and
    // creates only once the lookup has answered that it is not there.
    let mayExist = false;
    const batch = await withRetry(
      async () => {
        if (mayExist) {
          const found = (await this.findByMetadata([part])).get(key(part));
          if (found) return found;
        }
        try {
          return await this.api.createBatch(file.id, metadata);
        } catch (e) {
          mayExist = true;
          throw e;
        }
      },
      batchFailure,
      { policy: this.retryPolicy(), sleep: (ms) => this.sleep(ms) },
    );
    await this.o.pause?.('after-create');
    this.adopt(part, batch);
    // Step 4: before polling or anything else.
    await this.o.save();
  }

  /** The input file of a part whose file was lost: the same lines, from the plan. */
  private async rebuild(part: BatchPart): Promise<void> {
    const inPart = runSet(part.seqs);
    const dir = join(this.o.dir, 'batches');
    await mkdir(dir, { recursive: true });
    for await (const f of buildBatchFiles(this.o.replan(inPart), { repeat: this.repeat, open: () => diskSink(dir, `part-${part.part}`) })) void f;
  }

  private adopt(part: BatchPart, batch: Batch): void {
    part.state = 'submitted';
    part.batch_id = batch.id;
    part.input_file_id = batch.input_file_id;
    this.observe(part, batch);
    this.noteStatus(part, batch);
  }

  /** Copies what run.json shows of a batch; true when something changed. */
  private observe(part: BatchPart, b: Batch): boolean {
    const before = JSON.stringify([part.status, part.request_counts]);
    part.status = b.status;
    part.created_at = new Date(b.created_at * 1000).toISOString();
    const ended = b.completed_at ?? b.failed_at ?? b.expired_at ?? b.cancelled_at;
    if (ended) part.ended_at = new Date(ended * 1000).toISOString();
    if (b.request_counts) part.request_counts = { total: b.request_counts.total, completed: b.request_counts.completed, failed: b.request_counts.failed };
    if (b.errors?.data?.length) part.errors = b.errors.data.map((x) => ({ code: x.code ?? '', message: this.o.redact(x.message ?? ''), line: x.line ?? null }));
    return JSON.stringify([part.status, part.request_counts]) !== before;
  }

  private async cancelLive(): Promise<void> {
    for (const part of this.state.parts) {
      if (part.state !== 'submitted' || FINAL.has(part.status ?? '')) continue;
      try {
        this.observe(part, await this.call(() => this.api.cancelBatch(part.batch_id!)));
        part.cancelled_by = 'evalrun';
      } catch (e) {
        // Finished meanwhile (409): nothing to cancel, its results are recorded below all the same.
        if (e instanceof BatchApiError && e.status === 409) continue;
        if (e instanceof BatchApiError && e.status === 404 && this.o.abandon) {
          part.state = 'abandoned';
          part.abandoned_at = new Date().toISOString();
          this.o.onNotice?.(
            `Forgot batch ${part.batch_id} (part ${part.part}, ${part.requests} requests): the server does not know it (404). ` +
              'A later --resume sends its requests again: if the provider did run that batch, they are paid twice.',
          );
          continue;
        }
        throw e;
      }
    }
    await this.o.save();
  }

  // ---- polling and results ----

  private async pollUntilDone(): Promise<void> {
    const pollMs = this.local ? this.o.batch.pollS * 1000 : Math.max(MIN_REMOTE_POLL_MS, this.o.batch.pollS * 1000);
    const started = performance.now();
    let polls = 0;
    for (;;) {
      if (this.run.stop.aborted || this.stopped) return;
      const now = Date.now();
      const running = this.state.parts.some((p) => p.state === 'submitted');
      for (const w of this.waiting.filter((x) => (x.afterLive ? !running : x.notBefore <= now))) {
        this.waiting.splice(this.waiting.indexOf(w), 1);
        await this.submit(w.part);
        if (this.run.stop.aborted) return;
      }
      const live = this.state.parts.filter((p) => p.state === 'submitted');
      if (live.length === 0 && this.waiting.length === 0) return;
      let changed = false;
      for (const part of live) {
        const b = await this.retrieve(part);
        changed = this.observe(part, b) || changed;
        this.noteStatus(part, b);
        this.noteOverdue(part, b);
        if (FINAL.has(b.status)) {
          await this.o.save();
          await this.finish(part, b);
          changed = true;
        }
        if (this.run.stop.aborted || this.stopped) break;
      }
      if (changed) await this.o.save();
      this.progress();
      if (this.run.stop.aborted || this.stopped) return;
      if (this.state.parts.some((p) => p.state === 'submitted') || this.waiting.length > 0) {
        // Gently longer waits on a long batch: a day of polling every 30 s is 2,880 calls for nothing.
        const waited = (performance.now() - started) / 1000;
        const t0 = performance.now();
        // The first checks come sooner (1, 2, 4 s…): a small batch may be done in a minute.
        let wait = Math.min(pollMs * Math.min(4, 1 + waited / 3600), Math.max(1000 * 2 ** polls++, 100));
        const timed = this.waiting.filter((w) => !w.afterLive);
        if (timed.length > 0) wait = Math.min(wait, Math.max(0, Math.min(...timed.map((w) => w.notBefore)) - Date.now()));
        await this.sleep(wait);
        this.waitingMs += performance.now() - t0;
      }
    }
  }

  /** A batch the server no longer knows stops the run with the way out. */
  private async retrieve(part: BatchPart): Promise<Batch> {
    try {
      return await this.call(() => this.api.retrieveBatch(part.batch_id!));
    } catch (e) {
      if (e instanceof BatchApiError && e.status === 404) {
        throw new ApiFatalError(
          this.o.redact(
            `Batch API: ${e.message}. The server does not know batch ${part.batch_id} (part ${part.part}) any more: it was deleted, or the key or the server changed. ` +
              `If it is gone for good, \`evalrun cancel ${this.o.dir} --abandon\` forgets it (its ${part.requests} requests are then sent again by --resume, and paid twice if the provider did run them).`,
          ),
          404,
          { cause: e },
        );
      }
      throw e;
    }
  }

  /** A status outside the API's list, reported once. */
  private noteStatus(part: BatchPart, b: Batch): void {
    if (!KNOWN.has(b.status) && !this.reportedStatus.has(`${b.id}/${b.status}`)) {
      this.reportedStatus.add(`${b.id}/${b.status}`);
      this.o.onNotice?.(`Batch ${b.id} (part ${part.part}) reports status '${this.o.redact(String(b.status))}', which is not one of the Batch API's; evalrun keeps polling it.`);
    }
  }

  /** A batch polled while more than an hour past its window: the run stops rather than poll it for ever. */
  private noteOverdue(part: BatchPart, b: Batch): void {
    const expires = typeof b.expires_at === 'number' ? b.expires_at : undefined;
    if (!FINAL.has(b.status) && b.status !== 'cancelling' && expires !== undefined && Date.now() / 1000 > expires + OVERDUE_S) {
      this.stopped = new BatchStoppedError(
        `Batch ${b.id} (part ${part.part}) is still '${this.o.redact(String(b.status))}' more than an hour past its expires_at (${new Date(expires * 1000).toISOString()}): ` +
          'the provider has not ended it. Nothing was resubmitted. Resume later with --resume (it is polled again), or cancel it with evalrun cancel.',
      );
    }
  }

  private progress(): void {
    const byStatus: Record<string, number> = {};
    let pending = 0;
    for (const p of this.state.parts) {
      if (p.state === 'abandoned' || !p.status) continue;
      byStatus[p.status] = (byStatus[p.status] ?? 0) + 1;
      if (p.state === 'submitted') pending += p.requests;
    }
    const timed = this.waiting.filter((w) => !w.afterLive);
    const nextTry = timed.length > 0 ? Math.max(0, Math.ceil((Math.min(...timed.map((w) => w.notBefore)) - Date.now()) / 1000)) : undefined;
    const p: BatchProgress = { byStatus, done: this.done, failed: this.failed, pending, waitingS: Math.round(this.waitingMs / 1000), downloading: this.downloading, limitWaitS: nextTry };
    const text = JSON.stringify(Object.assign({}, p, { waitingS: 0, limitWaitS: nextTry === undefined ? undefined : 1 }));
    if (text === this.lastProgress && !this.downloading) return;
    this.lastProgress = text;
    this.o.onProgress?.(p);
  }

  /** A batch reached a final status: its lines are recorded (or submitted again), then the part is closed. */
  private async finish(part: BatchPart, b: Batch): Promise<void> {
    if (b.status === 'failed') {
      await this.failedValidation(part, b);
      return;
    }
    // Cancelled by anyone but this run: what it finished is recorded, nothing is resubmitted, and the run stops.
    const foreign = b.status === 'cancelled' && part.cancelled_by !== 'evalrun' && !this.o.cancel;
    const resend = !this.o.cancel && !foreign;
    const t0 = performance.now();
    const result = await this.ingest(part, b, resend);
    if (!result) return;
    part.ingest_s = roundTo((performance.now() - t0) / 1000, 3);
    if (result.anomalies.count > 0) part.line_anomalies = result.anomalies;
    if (result.lost > 0) part.lost = result.lost;
    part.state = 'done';
    await this.o.save();
    this.progress();
    if (foreign) {
      this.stopped = new BatchStoppedError(
        `Batch ${b.id} (part ${part.part}) was cancelled outside this run (who cancelled it is unknown: the dashboard, a colleague, a script). ` +
          `Its ${b.request_counts?.completed ?? 0} finished requests are recorded; nothing was resubmitted. Resume with --resume to send the requests it did not run.`,
      );
      return;
    }
    const retry = result.retry;
    if (retry.length > 0) {
      retry.sort((a, c) => a - c);
      const again = runSet(toRuns(retry));
      this.o.onNotice?.(`Batch part ${part.part} (${b.status}): ${retry.length} request${retry.length === 1 ? '' : 's'} to submit again (attempt ${part.attempt + 1} of ${this.maxAttempts}).`);
      this.dispatched -= retry.length;
      await this.buildAndSubmit(this.o.replan(again), part.attempt + 1);
    }
  }

  /** Reads a final batch's results into records; undefined when the run stopped before they were all read. */
  private async ingest(part: BatchPart, b: Batch, resend: boolean): Promise<IngestResult | undefined> {
    return ingestPart({
      api: this.api,
      part,
      batch: b,
      dir: join(this.o.dir, 'batches'),
      tasks: this.o.replan(runSet(part.seqs)),
      idleMs: this.o.config.timeoutS * 1000,
      tries: Math.max(3, this.maxAttempts),
      backoffMs: (k) => retryDelayMs({ status: undefined, headers: undefined }, k, this.retryPolicy()),
      sleep: (ms) => this.sleep(ms),
      stop: this.run.stop,
      abort: this.run.abort,
      redact: this.o.redact,
      onNotice: (m) => this.o.onNotice?.(m),
      onBytes: (file, bytes) => {
        this.downloading = { file, bytes };
        if (this.lastBytesShown === 0 || bytes - this.lastBytesShown >= 1 << 20) {
          this.lastBytesShown = bytes;
          this.progress();
        }
      },
      onDownloaded: () => {
        this.downloading = undefined;
        this.lastBytesShown = 0;
      },
      record: (task, line, patch) => this.record(part, b, task, line, resend, patch),
      repeat: this.repeat,
      maxN: this.o.maxN,
      pause: this.o.pause,
    });
  }

  /**
   * The whole file was refused before anything ran. The enqueued-token limit clears as other batches finish: the
   * part waits (doubling waits, shown in progress) and is submitted again, split first when the message states a
   * limit its tokens alone exceed. A refusal for the file's lines gives each request an error record.
   */
  private async failedValidation(part: BatchPart, b: Batch): Promise<void> {
    const errors = b.errors?.data ?? [];
    const message = errors.map((e) => `${e.code ?? 'error'}: ${e.message ?? ''}${e.line ? ` (line ${e.line})` : ''}`).join('; ') || 'the batch failed validation';
    const wholeFile = errors.length > 0 && errors.every((e) => e.line === null || e.line === undefined) && !errors.some((e) => e.code === 'invalid_file' || e.code === 'empty_file');
    const tokenLimit = wholeFile && errors.some((e) => e.code === 'token_limit_exceeded');
    const waits = (part.limit_waits ?? 0) + (tokenLimit ? 1 : 0);
    part.state = 'done';
    const again = tokenLimit ? waits <= MAX_LIMIT_WAITS : wholeFile && part.attempt < this.maxAttempts;
    if (again) {
      const limit = tokenLimit ? statedLimit(message) : undefined;
      if (limit !== undefined && (part.tokens ?? 0) > limit * LIMIT_FILL && part.requests > 1) {
        // This part alone is over the limit: no wait can help, smaller parts can.
        const pieces = Math.ceil((part.tokens ?? 0) / (limit * LIMIT_FILL));
        const size = Math.max(1, Math.ceil(part.requests / pieces));
        await this.o.save();
        this.o.onNotice?.(`Batch part ${part.part} failed validation (${this.o.redact(message)}); its ~${part.tokens} tokens exceed the limit, so it is split into parts of ${size} requests.`);
        this.dispatched -= part.requests;
        await this.buildAndSubmit(this.o.replan(runSet(part.seqs)), part.attempt + 1, size, { limit_waits: waits - 1 });
        return;
      }
      const next: BatchPart = Object.assign({}, part, { part: this.nextPart(), attempt: part.attempt + 1, state: 'intent' as const, intent_at: new Date().toISOString(), limit_waits: waits });
      for (const k of ['input_file_id', 'batch_id', 'status', 'created_at', 'ended_at', 'request_counts', 'errors', 'ingest_s'] as const) delete next[k];
      this.state.parts.push(next);
      await this.o.save();
      const delay = tokenLimit ? Math.min(LIMIT_WAIT_MAX_MS, (this.local ? this.o.batch.pollS * 1000 : LIMIT_WAIT_BASE_MS) * 2 ** (waits - 1)) : 0;
      this.o.onNotice?.(
        `Batch part ${part.part} failed validation (${this.o.redact(message)}); it is submitted again ` +
          (tokenLimit ? `in ${formatWait(delay)} (wait ${waits} of ${MAX_LIMIT_WAITS}), once running batches have made room.` : 'once the running batches have finished.'),
      );
      // Another kind of whole-file refusal waits for the running batches, as such limits usually are theirs.
      this.waiting.push({ part: next, notBefore: Date.now() + delay, afterLive: !tokenLimit });
      return;
    }
    await this.o.save();
    // Nothing of this batch ran: an error record per request, sent again only with --retry-errors.
    const line = (seq: number): BatchOutputLine => ({ id: '', custom_id: `seq-${seq}`, response: { status_code: 400, request_id: '', body: { error: { message: `the batch failed validation: ${message}`, type: 'invalid_request_error', code: errors[0]?.code ?? null } } }, error: null });
    for await (const task of this.o.replan(runSet(part.seqs))) await this.record(part, b, task, line(task.seq), false);
  }

  /** Records one line; false when the line is to be submitted again (or left for a resume) instead. */
  private async record(part: BatchPart, b: Batch, task: Task, line: BatchOutputLine, resend: boolean, patch?: (r: RequestRecord) => void): Promise<'recorded' | 'resend' | 'left'> {
    const startedAt = new Date((b.created_at ?? Date.now() / 1000) * 1000);
    const out = lineOutcome(task, line, { attempts: part.attempt, startedAt }, { check: this.o.check, redact: this.o.redact });
    // Cancelled before it ran: left unrecorded, so a later --resume submits it (it was not paid for).
    if (out.kind === 'retryable' && line.error?.code === 'batch_cancelled' && !resend) return 'left';
    if (out.kind === 'retryable' && resend && part.attempt < this.maxAttempts) return 'resend';
    // Which batch answered: its usage is billed at the batch price, also in a run resumed in the other mode.
    out.record.batch_id = b.id;
    patch?.(out.record);
    if (this.o.scripts) await gradeScripts(this.o.scripts, out.record, task, this.run.abort);
    this.run.onRecord(out.record, task);
    if (out.kind === 'answered' && this.o.cache && line.response && linesOf(task, this.repeat) === 1) {
      void this.o.cache.put(task.body, { status: line.response.status_code, request_id: line.response.request_id || null, latency_ms: 0, data: line.response.body }).catch(() => {});
    }
    this.recorded++;
    if (out.record.error) this.failed++;
    else this.done++;
    return 'recorded';
  }

  // ---- calls ----

  /** One API call, tried again under the run's retry policy (retry.ts) until a stop. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, batchFailure, { policy: this.retryPolicy(), signal: this.run.stop, sleep: (ms) => this.sleep(ms) });
  }

  private retryPolicy(): RetryPolicy {
    return { maxAttempts: this.maxAttempts, maxWaitMs: this.o.config.retry.maxWaitS * 1000 };
  }

  private async sleep(ms: number): Promise<void> {
    await sleep(ms, this.run.stop);
  }

  /** A failed call becomes the run's stop reason (exit 5) with the URL, the server's words and a hint. */
  private fatalOf(e: unknown): unknown {
    if (e instanceof ApiFatalError) return e;
    if (!(e instanceof BatchApiError)) return e;
    const created = this.state.parts.some((p) => p.batch_id);
    // A create that got no clear answer may have made the batch all the same: only a resume's lookup can tell.
    const unsure = this.state.parts.some((p) => !p.batch_id && p.input_file_id);
    const after = created
      ? " The run's batches are recorded in run.json; resume with --resume once this is fixed."
      : unsure
        ? ' A batch may have been created without an answer saying so: resume with --resume once this is fixed, and it is looked up before anything is created again.'
        : ' No batch was created: nothing was submitted.';
    return new ApiFatalError(this.o.redact(`Batch API: ${e.message}.${hintOf(e)}${after}`), e.status, { cause: e });
  }
}

/** What a refused call most likely means. */
function hintOf(e: BatchApiError): string {
  if (e.status === 401) return ' The API key was rejected.';
  if (e.status === 403) return ' The key has no access to the Batch API.';
  if (e.status === 406) return ' The server refused the Accept header of the download.';
  if (e.status !== 404) return '';
  let path = '';
  try {
    path = new URL(e.url).pathname;
  } catch {
    // an unparsable URL: the plain hint applies
  }
  const v1 = /(^|\/)v1\//.test(path) ? '' : ' Its base URL has no /v1: OpenAI-compatible servers usually serve one (set OPENAI_BASE_URL or provider.base_url).';
  if (/\/(files|batches)$/.test(path)) return ` This server has no Batch API: drop --batch (or batch: from the config) to run synchronously.${v1}`;
  return v1;
}

/** The limit an enqueued-token-limit message states ("Limit: 90,000 enqueued tokens"), if it does. */
export function statedLimit(message: string): number | undefined {
  const m = /limit:?\s*([\d,_ ]+)\s*enqueued tokens/i.exec(message);
  if (!m) return undefined;
  const n = Number(m[1]!.replace(/[,_ ]/g, ''));
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** A request's enqueued tokens as the API counts them before running it: the prompt (≈ 4 characters a token) and the most it may generate. */
function taskTokens(t: Task): number {
  const body = t.body as Record<string, unknown>;
  const max = Number(body['max_completion_tokens'] ?? body['max_tokens'] ?? 0) || 0;
  const n = Number(body['n'] ?? 1) || 1;
  return Math.ceil(JSON.stringify(body['messages'] ?? '').length / 4) + max * n;
}

function formatWait(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}` : `${s} s`;
}

function isLoopback(baseUrl: string | undefined): boolean {
  if (!baseUrl) return false;
  try {
    const h = new URL(baseUrl).hostname;
    return h === 'localhost' || h === '[::1]' || h === '::1' || /^127\./.test(h);
  } catch {
    return false;
  }
}


const key = (p: { part: number; attempt: number }) => `${p.part}/${p.attempt}`;
