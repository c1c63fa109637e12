/**
 * The never-pay-twice protocol of docs/decisions.md, against the BatchApi interface alone: intent in run.json before
 * the upload, the batch id right after create, discovery by metadata on resume (and after a create with no clear
 * answer), results recorded before a part is closed, retries only for lines the provider never ran or answered with
 * a retryable failure, within retry.max_attempts. A request the provider reports as run is never sent again
 * automatically: when its answer cannot be read it is recorded as `batch_result_lost` (ingest.ts).
 *
 * What it needs from outside comes through ports: the API (batch-api.ts), the run's state (BatchRunState: run.json's
 * batch section and the plan's tasks by seq), what a result line becomes (LineHandler: the executor's records), a
 * clock, and the test hook `pause`. It reads no environment and knows no SDK; its unit tests drive it with a fake API.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { BatchOptions } from '../../contracts/config.js';
import type { Task } from '../../contracts/plan.js';
import { ApiFatalError, BatchStoppedError } from '../../errors.js';
import type { BatchManifest, BatchPart, RequestRecord } from '../../record/index.js';
import { roundTo } from '../../util/round.js';
import { retryDelayMs, sleep, withRetry, type RetryPolicy } from '../retry.js';
import { BatchApiError, batchFailure, type Batch, type BatchApi } from './batch-api.js';
import { buildBatchFiles, diskSink, linesOf } from './build-files.js';
import { openResults, type PartResults, type ResultsOptions } from './ingest.js';
import { batchApiFatal, formatWait, statedLimit, taskTokens } from './protocol-rules.js';
import type { LineMeta, LineOutcome } from './parse-line.js';
import { anyOf, runSet, toRuns } from './seq-runs.js';
import type { BatchOutputLine } from './types.js';
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

/**
 * The protocol's dangerous instants, where the kill -9 tests stop the process (test/e2e/batch.test.ts):
 * `ingesting` comes after each result line is recorded, the others once per part; `before-judges` (awaited by the
 * run, not here) once the answer batches are recorded and before any judge batch is built.
 */
export type PausePoint = 'after-upload' | 'after-create' | 'ingesting' | 'before-judges';

/** What the protocol persists and reads back; the use case implements it over run.json and the plan. */
export interface BatchRunState {
  /** run.json's batch section as the session found it: the protocol works on a copy of its own. */
  readonly batch: BatchManifest;
  /** When the run started (run.json `started_at`): batches listed older than it are not the run's. */
  readonly startedAt: string;
  /** Writes the batch section to run.json atomically; `batch` is a snapshot the protocol never changes afterwards. */
  save(batch: BatchManifest): Promise<void>;
  /** The plan's tasks `want` accepts that were not recorded when the session started, in seq order. */
  tasks(want: (seq: number) => boolean): AsyncIterable<Task>;
}

/**
 * What a request's result line becomes: the executor's business (records, checks, scripts, cache), not the
 * protocol's. The protocol only decides, from the outcome's kind, whether a line is recorded, sent again or left.
 */
export interface LineHandler {
  outcome(task: Task, line: BatchOutputLine, meta: LineMeta): LineOutcome;
  /** Hands a decided record on (graded, journalled, cached). */
  accept(outcome: LineOutcome, task: Task, line: BatchOutputLine): Promise<void>;
  /** A task answered without being sent (the response cache): recorded by the handler, true when it was. */
  answered?(task: Task): Promise<boolean>;
}

