/**
 * The Files and Batch APIs of the simulator. Time is compressed (a batch takes `batch.duration_ms`, or `batch.slow`'s
 * for the batches it picks, fixed when the batch is created) and advanced
 * lazily: whenever a batch is looked at, the lines due by now are answered, so a poll every 0.2 s sees the counts
 * grow and a cancel or an expiry half-way keeps exactly the lines finished so far. Each line is answered by the same
 * code as a synchronous request (validation, model, faults), through the `answer` callback the server provides.
 *
 * Files and batches live on disk (src/simulator/batch-disk.ts), in `state_dir` when one is given: the simulator a
 * run starts for `provider: simulator` keeps them in the run directory, so its batches outlive the process like a
 * real provider's, and memory holds no file's lines (a 200,000-request run would otherwise hold them all).
 */
import { mkdtempSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendText, ensureDir, forEachLine, readJsonDir, readLinesAt, removeQuietly, reorderedCopy, truncateTo, writeJsonAtomic } from './batch-disk.js';
import { errorBody, invalidRequest, type ApiErrorInfo } from './errors.js';
import type { BatchSimulatorOptions, SimulatedReply } from './types.js';

export const BATCH_ENDPOINT = '/v1/chat/completions';
export const MAX_BATCH_LINES = 50_000;
export const MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024;
const DEFAULT_DURATION_MS = 1000;
/** Shares of a batch's duration spent validating and finalizing; the rest answers lines. */
const VALIDATING_SHARE = 0.1;
const FINALIZING_SHARE = 0.1;
const EXPIRY_S = 24 * 3600;
/** Files uploaded for batches, and result files unless the batch asked otherwise, are kept 30 days (the API's default). */
const FILE_EXPIRY_S = 30 * 24 * 3600;
/** `output_expires_after.seconds` bounds, as the API documents them. */
const MIN_OUTPUT_EXPIRY_S = 3600;
const MAX_OUTPUT_EXPIRY_S = 30 * 24 * 3600;
/**
 * Lines answered per batch per step: a 50,000-line batch is answered in slices between other requests instead of
 * blocking the event loop for seconds inside one poll, so polls, cancels and chat requests stay answered meanwhile.
 */
const LINES_PER_STEP = 1000;
const TICK_MS = 5;

export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
  expires_at: number | null;
  status_details: null;
}

interface BatchErrorItem {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

export type BatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

export interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  model: string | null;
  errors: { object: 'list'; data: BatchErrorItem[] } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  };
  metadata: Record<string, string> | null;
}

/** The faults a batch was given when it was created (by the options' `times`), kept with it across restarts. */
interface BatchFaults {
  expireAfter?: number;
  cancelAfter?: number;
  unknownStatus?: string;
  overdue?: boolean;
  noOutput?: boolean;
  deleteOutput?: boolean;
  dropLines?: number;
  oddLines?: boolean;
}

/** A batch as saved: its object and where its work stands. */
interface BatchState {
  obj: BatchObject;
  /** 1-based order of creation: the fault options pick batches by it. */
  ordinal: number;
  createdMs: number;
  /** Byte offset in the input file of the next line to answer. */
  cursor: number;
  /** Lines answered so far, in input order (the result files are written in another order). */
  done: number;
  /** Sizes of the answered-lines part files when the state was saved: a restart cuts what came after. */
  outBytes: number;
  errBytes: number;
  cancelAtMs: number | null;
  /** Enqueued tokens (the prompt estimate plus max_tokens × n of each line), for `token_limit`. */
  tokens: number;
  outputExpiresAfter: number;
  faults: BatchFaults;
  /** How long this batch takes, ms: `duration_ms`, or `slow.duration_ms` when `slow` picked it. Absent in states saved before it was kept. */
  durationMs?: number;
}

/** Counters of the `times` options, saved so a restarted simulator does not play a fault twice. */
interface Counters {
  created: number;
  validationFailures: number;
  picked: Record<string, number>;
  /** Result files downloaded at least once: only a file's first download is spoilt. */
  downloads: number;
  downloaded: string[];
}

/** What answering one line produced: an HTTP answer (any status) or a failure with no response. */
export type LineAnswer = { reply: SimulatedReply; requestId: string } | { error: { code: string; message: string } };

