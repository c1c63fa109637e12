/**
 * The Batch API executor: the plan goes out as JSONL files (one model each, ≤ max_requests lines), each becomes a
 * batch, the batches are polled, and their output and error files are streamed line by line into records.jsonl with
 * the same records the synchronous executor writes. The order of steps is the never-pay-twice protocol of
 * docs/decisions.md: intent in run.json before the upload, the batch id right after create, discovery by metadata on
 * resume, results recorded before a part is closed, retries only for retryable lines within retry.max_attempts.
 */
import { closeSync, createReadStream, createWriteStream, openSync, readSync } from 'node:fs';
import { once } from 'node:events';
import { mkdir, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { APIError, toStreamingFile, type OpenAI } from 'openai';
import type { BatchOptions, Config } from '../../contracts/config.js';
import { ApiFatalError } from '../../errors.js';
import type { Task } from '../../contracts/plan.js';
import type { BatchManifest, BatchPart } from '../../record/manifest.js';
import { sdkClient, type Endpoint } from '../provider.js';
import type { ExecuteDeps } from '../execute-task.js';
import type { Executor, ExecutorResult } from '../executor.js';
import { buildBatchFiles, diskSink, seqOfCustomId } from './build-files.js';
import { lineOutcome, parseOutputLine } from './parse-line.js';
import { BATCH_URL, type BatchOutputLine } from './types.js';
import { anyOf, runIndex, runSet, runsSize, toRuns } from './seq-runs.js';
import { copyLines } from './copy-lines.js';
import { streamingFetch } from './stream-fetch.js';
import { gradeScripts } from '../grade-scripts.js';
import type { ScriptChecks } from '../../check/index.js';

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
}

export interface BatchExecutorOptions {
  endpoint: Endpoint;
  config: Pick<Config, 'retry' | 'timeoutS'>;
  batch: BatchOptions;
  check: ExecuteDeps['check'];
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
  onProgress?: ((p: BatchProgress) => void) | undefined;
  onNotice?: ((message: string) => void) | undefined;
}

/** Where a line's custom_id is, without parsing the line (the serializer writes no space after the colon). */
const CUSTOM_ID_FIELD = /"custom_id": ?"([^"]*)"/;
const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
/** Batches created this long before the run started are still looked at (clocks differ). */
const CLOCK_SLACK_S = 600;
/** Result lines recorded between two turns of the event loop while a part's results are ingested. */
const INGEST_YIELD_EVERY = 256;

/** An SDK client whose uploads and downloads stream (src/run/batch/stream-fetch.ts). */
export function openBatchClient(endpoint: Endpoint, timeoutMs: number): OpenAI {
  return sdkClient(endpoint, streamingFetch, timeoutMs);
}

export function createBatchExecutor(options: BatchExecutorOptions): Executor {
  return { execute: (tasks, run) => new BatchSession(options, run).execute(tasks) };
}

type Control = Parameters<Executor['execute']>[1];

class BatchSession {
  private readonly client: OpenAI;
  private readonly state: BatchManifest;
  private readonly maxAttempts: number;
  private dispatched = 0;
  private recorded = 0;
  private done = 0;
  private failed = 0;
  private waitingMs = 0;
  /** Parts whose batch failed validation for a limit: submitted again once the others have finished. */
  private readonly waiting: BatchPart[] = [];
  private lastProgress = '';

  private readonly o: BatchExecutorOptions;
  private readonly run: Control;

  constructor(o: BatchExecutorOptions, run: Control) {
    this.o = o;
    this.run = run;
    this.client = openBatchClient(o.endpoint, o.config.timeoutS * 1000);
    this.state = o.state;
    this.maxAttempts = o.config.retry.maxAttempts;
  }

  async execute(tasks: AsyncIterable<Task>): Promise<ExecutorResult> {
    try {
      await this.recoverIntents();
      if (this.o.cancel) await this.cancelLive();
      else await this.submitPlan(tasks);
      await this.pollUntilDone();
      return { dispatched: this.dispatched, recorded: this.recorded, fatal: undefined };
    } catch (e) {
      if (this.run.stop.aborted && !(e instanceof ApiFatalError)) return { dispatched: this.dispatched, recorded: this.recorded, fatal: undefined };
      return { dispatched: this.dispatched, recorded: this.recorded, fatal: fatalOf(e, this.o.redact) };
    }
  }