/** Wall time and waiting; a test passes a fake one so that polling and backoff take no real time. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<unknown>;
}

export const SYSTEM_CLOCK: Clock = { now: () => Date.now(), sleep: (ms, signal) => sleep(ms, signal) };

export interface BatchProtocolOptions {
  api: BatchApi;
  state: BatchRunState;
  lines: LineHandler;
  /** The run directory: input files are built, and result files copied, under DIR/batches. */
  dir: string;
  batch: BatchOptions;
  retry: RetryPolicy;
  /** A result download may go this long without a byte before it is tried again. */
  idleMs: number;
  /** `n_mode: repeat`: a task of n choices is n single-choice lines; maxN is the plan's largest n. */
  repeat: boolean;
  maxN: number;
  /** A loopback server (the simulator, a test server): polled as often as asked, limit waits at the poll interval. */
  loopback: boolean;
  redact: (text: string) => string;
  /** `evalrun cancel`: submit nothing, cancel the live batches, record what they finished. */
  cancel?: boolean | undefined;
  /** `evalrun cancel --abandon`: forget the live batches the server no longer knows (404). */
  abandon?: boolean | undefined;
  clock?: Clock | undefined;
  /** A test hook: awaited at the protocol's dangerous instants. */
  pause?: ((point: PausePoint) => Promise<void>) | undefined;
  onProgress?: ((p: BatchProgress) => void) | undefined;
  onNotice?: ((message: string) => void) | undefined;
  /**
   * The spend limit: each request's worst case is reserved as its line is chosen for a part (a line submitted again
   * uses its request's reservation); the first that does not fit ends the part and the submissions, and the batches
   * already submitted are polled to the end. A resumed run's live batches are reserved first.
   */
  budget?: Pick<Budget, 'reserveNow' | 'holdSent'> | undefined;
}

export interface BatchProtocolResult {
  /** Requests submitted (or answered from the cache) this session, net of those handed back for resubmission. */
  dispatched: number;
  recorded: number;
  /** Why the run stopped early: an ApiFatalError (exit 5), a BatchStoppedError (exit 7), or anything unexpected. */
  fatal: unknown;
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

/** A part refused for a limit, waiting to be submitted again: after `notBefore`, or once no batch of the run runs. */
interface Waiting {
  part: BatchPart;
  notBefore: number;
  afterLive: boolean;
}

/** One session of the protocol: `run` (submit the plan, poll, record) or `cancel`, once. */
export class BatchProtocol {
  private readonly api: BatchApi;
  /** The session's own copy of run.json's batch section: changed here only, saved as snapshots. */
  private readonly state: BatchManifest;
  private readonly clock: Clock;
  private readonly maxAttempts: number;
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

  private readonly o: BatchProtocolOptions;
  private readonly stop: AbortSignal;
  private readonly abort: AbortSignal;

  constructor(o: BatchProtocolOptions, signals: { stop: AbortSignal; abort: AbortSignal }) {
    this.o = o;
    this.stop = signals.stop;
    this.abort = signals.abort;
    this.api = o.api;
    this.clock = o.clock ?? SYSTEM_CLOCK;
    this.state = Object.assign({}, o.state.batch, { parts: o.state.batch.parts.map((p) => Object.assign({}, p)) });
    this.maxAttempts = o.retry.maxAttempts;
  }

  /** Submits `tasks` (or, with `cancel`, cancels the live batches), polls until every batch is final, records. */
  async run(tasks: AsyncIterable<Task>): Promise<BatchProtocolResult> {
    try {
      await this.holdLive();
      await this.recoverIntents();
      if (this.o.cancel) await this.cancelLive();
      else await this.submitPlan(tasks);
      if (!this.stopped) await this.pollUntilDone();
      return { dispatched: this.dispatched, recorded: this.recorded, fatal: this.stopped };
    } catch (e) {
      if (this.stop.aborted && !(e instanceof BatchApiError && e.status !== undefined)) return { dispatched: this.dispatched, recorded: this.recorded, fatal: undefined };
      return { dispatched: this.dispatched, recorded: this.recorded, fatal: this.fatalOf(e) };
    }
  }

  private async save(): Promise<void> {
    await this.o.state.save(Object.assign({}, this.state, { parts: this.state.parts.map((p) => Object.assign({}, p)) }));
  }

  // ---- submitting ----