export interface BatchDeps {
  options: BatchSimulatorOptions;
  /** Where files and batches are kept; default a folder of its own under the OS temp dir, removed by `dispose`. */
  dir?: string | undefined;
  /** Answers one request body exactly as POST /v1/chat/completions would (faults and attempt counters included). */
  answer: (body: Record<string, unknown>, customId: string) => LineAnswer;
  /** Each line of a batch that passed validation, by custom_id. */
  onAccepted?: ((customId: string) => void) | undefined;
  /** A line's enqueued tokens, for `token_limit`. */
  tokens: (body: Record<string, unknown>) => number;
  now?: (() => number) | undefined;
  newId: (prefix: string) => string;
}

export type DownloadFault = 'reset' | 'stall' | 'html' | 'short' | 'cut' | 'server_error';
export const DOWNLOAD_FAULTS: readonly DownloadFault[] = ['reset', 'stall', 'html', 'short', 'cut', 'server_error'];

export type Reply = { status: number; body: unknown; contentType?: string; file?: { path: string; bytes: number; fault?: DownloadFault | undefined } };

const ok = (body: unknown): Reply => ({ status: 200, body });
const fail = (e: ApiErrorInfo): Reply => ({ status: e.status, body: errorBody(e) });
const notFound = (what: string, id: string): Reply =>
  fail({ status: 404, message: `No such ${what}: '${id}'.`, type: 'invalid_request_error', param: 'id', code: null });

export class BatchStore {
  private readonly files = new Map<string, FileObject>();
  private readonly batches = new Map<string, BatchState>();
  private readonly order: string[] = [];
  private counters: Counters = { created: 0, validationFailures: 0, picked: {}, downloads: 0, downloaded: [] };
  private readonly now: () => number;
  private readonly deps: BatchDeps;
  private readonly dir: string;
  private readonly ownDir: boolean;
  /** Advances running batches in the background, so they finish even when nobody polls. */
  private ticker: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(deps: BatchDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.ownDir = deps.dir === undefined;
    this.dir = deps.dir ?? mkdtempSync(join(tmpdir(), 'evalrun-sim-'));
    this.load();
  }

  private get duration(): number {
    return Math.max(0, this.deps.options.duration_ms ?? DEFAULT_DURATION_MS);
  }

  /** The duration of the batch created `ordinal`-th: `slow` picks batches by their creation order, as the faults do. */
  private durationFor(ordinal: number): number {
    const slow = this.deps.options.slow;
    if (!slow) return this.duration;
    const skip = slow.skip ?? 0;
    if (ordinal <= skip || ordinal > skip + (slow.times ?? Infinity)) return this.duration;
    return Math.max(0, slow.duration_ms ?? this.duration);
  }

  private durationOf(s: BatchState): number {
    return s.durationMs ?? this.duration;
  }

  private seconds(ms: number): number {
    return Math.floor(ms / 1000);
  }

  private filesDir(): string {
    return ensureDir(join(this.dir, 'files'));
  }

  private batchesDir(): string {
    return ensureDir(join(this.dir, 'batches'));
  }

  private contentPath(id: string): string {
    return join(this.dir, 'files', `${id}.jsonl`);
  }

  private partPath(id: string, which: 'out' | 'err'): string {
    return join(this.dir, 'batches', `${id}.${which}`);
  }

  private load(): void {
    for (const f of readJsonDir<FileObject>(join(this.dir, 'files'))) this.files.set(f.id, f);
    const saved = readJsonDir<BatchState>(join(this.dir, 'batches')).sort((a, b) => a.ordinal - b.ordinal);
    for (const s of saved) {
      // Lines appended after the state was last saved are answered again from the saved cursor.
      truncateTo(this.partPath(s.obj.id, 'out'), s.outBytes);
      truncateTo(this.partPath(s.obj.id, 'err'), s.errBytes);
      this.batches.set(s.obj.id, s);
      this.order.push(s.obj.id);
    }
    const counters = readJsonDir<Counters & { kind: string }>(this.dir).find((c) => c.kind === 'counters');
    if (counters) this.counters = { created: counters.created, validationFailures: counters.validationFailures, picked: counters.picked, downloads: counters.downloads, downloaded: counters.downloaded };
    if (saved.some((s) => !isFinal(s.obj.status))) this.kick();
  }