  // ---- submitting ----

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
  private async findByMetadata(parts: BatchPart[]): Promise<Map<string, OpenAI.Batch>> {
    const wanted = new Set(parts.map(key));
    const found = new Map<string, OpenAI.Batch>();
    const since = Date.parse(this.o.runStartedAt) / 1000 - CLOCK_SLACK_S;
    for await (const b of this.client.batches.list({ limit: 100 })) {
      if (b.created_at < since) break;
      const m = b.metadata as Record<string, string> | null | undefined;
      if (!m || m['evalrun_run'] !== this.state.run_id) continue;
      const k = `${m['evalrun_part']}/${m['evalrun_attempt']}`;
      if (wanted.has(k) && !found.has(k)) found.set(k, b);
      if (found.size === wanted.size) break;
    }
    return found;
  }

  /** Streams the plan (minus what live parts hold) into files; each is recorded, uploaded and created as it is done. */
  private async submitPlan(tasks: AsyncIterable<Task>): Promise<void> {
    const live = anyOf(this.state.parts.filter((p) => p.state === 'intent' || p.state === 'submitted').map((p) => runSet(p.seqs)));
    const dir = join(this.o.dir, 'batches');
    await mkdir(dir, { recursive: true });
    const stop = this.run.stop;
    async function* fresh() {
      for await (const t of tasks) {
        if (stop.aborted) return;
        if (!live(t.seq)) yield t;
      }
    }
    await this.buildAndSubmit(fresh(), 1);
  }

