/**
 * The Files and Batch APIs of the simulator. Time is compressed (a batch takes `batch.duration_ms`) and advanced
 * lazily: whenever a batch is looked at, the lines due by now are answered, so a poll every 0.2 s sees the counts
 * grow and a cancel or an expiry half-way keeps exactly the lines finished so far. Each line is answered by the same
 * code as a synchronous request (validation, model, faults), through the `answer` callback the server provides.
 */
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
/**
 * Lines answered per batch per step: a 50,000-line batch is answered in slices between other requests instead of
 * blocking the event loop for seconds inside one poll, so polls, cancels and chat requests stay answered meanwhile.
 */
const LINES_PER_STEP = 1000;
const TICK_MS = 5;

export interface StoredFile {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
  expires_at: number | null;
  status_details: null;
  content: Buffer;
}

interface BatchLine {
  custom_id: string;
  body: Record<string, unknown>;
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

interface BatchState {
  obj: BatchObject;
  /** 1-based order of creation: the fault options pick batches by it. */
  ordinal: number;
  createdMs: number;
  lines: BatchLine[];
  /** Lines answered so far (in input order; the output files are written in a shuffled order). */
  done: number;
  output: string[];
  errors: string[];
  cancelAtMs: number | null;
}

/** What answering one line produced: an HTTP answer (any status) or a failure with no response. */
export type LineAnswer = { reply: SimulatedReply; requestId: string } | { error: { code: string; message: string } };

export interface BatchDeps {
  options: BatchSimulatorOptions;
  /** Answers one request body exactly as POST /v1/chat/completions would (faults and attempt counters included). */
  answer: (body: Record<string, unknown>, customId: string) => LineAnswer;
  now?: () => number;
  newId: (prefix: string) => string;
}

export type Reply = { status: number; body: unknown; contentType?: string };

const ok = (body: unknown): Reply => ({ status: 200, body });
const fail = (e: ApiErrorInfo): Reply => ({ status: e.status, body: errorBody(e) });
const notFound = (what: string, id: string): Reply =>
  fail({ status: 404, message: `No such ${what}: '${id}'.`, type: 'invalid_request_error', param: 'id', code: null });

export class BatchStore {
  private readonly files = new Map<string, StoredFile>();
  private readonly batches = new Map<string, BatchState>();
  private readonly order: string[] = [];
  private created = 0;
  private validationFailures = 0;
  private expired = 0;
  private readonly now: () => number;
  private readonly deps: BatchDeps;
  /** Advances running batches in the background, so they finish even when nobody polls. */
  private ticker: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(deps: BatchDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  private get duration(): number {
    return Math.max(0, this.deps.options.duration_ms ?? DEFAULT_DURATION_MS);
  }

  private seconds(ms: number): number {
    return Math.floor(ms / 1000);
  }

  // ---- files ----

  addFile(filename: string, purpose: string, content: Buffer): Reply {
    const known = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
    if (!known.includes(purpose)) {
      return fail(invalidRequest(`'${purpose}' is not one of ${known.map((k) => `'${k}'`).join(', ')} - 'purpose'`, 'purpose', null));
    }
    if (purpose === 'batch') {
      if (!filename.endsWith('.jsonl')) return fail(invalidRequest(`Invalid file format for Batch API. Must be .jsonl`, 'file', 'invalid_file_format'));
      const max = this.deps.options.max_file_bytes ?? MAX_BATCH_FILE_BYTES;
      if (content.length > max) {
        return fail(invalidRequest(`File is too large: ${content.length} bytes; the Batch API accepts at most ${max} bytes.`, 'file', 'file_too_large'));
      }
    }
    return ok(publicFile(this.store(filename, purpose, content)));
  }

  private store(filename: string, purpose: string, content: Buffer): StoredFile {
    const file: StoredFile = {
      id: this.deps.newId('file-'),
      object: 'file',
      bytes: content.length,
      created_at: this.seconds(this.now()),
      filename,
      purpose,
      status: 'processed',
      expires_at: null,
      status_details: null,
      content,
    };
    this.files.set(file.id, file);
    return file;
  }

  getFile(id: string): Reply {
    const f = this.files.get(id);
    return f ? ok(publicFile(f)) : notFound('file', id);
  }

  fileContent(id: string): Reply {
    const f = this.files.get(id);
    return f ? { status: 200, body: f.content, contentType: 'application/octet-stream' } : notFound('file', id);
  }

  deleteFile(id: string): Reply {
    if (!this.files.delete(id)) return notFound('file', id);
    return ok({ id, object: 'file', deleted: true });
  }

  listFiles(query: URLSearchParams): Reply {
    const purpose = query.get('purpose');
    const all = [...this.files.values()].filter((f) => purpose === null || f.purpose === purpose).reverse().map(publicFile);
    return ok(page(all, query));
  }

  // ---- batches ----

  createBatch(params: unknown): Reply {
    if (typeof params !== 'object' || params === null || Array.isArray(params)) return fail(invalidRequest('The body must be a JSON object.', null, null));
    const p = params as Record<string, unknown>;
    const inputFileId = p['input_file_id'];
    if (typeof inputFileId !== 'string') return fail(invalidRequest("Missing required parameter: 'input_file_id'.", 'input_file_id', 'missing_required_parameter'));
    const file = this.files.get(inputFileId);
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
    const nowMs = this.now();
    const created = this.seconds(nowMs);
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
      expires_at: created + EXPIRY_S,
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
    const state: BatchState = { obj, ordinal: ++this.created, createdMs: nowMs, lines: [], done: 0, output: [], errors: [], cancelAtMs: null };
    this.batches.set(obj.id, state);
    this.order.push(obj.id);
    this.advance(state, nowMs);
    this.kick();
    return ok(obj);
  }

  /** Stops the background ticker (the server is closing). */
  dispose(): void {
    this.closed = true;
    clearTimeout(this.ticker);
    this.ticker = undefined;
  }

  private kick(): void {
    if (this.ticker !== undefined || this.closed) return;
    this.ticker = setTimeout(() => {
      this.ticker = undefined;
      const nowMs = this.now();
      let active = false;
      for (const s of this.batches.values()) {
        if (isFinal(s.obj.status)) continue;
        this.advance(s, nowMs);
        active ||= !isFinal(s.obj.status);
      }
      if (active) this.kick();
    }, TICK_MS);
    this.ticker.unref();
  }

  getBatch(id: string): Reply {
    const s = this.batches.get(id);
    if (!s) return notFound('batch', id);
    this.advance(s, this.now());
    return ok(s.obj);
  }

  cancelBatch(id: string): Reply {
    const s = this.batches.get(id);
    if (!s) return notFound('batch', id);
    const nowMs = this.now();
    this.advance(s, nowMs);
    const st = s.obj.status;
    if (st === 'validating' || st === 'in_progress') {
      s.obj.status = 'cancelling';
      s.obj.cancelling_at = this.seconds(nowMs);
      // The provider takes a moment to stop: the lines due until then still finish.
      s.cancelAtMs = nowMs + this.duration * FINALIZING_SHARE;
      this.advance(s, nowMs);
      return ok(s.obj);
    }
    if (st === 'cancelling' || st === 'cancelled') return ok(s.obj);
    return fail({ status: 409, message: `Cannot cancel a batch with status '${st}'.`, type: 'invalid_request_error', param: null, code: null });
  }

  listBatches(query: URLSearchParams): Reply {
    const nowMs = this.now();
    const all: BatchObject[] = [];
    for (let i = this.order.length - 1; i >= 0; i--) {
      const s = this.batches.get(this.order[i] as string) as BatchState;
      this.advance(s, nowMs);
      all.push(s.obj);
    }
    return ok(page(all, query));
  }

  // ---- the lifecycle ----

  private advance(s: BatchState, nowMs: number): void {
    const o = s.obj;
    const d = this.duration;
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
    const total = s.lines.length;
    const stopAt = s.cancelAtMs ?? Infinity;
    const until = Math.min(nowMs, stopAt);
    const due = span <= 0 ? total : Math.min(total, Math.ceil((total * Math.max(0, until - startMs)) / span));
    const expire = this.deps.options.expire;
    const expiresHere = expire !== undefined && s.ordinal > this.createdBeforeExpiry(expire) && this.expired < (expire.times ?? Infinity);
    const expireAfter = expiresHere ? Math.floor(total * Math.min(1, Math.max(0, expire?.after ?? 0.5))) : total;
    this.answerUpTo(s, Math.min(due, expireAfter, s.done + LINES_PER_STEP));
    if (expiresHere && s.done >= expireAfter && o.status === 'in_progress' && expireAfter < total) {
      this.expired++;
      this.close(s, 'expired', nowMs, 'batch_expired', 'This request could not be executed before the completion window expired.');
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

  /** Batches created before the first that may expire: `expire.skip` lets a test expire only a later batch. */
  private createdBeforeExpiry(expire: NonNullable<BatchSimulatorOptions['expire']>): number {
    return expire.skip ?? 0;
  }

  /** Parses and checks the input file as the API does before anything runs; false when the batch fails. */
  private validate(s: BatchState): boolean {
    const o = s.obj;
    const file = this.files.get(o.input_file_id);
    const errors: BatchErrorItem[] = [];
    const push = (code: string, message: string, line: number | null, param: string | null = null) => {
      if (errors.length < 100) errors.push({ code, message, param, line });
    };
    if (!file) push('invalid_file', `The input file ${o.input_file_id} was deleted before the batch started.`, null);
    const text = file ? file.content.toString('utf8') : '';
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const maxLines = this.deps.options.max_requests ?? MAX_BATCH_LINES;
    if (lines.length > maxLines) push('too_many_requests', `The input file has ${lines.length} requests; a batch accepts at most ${maxLines}.`, null);
    if (file && lines.length === 0) push('empty_file', 'The input file has no requests.', null);
    const ids = new Set<string>();
    let model: string | undefined;
    const parsed: BatchLine[] = [];
    for (let i = 0; i < lines.length && errors.length < 100; i++) {
      const n = i + 1;
      let v: unknown;
      try {
        v = JSON.parse(lines[i] as string);
      } catch {
        push('invalid_json_line', `This line is not parseable as valid JSON.`, n);
        continue;
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        push('invalid_json_line', 'This line is not a JSON object.', n);
        continue;
      }
      const l = v as Record<string, unknown>;
      const id = l['custom_id'];
      if (typeof id !== 'string' || id === '') {
        push('missing_required_parameter', "Missing required parameter: 'custom_id'.", n, 'custom_id');
        continue;
      }
      if (ids.has(id)) push('duplicate_custom_id', `The custom_id for this request is a duplicate of another request: '${id}'.`, n, 'custom_id');
      ids.add(id);
      if (l['method'] !== 'POST') push('invalid_request', `Invalid 'method': ${JSON.stringify(l['method'])}. Only 'POST' is supported.`, n, 'method');
      if (l['url'] !== o.endpoint) push('mismatched_endpoint', `The url ${JSON.stringify(l['url'])} does not match the batch's endpoint '${o.endpoint}'.`, n, 'url');
      const body = l['body'];
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        push('missing_required_parameter', "Missing required parameter: 'body'.", n, 'body');
        continue;
      }
      const m = (body as Record<string, unknown>)['model'];
      if (typeof m === 'string') {
        if (model === undefined) model = m;
        else if (m !== model) push('mismatched_model', `The model '${m}' differs from the model of the first request ('${model}'): a batch must use one model.`, n, 'body.model');
      }
      parsed.push({ custom_id: id, body: body as Record<string, unknown> });
    }
    const limit = this.deps.options.fail_validation;
    if (errors.length === 0 && limit !== undefined && this.validationFailures < (limit.times ?? 1)) {
      this.validationFailures++;
      const code = limit.code ?? 'token_limit_exceeded';
      const message =
        limit.message ??
        `Enqueued token limit reached for ${model ?? 'this model'} in organization org-evalrun-sim. Limit: 90,000 enqueued tokens. ` +
          'Please try again once some in_progress batches have been completed.';
      push(code, message, null);
    }
    o.model = model ?? null;
    if (errors.length > 0) {
      o.errors = { object: 'list', data: errors };
      return false;
    }
    s.lines = parsed;
    o.request_counts.total = parsed.length;
    return true;
  }

  private answerUpTo(s: BatchState, due: number): void {
    const o = s.obj;
    while (s.done < due) {
      const line = s.lines[s.done++] as BatchLine;
      const answer = this.deps.answer(line.body, line.custom_id);
      const id = this.deps.newId('batch_req_');
      if ('error' in answer) {
        s.errors.push(JSON.stringify({ id, custom_id: line.custom_id, response: null, error: answer.error }));
        o.request_counts.failed++;
        continue;
      }
      const { reply, requestId } = answer;
      const out = JSON.stringify({ id, custom_id: line.custom_id, response: { status_code: reply.status, request_id: requestId, body: reply.body }, error: null });
      if (reply.status >= 200 && reply.status < 300) {
        s.output.push(out);
        o.request_counts.completed++;
        const usage = (reply.body as { usage?: { prompt_tokens?: number; completion_tokens?: number } }).usage;
        o.usage.input_tokens += usage?.prompt_tokens ?? 0;
        o.usage.output_tokens += usage?.completion_tokens ?? 0;
        o.usage.total_tokens = o.usage.input_tokens + o.usage.output_tokens;
      } else {
        s.errors.push(out);
        o.request_counts.failed++;
      }
    }
  }

  /** Writes the output and error files and ends the batch; lines never answered go to the error file with `code`. */
  private close(s: BatchState, status: 'completed' | 'expired' | 'cancelled', nowMs: number, code: string, message: string): void {
    const o = s.obj;
    for (let i = s.done; i < s.lines.length; i++) {
      s.errors.push(JSON.stringify({ id: this.deps.newId('batch_req_'), custom_id: (s.lines[i] as BatchLine).custom_id, response: null, error: { code, message } }));
      o.request_counts.failed++;
    }
    s.done = s.lines.length;
    const t = this.seconds(nowMs);
    if (s.output.length > 0) o.output_file_id = this.store(`batch_${o.id}_output.jsonl`, 'batch_output', jsonl(shuffled(s.output))).id;
    if (s.errors.length > 0) o.error_file_id = this.store(`batch_${o.id}_error.jsonl`, 'batch_output', jsonl(shuffled(s.errors))).id;
    o.status = status;
    if (status === 'completed') o.completed_at = t;
    else if (status === 'expired') o.expired_at = t;
    else o.cancelled_at = t;
    s.output = [];
    s.errors = [];
    s.lines = [];
  }
}

function isFinal(status: BatchStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'expired' || status === 'cancelled';
}

/** Lines are reversed pairwise rather than kept in input order: the API promises no order, and clients must not rely on one. */
function shuffled(lines: string[]): string[] {
  const out = lines.slice();
  for (let i = 0; i + 1 < out.length; i += 2) [out[i], out[i + 1]] = [out[i + 1] as string, out[i] as string];
  return out.reverse();
}

function jsonl(lines: string[]): Buffer {
  return Buffer.from(lines.length ? `${lines.join('\n')}\n` : '', 'utf8');
}

function publicFile(f: StoredFile): Omit<StoredFile, 'content'> {
  const { content: _content, ...rest } = f;
  return rest;
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