  /**
   * Writes the state a simulator started again on the same state_dir reads back (load). A store in a folder of its
   * own, removed when it closes, is never read back: its state stays in memory, which spares a test's simulator a
   * write and a rename per running batch per step.
   */
  private persist(path: () => string, value: unknown): void {
    if (!this.ownDir) writeJsonAtomic(path(), value);
  }

  private saveCounters(): void {
    this.persist(() => join(ensureDir(this.dir), 'counters.json'), { kind: 'counters', ...this.counters });
  }

  private saveBatch(s: BatchState): void {
    this.persist(() => join(this.batchesDir(), `${s.obj.id}.json`), s);
  }

  // ---- files ----

  /** Checks an upload's purpose and name, then keeps the file at `path` (moved into the store). */
  addFile(filename: string, purpose: string, path: string): Reply {
    const bytes = statSync(path).size;
    const refuse = (r: Reply) => {
      removeQuietly(path);
      return r;
    };
    const known = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
    if (!known.includes(purpose)) {
      return refuse(fail(invalidRequest(`'${purpose}' is not one of ${known.map((k) => `'${k}'`).join(', ')} - 'purpose'`, 'purpose', null)));
    }
    if (purpose === 'batch') {
      if (!filename.endsWith('.jsonl')) return refuse(fail(invalidRequest(`Invalid file format for Batch API. Must be .jsonl`, 'file', 'invalid_file_format')));
      const max = this.deps.options.max_file_bytes ?? MAX_BATCH_FILE_BYTES;
      if (bytes > max) {
        return refuse(fail(invalidRequest(`File is too large: ${bytes} bytes; the Batch API accepts at most ${max} bytes.`, 'file', 'file_too_large')));
      }
    }
    const f = this.newFile(filename, purpose, bytes, purpose === 'batch' ? FILE_EXPIRY_S : null);
    renameSync(path, this.contentPath(f.id));
    return ok(f);
  }

  /** A folder uploads are streamed into before `addFile` (same file system, so the move is a rename). */
  uploadDir(): string {
    return ensureDir(join(this.dir, 'uploads'));
  }

  private newFile(filename: string, purpose: string, bytes: number, expiresAfterS: number | null): FileObject {
    // The content is written here whether or not the object beside it is (persist).
    this.filesDir();
    const created = this.seconds(this.now());
    const file: FileObject = {
      id: this.deps.newId('file-'),
      object: 'file',
      bytes,
      created_at: created,
      filename,
      purpose,
      status: 'processed',
      expires_at: expiresAfterS === null ? null : created + expiresAfterS,
      status_details: null,
    };
    this.files.set(file.id, file);
    this.persist(() => join(this.filesDir(), `${file.id}.json`), file);
    return file;
  }

  /** A file that exists and has not expired. */
  private liveFile(id: string): FileObject | undefined {
    const f = this.files.get(id);
    if (!f) return undefined;
    if (f.expires_at !== null && this.seconds(this.now()) >= f.expires_at) {
      this.removeFile(id);
      return undefined;
    }
    return f;
  }

  private removeFile(id: string): void {
    this.files.delete(id);
    removeQuietly(join(this.dir, 'files', `${id}.json`));
    removeQuietly(this.contentPath(id));
  }

  getFile(id: string): Reply {
    const f = this.liveFile(id);
    return f ? ok(f) : notFound('file', id);
  }

  /** The file's bytes, to be streamed by the server; result files may be spoilt on demand (`batch.download`). */
  fileContent(id: string): Reply {
    const f = this.liveFile(id);
    if (!f) return notFound('file', id);
    let fault: DownloadFault | undefined;
    if (f.purpose === 'batch_output' && this.deps.options.download && !this.counters.downloaded.includes(id)) {
      this.counters.downloaded.push(id);
      const d = this.deps.options.download;
      let k = this.counters.downloads;
      for (const kind of DOWNLOAD_FAULTS) {
        const n = d[kind] ?? 0;
        if (k < n) {
          fault = kind;
          break;
        }
        k -= n;
      }
      this.counters.downloads++;
      this.saveCounters();
    }
    return { status: 200, body: null, contentType: 'application/octet-stream', file: { path: this.contentPath(id), bytes: f.bytes, fault } };
  }

  deleteFile(id: string): Reply {
    if (!this.liveFile(id)) return notFound('file', id);
    this.removeFile(id);
    return ok({ id, object: 'file', deleted: true });
  }