  private async buildAndSubmit(tasks: AsyncIterable<Task>, attempt: number): Promise<void> {
    const dir = join(this.o.dir, 'batches');
    await mkdir(dir, { recursive: true });
    let next = this.nextPart();
    const names = new Map<string, number>();
    const built = buildBatchFiles(tasks, {
      maxRequests: this.o.batch.maxRequests,
      open: (model) => {
        const part = next++;
        names.set(model, part);
        return diskSink(dir, `part-${part}`);
      },
    });
    let t0 = performance.now();
    for await (const f of built) {
      // Stopped while building: the files cut short are never recorded nor sent; a resume builds them again.
      if (this.run.stop.aborted) return;
      const buildS = (performance.now() - t0) / 1000;
      const number = Number(/part-(\d+)\.jsonl$/.exec(f.result)![1]);
      const part: BatchPart = {
        part: number,
        attempt,
        model: f.model,
        seqs: toRuns(f.seqs),
        requests: f.requests,
        file: relative(this.o.dir, f.result),
        state: 'intent',
        intent_at: new Date().toISOString(),
        build_s: round3(buildS),
      };
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
    // toStreamingFile: the SDK's way to upload without reading the file (up to 200 MB) into memory first.
    const file = await this.call(() => this.client.files.create({ file: toStreamingFile(createReadStream(path), basename(path)), purpose: 'batch' }));
    part.input_file_id = file.id;
    await testPause('after-upload');
    const metadata = { evalrun_run: this.state.run_id, evalrun_part: String(part.part), evalrun_attempt: String(part.attempt) };
    let batch: OpenAI.Batch | undefined;
    for (let tries = 1; !batch; tries++) {
      try {
        batch = await this.client.batches.create({ input_file_id: file.id, endpoint: BATCH_URL, completion_window: '24h', metadata });
      } catch (e) {
        // No answer: the batch may exist all the same. Creating another would pay twice.
        if (!(e instanceof APIError) || e.status === undefined) batch = (await this.findByMetadata([part])).get(key(part));
        if (batch) break;
        if (!transient(e) || tries >= this.maxAttempts) throw e;
        await this.sleep(Math.min(1000 * 2 ** tries, this.o.config.retry.maxWaitS * 1000));
      }
    }
    await testPause('after-create');
    this.adopt(part, batch);
    // Step 4: before polling or anything else.
    await this.o.save();
  }

  /** The input file of a part whose file was lost: the same lines, from the plan. */
  private async rebuild(part: BatchPart): Promise<void> {
    const inPart = runSet(part.seqs);
    const dir = join(this.o.dir, 'batches');
    await mkdir(dir, { recursive: true });
    for await (const f of buildBatchFiles(this.o.replan(inPart), { open: () => diskSink(dir, `part-${part.part}`) })) void f;
  }

  private adopt(part: BatchPart, batch: OpenAI.Batch): void {
    part.state = 'submitted';
    part.batch_id = batch.id;
    part.input_file_id = batch.input_file_id;
    this.observe(part, batch);
  }

  /** Copies what run.json shows of a batch; true when something changed. */
  private observe(part: BatchPart, b: OpenAI.Batch): boolean {
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
        this.observe(part, await this.call(() => this.client.batches.cancel(part.batch_id!)));
      } catch (e) {
        // Finished meanwhile (409): nothing to cancel, its results are recorded below all the same.
        if (!(e instanceof APIError && e.status === 409)) throw e;
      }
    }
    await this.o.save();
  }

  // ---- polling and results ----

  private async pollUntilDone(): Promise<void> {
    const pollMs = this.o.batch.pollS * 1000;
    const started = performance.now();
    let polls = 0;
    for (;;) {
      if (this.run.stop.aborted) return;
      const live = this.state.parts.filter((p) => p.state === 'submitted');
      if (live.length === 0 && this.waiting.length > 0) {
        // A limit refused them while others ran: those have finished now.
        for (const part of this.waiting.splice(0)) await this.submit(part);
        continue;
      }
      if (live.length === 0) return;
      let changed = false;
      for (const part of live) {
        const b = await this.call(() => this.client.batches.retrieve(part.batch_id!));
        changed = this.observe(part, b) || changed;
        if (FINAL.has(b.status)) {
          await this.o.save();
          await this.finish(part, b);
          changed = true;
        }
        if (this.run.stop.aborted) return;
      }
      if (changed) await this.o.save();
      this.progress();
      if (this.state.parts.some((p) => p.state === 'submitted')) {
        // Gently longer waits on a long batch: a day of polling every 30 s is 2,880 calls for nothing.
        const waited = (performance.now() - started) / 1000;
        const t0 = performance.now();
        // The first checks come sooner (1, 2, 4 s…): a small batch may be done in a minute.
        await this.sleep(Math.min(pollMs * Math.min(4, 1 + waited / 3600), Math.max(1000 * 2 ** polls++, 100)));
        this.waitingMs += performance.now() - t0;
      }
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
    const p: BatchProgress = { byStatus, done: this.done, failed: this.failed, pending, waitingS: Math.round(this.waitingMs / 1000) };
    const text = JSON.stringify(Object.assign({}, p, { waitingS: 0 }));
    if (text === this.lastProgress) return;
    this.lastProgress = text;
    this.o.onProgress?.(p);
  }

  /** A batch reached a final status: its lines are recorded (or submitted again), then the part is closed. */
  private async finish(part: BatchPart, b: OpenAI.Batch): Promise<void> {
    if (b.status === 'failed') {
      await this.failedValidation(part, b);
      return;
    }
    const retry: number[] = [];
    const t0 = performance.now();
    await this.ingest(part, b, retry);
    part.ingest_s = round3((performance.now() - t0) / 1000);
    if (this.run.stop.aborted && this.run.abort.aborted) return;
    part.state = 'done';
    await this.o.save();
    this.progress();
    if (retry.length > 0) {
      retry.sort((a, b) => a - b);
      const again = runSet(toRuns(retry));
      this.o.onNotice?.(`Batch part ${part.part} (${b.status}): ${retry.length} request${retry.length === 1 ? '' : 's'} to submit again (attempt ${part.attempt + 1} of ${this.maxAttempts}).`);
      this.dispatched -= retry.length;
      await this.buildAndSubmit(this.o.replan(again), part.attempt + 1);
    }
  }

  /**
   * The whole file was refused before anything ran. A limit (the enqueued-token limit) clears once other batches
   * finish: submit again then, within retry.max_attempts. Anything else is in the lines themselves: each request
   * gets an error record with the API's message.
   */
  private async failedValidation(part: BatchPart, b: OpenAI.Batch): Promise<void> {
    const errors = b.errors?.data ?? [];
    const message = errors.map((e) => `${e.code ?? 'error'}: ${e.message ?? ''}${e.line ? ` (line ${e.line})` : ''}`).join('; ') || 'the batch failed validation';
    const retryable = errors.length > 0 && errors.every((e) => e.line === null || e.line === undefined) && !errors.some((e) => e.code === 'invalid_file' || e.code === 'empty_file');
    part.state = 'done';
    if (retryable && part.attempt < this.maxAttempts) {
      const again: BatchPart = Object.assign({}, part, { part: this.nextPart(), attempt: part.attempt + 1, state: 'intent' as const, intent_at: new Date().toISOString() });
      for (const k of ['input_file_id', 'batch_id', 'status', 'created_at', 'ended_at', 'request_counts', 'errors', 'ingest_s'] as const) delete again[k];
      this.state.parts.push(again);
      await this.o.save();
      this.o.onNotice?.(`Batch part ${part.part} failed validation (${this.o.redact(message)}); it is submitted again once the running batches have finished.`);
      this.waiting.push(again);
      return;
    }
    await this.o.save();
    const line = (seq: number): BatchOutputLine => ({ id: '', custom_id: `seq-${seq}`, response: { status_code: 400, request_id: '', body: { error: { message: `the batch failed validation: ${message}`, type: 'invalid_request_error', code: errors[0]?.code ?? null } } }, error: null });
    for await (const task of this.o.replan(runSet(part.seqs))) await this.record(part, b, task, line(task.seq), undefined);
  }

  /**
   * Result files come in no order, the plan's tasks only in seq order: each file is copied to DIR/batches as it is
   * read, keeping only each line's place (seq → offset, length), then the part's tasks are walked and each line is
   * read back from disk. Memory holds two numbers per request (12 bytes, in typed arrays), never the lines (a
   * 50,000-line file may be 200 MB).
   */
  private async ingest(part: BatchPart, b: OpenAI.Batch, retry: number[] | undefined): Promise<void> {
    const inPart = runSet(part.seqs);
    // Each request's line in the results file, by the request's place in the part (-1: no line yet).
    const placeOf = runIndex(part.seqs);
    const offsets = new Float64Array(runsSize(part.seqs)).fill(-1);
    const lengths = new Uint32Array(offsets.length);
    const path = join(this.o.dir, 'batches', `part-${part.part}.results.jsonl`);
    let odd = 0;
    let at = 0;
    const out = createWriteStream(path);
    const line = (bytes: Buffer, offset: number) => {
      let len = bytes.length;
      if (len > 0 && bytes[len - 1] === 0x0d) len--;
      if (len === 0) return;
      // The full check comes when the line is recorded; here only where it goes (custom_id comes first).
      const head = bytes.toString('utf8', 0, Math.min(len, 256));
      const seq = seqOfCustomId((CUSTOM_ID_FIELD.exec(head) ?? CUSTOM_ID_FIELD.exec(bytes.toString('utf8', 0, len)))?.[1]);
      // Not ours, or a second line for a request: reported, never recorded.
      const place = seq === undefined ? -1 : placeOf(seq);
      if (place < 0 || offsets[place]! >= 0) {
        odd++;
        return;
      }
      offsets[place] = offset;
      lengths[place] = len;
    };
    const write = async (bytes: Buffer | string) => {
      if (!out.write(bytes)) await once(out, 'drain');
    };
    try {
      for (const fileId of [b.output_file_id, b.error_file_id]) {
        if (!fileId) continue;
        const res = await this.call(() => this.client.files.content(fileId));
        if (!res.body) continue;
        // The bytes go to disk as they come, pulled (readline would buffer lines while the disk is busy); only each
        // line's place is kept.
        at = await copyLines(res.body as unknown as AsyncIterable<Uint8Array>, at, line, write);
      }
    } finally {
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    }
    // A cancelled or expired batch leaves out the requests it never ran (one cancelled while validating ran none):
    // they are what its batch_cancelled / batch_expired lines would have said, unpaid, and are handled as those.
    const code = b.status === 'cancelled' ? 'batch_cancelled' : b.status === 'expired' ? 'batch_expired' : 'missing_line';
    const missing = (seq: number): BatchOutputLine => ({ id: '', custom_id: `seq-${seq}`, response: null, error: { code, message: `batch ${b.id} (${b.status}) returned no line for this request` } });
    // Synchronous positional reads: a few microseconds each from the page cache, where the thread pool's round trip
    // would cost ten times that per line.
    const fd = openSync(path, 'r');
    try {
      let buf = Buffer.alloc(64 * 1024);
      let taken = 0;
      for await (const task of this.o.replan(inPart)) {
        if (this.run.abort.aborted) return;
        const place = placeOf(task.seq);
        const offset = place < 0 ? -1 : offsets[place]!;
        let line: BatchOutputLine | undefined;
        if (offset >= 0) {
          const len = lengths[place]!;
          if (buf.length < len) buf = Buffer.alloc(len);
          readSync(fd, buf, 0, len, offset);
          const parsed = parseOutputLine(buf.toString('utf8', 0, len));
          if (parsed.ok && parsed.seq === task.seq) line = parsed.line;
          else odd++;
        }
        await this.record(part, b, task, line ?? missing(task.seq), retry);
        if (this.recorded === 3) await testPause('ingesting');
        // Nothing here waits on I/O for hundreds of lines: yielding lets the journal write what it holds, so fewer
        // records outlive a scavenge and V8 grows its young generation later (~15 MB less peak RSS, RESULTS.md).
        if (++taken % INGEST_YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      closeSync(fd);
    }
    if (odd > 0) this.o.onNotice?.(`Batch ${b.id}: ${odd} line${odd === 1 ? '' : 's'} in its result files named no request of this part, named one twice, or were unreadable; they were not recorded.`);
  }

  private async record(part: BatchPart, b: OpenAI.Batch, task: Task, line: BatchOutputLine, retry: number[] | undefined): Promise<void> {
    const startedAt = new Date((b.created_at ?? Date.now() / 1000) * 1000);
    const out = lineOutcome(task, line, { attempts: part.attempt, startedAt }, { check: this.o.check, redact: this.o.redact });
    if (out.kind === 'retryable' && this.o.cancel) {
      // Cancelled before it ran: left unrecorded, so a later --resume submits it (it was not paid for).
      if (line.error?.code === 'batch_cancelled') return;
    }
    if (out.kind === 'retryable' && retry && !this.o.cancel && part.attempt < this.maxAttempts) {
      retry.push(task.seq);
      return;
    }
    // Which batch answered: its usage is billed at the batch price, also in a run resumed in the other mode.
    out.record.batch_id = b.id;
    if (this.o.scripts) await gradeScripts(this.o.scripts, out.record, task, this.run.abort);
    this.run.onRecord(out.record, task);
    this.recorded++;
    if (out.record.error) this.failed++;
    else this.done++;
  }

  // ---- calls ----

  /** One API call, tried again on 429/5xx/connection errors within retry.max_attempts; a refused key stops the run. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await fn();
      } catch (e) {
        if (!transient(e) || tries >= this.maxAttempts) throw e;
        await this.sleep(Math.min(1000 * 2 ** tries, this.o.config.retry.maxWaitS * 1000));
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.run.stop;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * A test hook, inert unless EVALRUN_TEST_PAUSE_AT names the point: the process says so on stderr and waits to be
 * killed there, so the kill -9 tests (test/e2e/batch.test.ts) hit the protocol's dangerous instants exactly.
 */
async function testPause(point: 'after-upload' | 'after-create' | 'ingesting'): Promise<void> {
  if (process.env['EVALRUN_TEST_PAUSE_AT'] !== point) return;
  process.stderr.write(`evalrun test pause: ${point}\n`);
  await new Promise<never>(() => setInterval(() => {}, 60_000));
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

const key = (p: { part: number; attempt: number }) => `${p.part}/${p.attempt}`;

function transient(e: unknown): boolean {
  if (!(e instanceof APIError)) return false;
  const s = e.status;
  return s === undefined || s === 408 || s === 409 || s === 429 || s >= 500;
}

/** An API refusal becomes the run's stop reason (exit 5); other errors are the caller's to throw. */
function fatalOf(e: unknown, redact: (s: string) => string): unknown {
  if (e instanceof APIError) {
    const what = e.status === undefined ? `could not reach the API (${e.message})` : `the API answered ${e.status}: ${e.message}`;
    return new ApiFatalError(redact(`Batch API: ${what}. The run's batches are recorded in run.json; resume with --resume once this is fixed.`), e.status, { cause: e });
  }
  return e;
}