  /** A resumed run's live parts were sent by an earlier session: their worst case is reserved before anything new. */
  private async holdLive(): Promise<void> {
    const budget = this.o.budget;
    const live = this.state.parts.filter((p) => p.state === 'intent' || p.state === 'submitted');
    if (!budget || live.length === 0) return;
    for await (const t of this.o.state.tasks(anyOf(live.map((p) => runSet(p.seqs))))) budget.holdSent(t);
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
        await this.save();
      } else if (this.o.cancel) {
        // Never submitted: its requests go back to the plan for the next resume.
        part.state = 'abandoned';
        await this.save();
      } else {
        await this.submit(part);
      }
    }
  }

  /** The run's batches at the provider, keyed by part and attempt (newest first, stopping at the run's start). */
  private async findByMetadata(parts: BatchPart[]): Promise<Map<string, Batch>> {
    const wanted = new Set(parts.map(key));
    const found = new Map<string, Batch>();
    const since = Date.parse(this.o.state.startedAt) / 1000 - CLOCK_SLACK_S;
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

  /** The plan minus what live parts hold and what the handler answers at once (the cache), into parts. */
  private async submitPlan(tasks: AsyncIterable<Task>): Promise<void> {
    const live = anyOf(this.state.parts.filter((p) => p.state === 'intent' || p.state === 'submitted').map((p) => runSet(p.seqs)));
    const stop = this.stop;
    const answered = async (t: Task): Promise<boolean> => {
      if (!this.o.lines.answered || !(await this.o.lines.answered(t))) return false;
      this.recorded++;
      this.done++;
      return true;
    };
    async function* fresh() {
      for await (const t of tasks) {
        if (stop.aborted) return;
        if (live(t.seq)) continue;
        if (await answered(t)) continue;
        yield t;
      }
    }
    await this.submitParts(fresh(), 1);
  }

  /**
   * The one place a part's lines are chosen: the tasks are streamed into files of one model, at most `maxRequests`
   * requests each; each file's intent is saved, then it is uploaded and created before the next is built.
   */
  private async submitParts(tasks: AsyncIterable<Task>, attempt: number, maxRequests = this.o.batch.maxRequests, carry: Partial<BatchPart> = {}): Promise<void> {
    const dir = join(this.o.dir, 'batches');
    await mkdir(dir, { recursive: true });
    let next = this.nextPart();
    const tokens = new Map<string, number>();
    const repeat = this.o.repeat;
    const budget = this.o.budget;
    const counted = async function* (src: AsyncIterable<Task>) {
      for await (const t of src) {
        if (budget && !budget.reserveNow(t)) return;
        tokens.set(t.body.model, (tokens.get(t.body.model) ?? 0) + taskTokens(t) * linesOf(t, repeat));
        yield t;
      }
    };
    const built = buildBatchFiles(counted(tasks), { maxRequests, repeat, open: () => diskSink(dir, `part-${next++}`) });
    let t0 = performance.now();
    for await (const f of built) {
      // Stopped while building: the files cut short are never recorded nor sent; a resume builds them again.
      if (this.stop.aborted) return;
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
        intent_at: new Date(this.clock.now()).toISOString(),
        build_s: roundTo(buildS, 3),
        tokens: Math.round(tokens.get(f.model) ?? 0),
      } satisfies BatchPart);
      tokens.set(f.model, 0);
      this.state.parts.push(part);
      this.state.parts.sort((a, b) => a.part - b.part);
      // Step 2: the intent is on disk before anything reaches the provider.
      await this.save();
      this.dispatched += f.requests;
      await this.submit(part);
      if (this.stop.aborted) return;
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
      { policy: this.o.retry, sleep: (ms) => this.sleep(ms) },
    );
    await this.o.pause?.('after-create');
    this.adopt(part, batch);
    // Step 4: before polling or anything else.
    await this.save();
  }

  /** The input file of a part whose file was lost: the same lines, from the plan. */
  private async rebuild(part: BatchPart): Promise<void> {
    const dir = join(this.o.dir, 'batches');
    await mkdir(dir, { recursive: true });
    for await (const f of buildBatchFiles(this.o.state.tasks(runSet(part.seqs)), { repeat: this.o.repeat, open: () => diskSink(dir, `part-${part.part}`) })) void f;
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
          part.abandoned_at = new Date(this.clock.now()).toISOString();
          this.o.onNotice?.(
            `Forgot batch ${part.batch_id} (part ${part.part}, ${part.requests} requests): the server does not know it (404). ` +
              'A later --resume sends its requests again: if the provider did run that batch, they are paid twice.',
          );
          continue;
        }
        throw e;
      }
    }
    await this.save();
  }

  // ---- polling and results ----

  private async pollUntilDone(): Promise<void> {
    const pollMs = this.o.loopback ? this.o.batch.pollS * 1000 : Math.max(MIN_REMOTE_POLL_MS, this.o.batch.pollS * 1000);
    const started = this.clock.now();
    let polls = 0;
    for (;;) {
      if (this.stop.aborted || this.stopped) return;
      const now = this.clock.now();
      const running = this.state.parts.some((p) => p.state === 'submitted');
      for (const w of this.waiting.filter((x) => (x.afterLive ? !running : x.notBefore <= now))) {
        this.waiting.splice(this.waiting.indexOf(w), 1);
        await this.submit(w.part);
        if (this.stop.aborted) return;
      }
      const live = this.state.parts.filter((p) => p.state === 'submitted');
      if (live.length === 0 && this.waiting.length === 0) return;
      let changed = false;
      const ended: Array<{ part: BatchPart; b: Batch }> = [];
      for (const part of live) {
        const b = await this.retrieve(part);
        changed = this.observe(part, b) || changed;
        this.noteStatus(part, b);
        this.noteOverdue(part, b);
        if (FINAL.has(b.status)) ended.push({ part, b });
        if (this.stop.aborted || this.stopped) break;
      }
      if (ended.length > 0) {
        // The final statuses are on disk before any result is read.
        await this.save();
        await this.finish(ended);
        changed = true;
      }
      if (changed) await this.save();
      this.progress();
      if (this.stop.aborted || this.stopped) return;
      if (this.state.parts.some((p) => p.state === 'submitted') || this.waiting.length > 0) {
        // Gently longer waits on a long batch: a day of polling every 30 s is 2,880 calls for nothing.
        const waited = (this.clock.now() - started) / 1000;
        const t0 = this.clock.now();
        // The first checks come sooner (1, 2, 4 s…): a small batch may be done in a minute.
        let wait = Math.min(pollMs * Math.min(4, 1 + waited / 3600), Math.max(1000 * 2 ** polls++, 100));
        const timed = this.waiting.filter((w) => !w.afterLive);
        if (timed.length > 0) wait = Math.min(wait, Math.max(0, Math.min(...timed.map((w) => w.notBefore)) - this.clock.now()));
        await this.sleep(wait);
        this.waitingMs += this.clock.now() - t0;
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
    if (!FINAL.has(b.status) && b.status !== 'cancelling' && expires !== undefined && this.clock.now() / 1000 > expires + OVERDUE_S) {
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
    const nextTry = timed.length > 0 ? Math.max(0, Math.ceil((Math.min(...timed.map((w) => w.notBefore)) - this.clock.now()) / 1000)) : undefined;
    const p: BatchProgress = { byStatus, done: this.done, failed: this.failed, pending, waitingS: Math.round(this.waitingMs / 1000), downloading: this.downloading, limitWaitS: nextTry };
    const text = JSON.stringify(Object.assign({}, p, { waitingS: 0, limitWaitS: nextTry === undefined ? undefined : 1 }));
    if (text === this.lastProgress && !this.downloading) return;
    this.lastProgress = text;
    this.o.onProgress?.(p);
  }

  /**
   * Batches that reached a final status in the same poll: their result files are downloaded, then their lines are
   * recorded in one pass over the plan (not one per part), then each part is closed and what is to be sent again is
   * submitted in new parts.
   */
  private async finish(ended: Array<{ part: BatchPart; b: Batch }>): Promise<void> {
    const open: Array<{ part: BatchPart; b: Batch; foreign: boolean; results: PartResults; holds: (seq: number) => boolean; downloadS: number }> = [];
    try {
      for (const { part, b } of ended) {
        if (b.status === 'failed') {
          await this.failedValidation(part, b);
          continue;
        }
        // Cancelled by anyone but this run: what it finished is recorded, nothing is resubmitted, and the run stops.
        const foreign = b.status === 'cancelled' && part.cancelled_by !== 'evalrun' && !this.o.cancel;
        const t0 = performance.now();
        const results = await openResults(this.resultsOptions(part, b, !this.o.cancel && !foreign));
        if (!results) return;
        open.push({ part, b, foreign, results, holds: runSet(part.seqs), downloadS: (performance.now() - t0) / 1000 });
      }
      if (open.length === 0) return;
      const t0 = performance.now();
      for await (const task of this.o.state.tasks(anyOf(open.map((x) => x.holds)))) {
        if (this.abort.aborted) return;
        await open.find((x) => x.holds(task.seq))!.results.take(task);
      }
      const walkS = (performance.now() - t0) / 1000;
      const requests = open.reduce((n, x) => n + x.part.requests, 0);
      const again = new Map<number, number[]>();
      for (const { part, b, foreign, results, downloadS } of open) {
        const result = results.result();
        // The pass is shared: each part is charged its share, so that the parts' ingest_s add up to the time taken.
        part.ingest_s = roundTo(downloadS + (walkS * part.requests) / requests, 3);
        if (result.anomalies.count > 0) part.line_anomalies = result.anomalies;
        if (result.lost > 0) part.lost = result.lost;
        part.state = 'done';
        if (foreign) {
          this.stopped ??= new BatchStoppedError(
            `Batch ${b.id} (part ${part.part}) was cancelled outside this run (who cancelled it is unknown: the dashboard, a colleague, a script). ` +
              `Its ${b.request_counts?.completed ?? 0} finished requests are recorded; nothing was resubmitted. Resume with --resume to send the requests it did not run.`,
          );
        } else if (result.retry.length > 0) {
          this.o.onNotice?.(`Batch part ${part.part} (${b.status}): ${result.retry.length} request${result.retry.length === 1 ? '' : 's'} to submit again (attempt ${part.attempt + 1} of ${this.maxAttempts}).`);
          again.set(part.attempt + 1, (again.get(part.attempt + 1) ?? []).concat(result.retry));
        }
      }
      await this.save();
      this.progress();
      // Stopped by someone else's cancel: the lines to send again stay unrecorded, so a resume sends them.
      if (this.stopped) return;
      for (const [attempt, seqs] of again) {
        seqs.sort((a, c) => a - c);
        this.dispatched -= seqs.length;
        await this.submitParts(this.o.state.tasks(runSet(toRuns(seqs))), attempt);
      }
    } finally {
      for (const x of open) x.results.close();
    }
  }

  /** How a final batch's result files are read and its lines recorded. */
  private resultsOptions(part: BatchPart, b: Batch, resend: boolean): ResultsOptions {
    return {
      api: this.api,
      part,
      batch: b,
      dir: join(this.o.dir, 'batches'),
      idleMs: this.o.idleMs,
      tries: Math.max(3, this.maxAttempts),
      backoffMs: (k) => retryDelayMs({ status: undefined, headers: undefined }, k, this.o.retry),
      sleep: (ms) => this.sleep(ms),
      stop: this.stop,
      abort: this.abort,
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
      repeat: this.o.repeat,
      maxN: this.o.maxN,
      pause: this.o.pause,
    };
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
        await this.save();
        this.o.onNotice?.(`Batch part ${part.part} failed validation (${this.o.redact(message)}); its ~${part.tokens} tokens exceed the limit, so it is split into parts of ${size} requests.`);
        this.dispatched -= part.requests;
        await this.submitParts(this.o.state.tasks(runSet(part.seqs)), part.attempt + 1, size, { limit_waits: waits - 1 });
        return;
      }
      const next: BatchPart = Object.assign({}, part, { part: this.nextPart(), attempt: part.attempt + 1, state: 'intent' as const, intent_at: new Date(this.clock.now()).toISOString(), limit_waits: waits });
      for (const k of ['input_file_id', 'batch_id', 'status', 'created_at', 'ended_at', 'request_counts', 'errors', 'ingest_s'] as const) delete next[k];
      this.state.parts.push(next);
      await this.save();
      const delay = tokenLimit ? Math.min(LIMIT_WAIT_MAX_MS, (this.o.loopback ? this.o.batch.pollS * 1000 : LIMIT_WAIT_BASE_MS) * 2 ** (waits - 1)) : 0;
      this.o.onNotice?.(
        `Batch part ${part.part} failed validation (${this.o.redact(message)}); it is submitted again ` +
          (tokenLimit ? `in ${formatWait(delay)} (wait ${waits} of ${MAX_LIMIT_WAITS}), once running batches have made room.` : 'once the running batches have finished.'),
      );
      // Another kind of whole-file refusal waits for the running batches, as such limits usually are theirs.
      this.waiting.push({ part: next, notBefore: this.clock.now() + delay, afterLive: !tokenLimit });
      return;
    }
    await this.save();
    // Nothing of this batch ran: an error record per request, sent again only with --retry-errors.
    const line = (seq: number): BatchOutputLine => ({ id: '', custom_id: `seq-${seq}`, response: { status_code: 400, request_id: '', body: { error: { message: `the batch failed validation: ${message}`, type: 'invalid_request_error', code: errors[0]?.code ?? null } } }, error: null });
    for await (const task of this.o.state.tasks(runSet(part.seqs))) await this.record(part, b, task, line(task.seq), false);
  }

  /** Records one line, or says it is to be submitted again ('resend') or left for a resume ('left') instead. */
  private async record(part: BatchPart, b: Batch, task: Task, line: BatchOutputLine, resend: boolean, patch?: (r: RequestRecord) => void): Promise<'recorded' | 'resend' | 'left'> {
    const startedAt = new Date((b.created_at ?? this.clock.now() / 1000) * 1000);
    const out = this.o.lines.outcome(task, line, { attempts: part.attempt, startedAt });
    // Cancelled before it ran: left unrecorded, so a later --resume submits it (it was not paid for).
    if (out.kind === 'retryable' && line.error?.code === 'batch_cancelled' && !resend) return 'left';
    if (out.kind === 'retryable' && resend && part.attempt < this.maxAttempts) return 'resend';
    // Which batch answered: its usage is billed at the batch price, also in a run resumed in the other mode.
    out.record.batch_id = b.id;
    patch?.(out.record);
    await this.o.lines.accept(out, task, line);
    this.recorded++;
    if (out.record.error) this.failed++;
    else this.done++;
    return 'recorded';
  }

  // ---- calls ----

  /** One API call, tried again under the run's retry policy (retry.ts) until a stop. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, batchFailure, { policy: this.o.retry, signal: this.stop, sleep: (ms) => this.sleep(ms) });
  }

  private async sleep(ms: number): Promise<void> {
    await this.clock.sleep(ms, this.stop);
  }

  /** A failed call becomes the run's stop reason (exit 5) with the URL, the server's words and a hint. */
  private fatalOf(e: unknown): unknown {
    if (e instanceof ApiFatalError) return e;
    if (!(e instanceof BatchApiError)) return e;
    const created = this.state.parts.some((p) => p.batch_id);
    // A create that got no clear answer may have made the batch all the same: only a resume's lookup can tell.
    const unsure = this.state.parts.some((p) => !p.batch_id && p.input_file_id);
    return batchApiFatal(e, created ? 'created' : unsure ? 'unsure' : 'none', this.o.redact);
  }
}

const key = (p: { part: number; attempt: number }) => `${p.part}/${p.attempt}`;