  listFiles(query: URLSearchParams): Reply {
    const purpose = query.get('purpose');
    const all = [...this.files.keys()].map((id) => this.liveFile(id)).filter((f): f is FileObject => f !== undefined && (purpose === null || f.purpose === purpose)).reverse();
    return ok(page(all, query));
  }

  // ---- batches ----

  createBatch(params: unknown): Reply {
    if (typeof params !== 'object' || params === null || Array.isArray(params)) return fail(invalidRequest('The body must be a JSON object.', null, null));
    const p = params as Record<string, unknown>;
    const inputFileId = p['input_file_id'];
    if (typeof inputFileId !== 'string') return fail(invalidRequest("Missing required parameter: 'input_file_id'.", 'input_file_id', 'missing_required_parameter'));
    const file = this.liveFile(inputFileId);
    if (!file) return fail(invalidRequest(`Invalid 'input_file_id': '${inputFileId}'. File not found.`, 'input_file_id', 'invalid_value'));
    if (file.purpose !== 'batch') {
      return fail(invalidRequest(`Invalid 'input_file_id': the file's purpose is '${file.purpose}', not 'batch'.`, 'input_file_id', 'invalid_value'));
    }
    if (p['endpoint'] !== BATCH_ENDPOINT) {
      return fail(invalidRequest(`Invalid 'endpoint': ${JSON.stringify(p['endpoint'])}. The simulator supports '${BATCH_ENDPOINT}' only.`, 'endpoint', 'invalid_value'));
    }
    if (p['completion_window'] !== '24h') {
      return fail(invalidRequest(`Invalid 'completion_window': ${JSON.stringify(p['completion_window'])}. Supported values are: '24h'.`, 'completion_window', 'invalid_value'));
    }
    const metadata = p['metadata'] ?? null;
    const bad = metadataProblem(metadata);
    if (bad) return fail(invalidRequest(bad, 'metadata', 'invalid_value'));
    let outputExpiresAfter = FILE_EXPIRY_S;
    const oea = p['output_expires_after'];
    if (oea !== undefined && oea !== null) {
      const seconds = (oea as { seconds?: unknown }).seconds;
      if ((oea as { anchor?: unknown }).anchor !== 'created_at' || typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < MIN_OUTPUT_EXPIRY_S || seconds > MAX_OUTPUT_EXPIRY_S) {
        return fail(invalidRequest(`Invalid 'output_expires_after': expected {anchor: 'created_at', seconds: ${MIN_OUTPUT_EXPIRY_S}..${MAX_OUTPUT_EXPIRY_S}}.`, 'output_expires_after', 'invalid_value'));
      }
      outputExpiresAfter = seconds;
    }
    const nowMs = this.now();
    const created = this.seconds(nowMs);
    const ordinal = ++this.counters.created;
    const faults = this.pickFaults(ordinal);
    const obj: BatchObject = {
      id: this.deps.newId('batch_'),
      object: 'batch',
      endpoint: BATCH_ENDPOINT,
      model: null,
      errors: null,
      input_file_id: inputFileId,
      completion_window: '24h',
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: created,
      in_progress_at: null,
      // An overdue batch is more than an hour past its window from the start, and never ends.
      expires_at: faults.overdue ? created - 3700 : created + EXPIRY_S,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      usage: { input_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 },
      metadata: metadata as Record<string, string> | null,
    };
    const state: BatchState = { obj, ordinal, createdMs: nowMs, cursor: 0, done: 0, outBytes: 0, errBytes: 0, cancelAtMs: null, tokens: 0, outputExpiresAfter, faults, durationMs: this.durationFor(ordinal) };
    this.batches.set(obj.id, state);
    // Its result parts are written here whether or not the state beside them is (persist).
    this.batchesDir();
    this.order.push(obj.id);
    this.saveCounters();
    this.advance(state, nowMs);
    this.saveBatch(state);
    this.kick();
    return ok(this.shown(state));
  }

  /**
   * Which fault the batch created `ordinal`-th gets: each option's first `times` batches (default 1), one fault per
   * batch, so several options spoil successive batches.
   */
  private pickFaults(ordinal: number): BatchFaults {
    const o = this.deps.options;
    const f: BatchFaults = {};
    const take = (name: string, times: number | undefined, skip = 0): boolean => {
      if (ordinal <= skip || Object.keys(f).length > 0) return false;
      const n = this.counters.picked[name] ?? 0;
      if (n >= (times ?? 1)) return false;
      this.counters.picked[name] = n + 1;
      return true;
    };
    if (o.expire && take('expire', o.expire.times ?? Infinity, o.expire.skip ?? 0)) f.expireAfter = Math.min(1, Math.max(0, o.expire.after ?? 0.5));
    if (o.cancel_external && take('cancel_external', o.cancel_external.times)) f.cancelAfter = Math.min(1, Math.max(0, o.cancel_external.after ?? 0.5));
    if (o.unknown_status && take('unknown_status', o.unknown_status.times)) f.unknownStatus = o.unknown_status.status ?? 'queued';
    if (o.overdue && take('overdue', o.overdue.times)) f.overdue = true;
    if (o.no_output_file && take('no_output_file', o.no_output_file.times)) f.noOutput = true;
    if (o.delete_output && take('delete_output', o.delete_output.times)) f.deleteOutput = true;
    if (o.drop_lines && take('drop_lines', o.drop_lines.times)) f.dropLines = Math.max(1, o.drop_lines.count ?? 1);
    if (o.odd_lines && take('odd_lines', o.odd_lines.times)) f.oddLines = true;
    return f;
  }

  /** The batch as the API shows it: a status outside the API's list while validating (`unknown_status`). */
  private shown(s: BatchState): BatchObject {
    if (s.faults.unknownStatus && s.obj.status === 'validating') return { ...s.obj, status: s.faults.unknownStatus as BatchStatus };
    return s.obj;
  }

  /** Stops the background ticker (the server is closing); a folder of its own is removed. */
  dispose(): void {
    this.closed = true;
    clearTimeout(this.ticker);
    this.ticker = undefined;
    if (this.ownDir) removeQuietly(this.dir);
  }

  private kick(): void {
    if (this.ticker !== undefined || this.closed) return;
    this.ticker = setTimeout(() => {
      this.ticker = undefined;
      if (this.closed) return;
      const nowMs = this.now();
      let active = false;
      for (const s of this.batches.values()) {
        if (isFinal(s.obj.status) || s.faults.overdue) continue;
        this.step(s, nowMs);
        active ||= !isFinal(s.obj.status);
      }
      if (active) this.kick();
    }, TICK_MS);
    this.ticker.unref();
  }

  /** Advances a batch and saves it when something changed. */
  private step(s: BatchState, nowMs: number): void {
    const before = `${s.obj.status}/${s.done}`;
    this.advance(s, nowMs);
    if (`${s.obj.status}/${s.done}` !== before) this.saveBatch(s);
  }

  getBatch(id: string): Reply {
    const s = this.batches.get(id);
    if (!s) return notFound('batch', id);
    this.step(s, this.now());
    return ok(this.shown(s));
  }

  cancelBatch(id: string): Reply {
    const s = this.batches.get(id);
    if (!s) return notFound('batch', id);
    const nowMs = this.now();
    this.step(s, nowMs);
    const st = s.obj.status;
    if (st === 'validating' || st === 'in_progress') {
      s.obj.status = 'cancelling';
      s.obj.cancelling_at = this.seconds(nowMs);
      // The provider takes a moment to stop: the lines due until then still finish.
      s.cancelAtMs = nowMs + this.durationOf(s) * FINALIZING_SHARE;
      this.advance(s, nowMs);
      this.saveBatch(s);
      return ok(this.shown(s));
    }
    if (st === 'cancelling' || st === 'cancelled') return ok(this.shown(s));
    return fail({ status: 409, message: `Cannot cancel a batch with status '${st}'.`, type: 'invalid_request_error', param: null, code: null });
  }

  listBatches(query: URLSearchParams): Reply {
    const nowMs = this.now();
    const all: BatchObject[] = [];
    for (let i = this.order.length - 1; i >= 0; i--) {
      const s = this.batches.get(this.order[i] as string) as BatchState;
      this.step(s, nowMs);
      all.push(this.shown(s));
    }
    return ok(page(all, query));
  }

  // ---- the lifecycle ----

  private advance(s: BatchState, nowMs: number): void {
    const o = s.obj;
    const d = this.durationOf(s);
    const startMs = s.createdMs + d * VALIDATING_SHARE;
    if (o.status === 'validating' && (nowMs >= startMs || s.cancelAtMs !== null)) {
      if (!this.validate(s)) {
        o.status = 'failed';
        o.failed_at = this.seconds(nowMs);
        return;
      }
      if (s.cancelAtMs === null) {
        o.status = 'in_progress';
        o.in_progress_at = this.seconds(startMs);
      }
    }
    if (o.status !== 'in_progress' && o.status !== 'cancelling' && o.status !== 'finalizing') return;
    const span = d * (1 - VALIDATING_SHARE - FINALIZING_SHARE);
    const total = o.request_counts.total;
    const stopAt = s.cancelAtMs ?? Infinity;
    const until = Math.min(nowMs, stopAt);
    const due = span <= 0 ? total : Math.min(total, Math.ceil((total * Math.max(0, until - startMs)) / span));
    // A fault that stops the batch part-way: an expiry, someone else's cancel, or an overdue batch that stalls.
    const partWay = s.faults.expireAfter ?? s.faults.cancelAfter ?? (s.faults.overdue ? 0.5 : undefined);
    const stopLine = partWay === undefined ? total : Math.floor(total * partWay);
    this.answerUpTo(s, Math.min(due, stopLine, s.done + LINES_PER_STEP));
    if (partWay !== undefined && s.done >= stopLine && o.status === 'in_progress' && stopLine < total) {
      if (s.faults.overdue) return;
      if (s.faults.cancelAfter !== undefined) {
        o.cancelling_at = this.seconds(nowMs);
        this.close(s, 'cancelled', nowMs, 'batch_cancelled', 'This request was not executed because the batch was cancelled.');
      } else {
        this.close(s, 'expired', nowMs, 'batch_expired', 'This request could not be executed before the completion window expired.');
      }
      return;
    }
    if (o.status === 'cancelling') {
      if (nowMs >= stopAt || s.done >= total) this.close(s, 'cancelled', nowMs, 'batch_cancelled', 'This request was not executed because the batch was cancelled.');
      return;
    }
    if (s.done < total) return;
    const finalizingMs = startMs + span;
    if (o.finalizing_at === null) {
      o.status = 'finalizing';
      o.finalizing_at = this.seconds(Math.min(nowMs, finalizingMs));
    }
    if (nowMs >= finalizingMs + d * FINALIZING_SHARE) this.close(s, 'completed', nowMs, '', '');
  }

  /** Reads and checks the input file as the API does before anything runs; false when the batch fails. */
  private validate(s: BatchState): boolean {
    const o = s.obj;
    const file = this.liveFile(o.input_file_id);
    const errors: BatchErrorItem[] = [];
    const push = (code: string, message: string, line: number | null, param: string | null = null) => {
      if (errors.length < 100) errors.push({ code, message, param, line });
    };
    if (!file) push('invalid_file', `The input file ${o.input_file_id} was deleted before the batch started.`, null);
    const ids = new Set<string>();
    const accepted: string[] = [];
    let model: string | undefined;
    let count = 0;
    let tokens = 0;
    if (file) {
      forEachLine(this.contentPath(file.id), (text, i) => {
        if (text === '') return;
        count++;
        if (errors.length >= 100) return;
        const n = i + 1;
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch {
          push('invalid_json_line', `This line is not parseable as valid JSON.`, n);
          return;
        }
        if (typeof v !== 'object' || v === null || Array.isArray(v)) {
          push('invalid_json_line', 'This line is not a JSON object.', n);
          return;
        }
        const l = v as Record<string, unknown>;
        const id = l['custom_id'];
        if (typeof id !== 'string' || id === '') {
          push('missing_required_parameter', "Missing required parameter: 'custom_id'.", n, 'custom_id');
          return;
        }
        accepted.push(id);
        if (ids.has(id)) push('duplicate_custom_id', `The custom_id for this request is a duplicate of another request: '${id}'.`, n, 'custom_id');
        ids.add(id);
        if (l['method'] !== 'POST') push('invalid_request', `Invalid 'method': ${JSON.stringify(l['method'])}. Only 'POST' is supported.`, n, 'method');
        if (l['url'] !== o.endpoint) push('mismatched_endpoint', `The url ${JSON.stringify(l['url'])} does not match the batch's endpoint '${o.endpoint}'.`, n, 'url');
        const body = l['body'];
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          push('missing_required_parameter', "Missing required parameter: 'body'.", n, 'body');
          return;
        }
        const m = (body as Record<string, unknown>)['model'];
        if (typeof m === 'string') {
          if (model === undefined) model = m;
          else if (m !== model) push('mismatched_model', `The model '${m}' differs from the model of the first request ('${model}'): a batch must use one model.`, n, 'body.model');
        }
        tokens += this.deps.tokens(body as Record<string, unknown>);
      });
    }
    const maxLines = this.deps.options.max_requests ?? MAX_BATCH_LINES;
    if (count > maxLines) push('too_many_requests', `The input file has ${count} requests; a batch accepts at most ${maxLines}.`, null);
    if (file && count === 0) push('empty_file', 'The input file has no requests.', null);
    const limitMessage = (limit: number | string) =>
      `Enqueued token limit reached for ${model ?? 'this model'} in organization org-evalrun-sim. Limit: ${typeof limit === 'number' ? limit.toLocaleString('en-US') : limit} enqueued tokens. ` +
      'Please try again once some in_progress batches have been completed.';
    const cap = this.deps.options.token_limit;
    if (errors.length === 0 && cap !== undefined && this.enqueued(model, s) + tokens > cap) push('token_limit_exceeded', limitMessage(cap), null);
    const limit = this.deps.options.fail_validation;
    if (errors.length === 0 && limit !== undefined && this.counters.validationFailures < (limit.times ?? 1)) {
      this.counters.validationFailures++;
      this.saveCounters();
      push(limit.code ?? 'token_limit_exceeded', limit.message ?? limitMessage('90,000'), null);
    }
    o.model = model ?? null;
    if (errors.length > 0) {
      o.errors = { object: 'list', data: errors };
      return false;
    }
    o.request_counts.total = count;
    s.tokens = tokens;
    for (const id of accepted) this.deps.onAccepted?.(id);
    return true;
  }

  /** Tokens of the model's batches still running: what `token_limit` counts against. */
  private enqueued(model: string | undefined, except: BatchState): number {
    let sum = 0;
    for (const b of this.batches.values()) {
      if (b === except || b.obj.model !== (model ?? null) || isFinal(b.obj.status) || b.obj.status === 'validating') continue;
      sum += b.tokens;
    }
    return sum;
  }

  private answerUpTo(s: BatchState, due: number): void {
    if (s.done >= due) return;
    const o = s.obj;
    const { lines, next } = readLinesAt(this.contentPath(o.input_file_id), s.cursor, due - s.done);
    let out = '';
    let err = '';
    for (const text of lines) {
      s.done++;
      if (text === '') continue;
      const line = JSON.parse(text) as { custom_id: string; body: Record<string, unknown> };
      const answer = this.deps.answer(line.body, line.custom_id);
      const id = this.deps.newId('batch_req_');
      if ('error' in answer) {
        err += `${JSON.stringify({ id, custom_id: line.custom_id, response: null, error: answer.error })}\n`;
        o.request_counts.failed++;
        continue;
      }
      const { reply, requestId } = answer;
      const json = JSON.stringify({ id, custom_id: line.custom_id, response: { status_code: reply.status, request_id: requestId, body: reply.body }, error: null });
      if (reply.status >= 200 && reply.status < 300) {
        out += `${json}\n`;
        o.request_counts.completed++;
        const usage = (reply.body as { usage?: { prompt_tokens?: number; completion_tokens?: number } }).usage;
        o.usage.input_tokens += usage?.prompt_tokens ?? 0;
        o.usage.output_tokens += usage?.completion_tokens ?? 0;
        o.usage.total_tokens = o.usage.input_tokens + o.usage.output_tokens;
      } else {
        err += `${json}\n`;
        o.request_counts.failed++;
      }
    }
    s.cursor = next;
    this.batchesDir();
    appendText(this.partPath(o.id, 'out'), out);
    appendText(this.partPath(o.id, 'err'), err);
    s.outBytes += Buffer.byteLength(out);
    s.errBytes += Buffer.byteLength(err);
    // Saved by the caller of `advance` (step, createBatch, cancelBatch), in the same turn of the event loop.
  }

  /** Writes the output and error files and ends the batch; lines never answered go to the error file with `code`. */
  private close(s: BatchState, status: 'completed' | 'expired' | 'cancelled', nowMs: number, code: string, message: string): void {
    const o = s.obj;
    const errPath = this.partPath(o.id, 'err');
    const outPath = this.partPath(o.id, 'out');
    let offset = s.cursor;
    for (;;) {
      const { lines, next } = readLinesAt(this.contentPath(o.input_file_id), offset, LINES_PER_STEP);
      if (lines.length === 0) break;
      let err = '';
      for (const text of lines) {
        if (text === '') continue;
        const customId = (JSON.parse(text) as { custom_id: string }).custom_id;
        err += `${JSON.stringify({ id: this.deps.newId('batch_req_'), custom_id: customId, response: null, error: { code, message } })}\n`;
        o.request_counts.failed++;
      }
      appendText(errPath, err);
      offset = next;
    }
    s.done = o.request_counts.total;
    s.cursor = offset;
    const t = this.seconds(nowMs);
    if (o.request_counts.completed > 0 && !s.faults.noOutput) {
      const f = this.newFile(`batch_${o.id}_output.jsonl`, 'batch_output', 0, s.outputExpiresAfter);
      reorderedCopy(outPath, this.contentPath(f.id), s.faults.dropLines ?? 0);
      if (s.faults.oddLines) {
        const [first] = readLinesAt(this.contentPath(f.id), 0, 1).lines;
        const stranger = JSON.stringify({ id: this.deps.newId('batch_req_'), custom_id: 'someone-else-7', response: { status_code: 200, request_id: '', body: {} }, error: null });
        appendText(this.contentPath(f.id), `${first}\n${stranger}\n<html>not a line</html>\n`);
      }
      f.bytes = statSync(this.contentPath(f.id)).size;
      this.persist(() => join(this.filesDir(), `${f.id}.json`), f);
      o.output_file_id = f.id;
      // The provider deleted it (or it expired) before anyone downloaded it.
      if (s.faults.deleteOutput) this.removeFile(f.id);
    }
    if (o.request_counts.failed > 0) {
      const f = this.newFile(`batch_${o.id}_error.jsonl`, 'batch_output', 0, s.outputExpiresAfter);
      reorderedCopy(errPath, this.contentPath(f.id));
      f.bytes = statSync(this.contentPath(f.id)).size;
      this.persist(() => join(this.filesDir(), `${f.id}.json`), f);
      o.error_file_id = f.id;
    }
    o.status = status;
    if (status === 'completed') o.completed_at = t;
    else if (status === 'expired') o.expired_at = t;
    else o.cancelled_at = t;
    removeQuietly(outPath);
    removeQuietly(errPath);
    s.outBytes = 0;
    s.errBytes = 0;
    this.saveBatch(s);
  }
}

function isFinal(status: BatchStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'expired' || status === 'cancelled';
}

function metadataProblem(m: unknown): string | undefined {
  if (m === null) return undefined;
  if (typeof m !== 'object' || Array.isArray(m)) return "Invalid 'metadata': expected an object of string values.";
  const entries = Object.entries(m as Record<string, unknown>);
  if (entries.length > 16) return `Invalid 'metadata': ${entries.length} keys; at most 16 are allowed.`;
  for (const [k, v] of entries) {
    if (k.length > 64) return `Invalid 'metadata': the key '${k.slice(0, 20)}…' is longer than 64 characters.`;
    if (typeof v !== 'string') return `Invalid 'metadata.${k}': expected a string.`;
    if (v.length > 512) return `Invalid 'metadata.${k}': longer than 512 characters.`;
  }
  return undefined;
}

/** A cursor page as the API's list endpoints return it, newest first: `after` is the last id of the previous page. */
function page<T extends { id: string }>(all: T[], query: URLSearchParams): { object: 'list'; data: T[]; first_id: string | null; last_id: string | null; has_more: boolean } {
  const limitRaw = Number(query.get('limit') ?? 20);
  const limit = Number.isInteger(limitRaw) ? Math.min(100, Math.max(1, limitRaw)) : 20;
  const after = query.get('after');
  let start = 0;
  if (after !== null) {
    const i = all.findIndex((x) => x.id === after);
    start = i >= 0 ? i + 1 : all.length;
  }
  const data = all.slice(start, start + limit);
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: start + limit < all.length };
}
