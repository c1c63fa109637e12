/**
 * An in-memory Batch API for the protocol's unit tests: it keeps files and batches as a provider would, counts how
 * many times each custom_id reached a created batch (what a provider may bill), and misbehaves on cue: a create
 * whose answer is lost after the batch exists, a lookup that fails, a batch cancelled by someone else, a result
 * file missing, deleted, short, cut, stalled or an HTML page, a server with no Batch API at all.
 */
import { readFile } from 'node:fs/promises';
import type { Batch, BatchApi } from '../../../../src/run/batch/batch-api.js';
import { BatchApiError } from '../../../../src/run/batch/batch-api.js';

export interface InputLine {
  custom_id: string;
  body: Record<string, unknown>;
}

/** How a batch ends: its status, and the lines of its output and error files (by default every line answered). */
export interface Ending {
  status: string;
  output?: string[] | undefined;
  errors?: string[] | undefined;
  /** request_counts as the fake reports them; default: the lines' counts. */
  counts?: { completed: number; failed: number } | undefined;
  /** `errors.data` of a batch that failed validation. */
  validation?: Array<{ code: string; message: string; line: number | null }> | undefined;
  /** The output file: absent although request_counts counts it (no output_file_id), or deleted (404 on download). */
  outputFile?: 'missing' | 'deleted' | undefined;
}

/** What a download of a file gives, by the download's number (1-based): the file, or a fault. */
export type Download = 'ok' | 'html' | 'stall' | 'cut' | 'reset' | 404;

type Fault = 'lost-after-create' | '502-after-create' | '502-before-create';

export const answerLine = (customId: string, content = `answer to ${customId}`): string =>
  JSON.stringify({
    id: `req_${customId}`,
    custom_id: customId,
    response: { status_code: 200, request_id: `rq_${customId}`, body: { id: `cc_${customId}`, object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } } },
    error: null,
  });

export const errorLine = (customId: string, status: number, message = 'server error'): string =>
  JSON.stringify({ id: `req_${customId}`, custom_id: customId, response: { status_code: status, request_id: `rq_${customId}`, body: { error: { message, type: 'server_error', code: null } } }, error: null });

export const notRunLine = (customId: string, code: 'batch_cancelled' | 'batch_expired'): string =>
  JSON.stringify({ id: `req_${customId}`, custom_id: customId, response: null, error: { code, message: 'not run' } });

export class FakeBatchApi implements BatchApi {
  readonly files = new Map<string, string>();
  readonly batches = new Map<string, Batch & { lines: InputLine[]; polls: number; ending?: Ending }>();
  /** How many created batches held each custom_id. */
  readonly submitted = new Map<string, number>();
  /** How many times each custom_id was answered with a response (ran, maybe billed). */
  readonly ran = new Map<string, number>();
  /** Every call, in order: `upload`, `create`, `list`, `retrieve <id>`, `cancel <id>`, `download <file>`. */
  readonly calls: string[] = [];
  /** Faults of the next creates, one per create call. */
  createFaults: Fault[] = [];
  /** The next this many `listBatches` calls fail with a 503. */
  listFailures = 0;
  /** No Batch API: /files and /batches answer 404. */
  noBatchApi = false;
  /** Polls a batch answers `liveStatus` before it ends. */
  pollsBeforeEnd = 1;
  liveStatus = 'in_progress';
  /** A new batch's expires_at, from its creation. */
  expiresInS = 86_400;
  /** How a batch ends, by the order of its creation (1-based) and its lines; default every line answered. */
  end: (lines: InputLine[], nth: number) => Ending = (lines) => ({ status: 'completed', output: lines.map((l) => answerLine(l.custom_id)) });
  /** Downloads of each file, and what the k-th download of a file gives. */
  readonly downloads = new Map<string, number>();
  download: (k: number, fileId: string) => Download = () => 'ok';
  /** Batch ids the server has forgotten (404 on retrieve and cancel). */
  readonly forgotten = new Set<string>();
  private clockS: () => number;
  private created = 0;
  private ids = 0;

  constructor(clockMs: () => number) {
    this.clockS = () => Math.floor(clockMs() / 1000);
  }

  /** A batch of the run ended by someone else: it says `status` from its next poll on, with what it ran. */
  endNow(id: string, ending: Ending): void {
    const b = this.batches.get(id)!;
    b.polls = Number.POSITIVE_INFINITY;
    this.settle(b, ending);
  }

  submittedOnce(): boolean {
    return [...this.submitted.values()].every((n) => n === 1);
  }

  maxRan(): number {
    return Math.max(0, ...this.ran.values());
  }

  private fail(status: number | undefined, method: string, path: string, message = 'fail'): BatchApiError {
    const url = `http://127.0.0.1:9/v1${path}`;
    return new BatchApiError({ status, method, url, body: status === 404 ? '{"detail":"Not Found"}' : undefined, message: `${method} ${url}: ${status ?? 'no answer'}: ${message}` });
  }

  async uploadFile(path: string): Promise<{ id: string }> {
    this.calls.push('upload');
    if (this.noBatchApi) throw this.fail(404, 'POST', '/files', '{"detail":"Not Found"}');
    const id = `file_${++this.ids}`;
    this.files.set(id, await readFile(path, 'utf8'));
    return { id };
  }

  async createBatch(inputFileId: string, metadata: Record<string, string>): Promise<Batch> {
    this.calls.push('create');
    const fault = this.createFaults.shift();
    if (fault === '502-before-create') throw this.fail(502, 'POST', '/batches', 'bad gateway');
    const lines = this.files
      .get(inputFileId)!
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as InputLine);
    for (const l of lines) this.submitted.set(l.custom_id, (this.submitted.get(l.custom_id) ?? 0) + 1);
    const id = `batch_${++this.ids}`;
    const b = {
      id,
      object: 'batch',
      endpoint: '/v1/chat/completions',
      input_file_id: inputFileId,
      completion_window: '24h',
      status: 'validating',
      created_at: this.clockS(),
      expires_at: this.clockS() + this.expiresInS,
      output_file_id: null,
      error_file_id: null,
      request_counts: { total: lines.length, completed: 0, failed: 0 },
      metadata,
      lines,
      polls: 0,
      nth: ++this.created,
    } as unknown as Batch & { lines: InputLine[]; polls: number; nth: number };
    this.batches.set(id, b);
    if (fault === 'lost-after-create') throw this.fail(undefined, 'POST', '/batches', 'socket hang up');
    if (fault === '502-after-create') throw this.fail(502, 'POST', '/batches', 'bad gateway');
    return this.view(b);
  }

  async retrieveBatch(id: string): Promise<Batch> {
    this.calls.push(`retrieve ${id}`);
    if (this.forgotten.has(id)) throw this.fail(404, 'GET', `/batches/${id}`);
    const b = this.batches.get(id)!;
    if (!FINAL.has(b.status)) {
      b.polls++;
      if (b.polls > this.pollsBeforeEnd) this.settle(b, this.end(b.lines, (b as unknown as { nth: number }).nth));
      else b.status = this.liveStatus as Batch['status'];
    }
    return this.view(b);
  }

  async cancelBatch(id: string): Promise<Batch> {
    this.calls.push(`cancel ${id}`);
    if (this.forgotten.has(id)) throw this.fail(404, 'POST', `/batches/${id}/cancel`);
    const b = this.batches.get(id)!;
    if (FINAL.has(b.status)) throw this.fail(409, 'POST', `/batches/${id}/cancel`, 'already final');
    // Nothing ran: every line is reported as cancelled.
    this.settle(b, { status: 'cancelled', output: [], errors: b.lines.map((l) => notRunLine(l.custom_id, 'batch_cancelled')) });
    return this.view(b);
  }

  async *listBatches(): AsyncIterable<Batch> {
    this.calls.push('list');
    if (this.listFailures > 0) {
      this.listFailures--;
      throw this.fail(503, 'GET', '/batches', 'unavailable');
    }
    for (const b of [...this.batches.values()].reverse()) yield this.view(b);
  }

  async fileContent(id: string, signal: AbortSignal): Promise<{ contentType: string | null; body: AsyncIterable<Uint8Array> }> {
    this.calls.push(`download ${id}`);
    const k = (this.downloads.get(id) ?? 0) + 1;
    this.downloads.set(id, k);
    const text = this.files.get(id);
    if (text === undefined) throw this.fail(404, 'GET', `/files/${id}/content`);
    const how = this.download(k, id);
    if (how === 404) throw this.fail(404, 'GET', `/files/${id}/content`);
    if (how === 'html') return { contentType: 'text/html', body: chunks(['<html>502 Bad Gateway</html>']) };
    if (how === 'cut') return { contentType: 'application/octet-stream', body: chunks([text.slice(0, Math.floor(text.length / 2))]) };
    if (how === 'reset') {
      return {
        contentType: 'application/octet-stream',
        body: (async function* () {
          yield Buffer.from(text.slice(0, 10));
          throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        })(),
      };
    }
    if (how === 'stall') {
      return {
        contentType: 'application/octet-stream',
        body: (async function* () {
          yield Buffer.from(text.slice(0, 10));
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
        })(),
      };
    }
    return { contentType: 'application/octet-stream', body: chunks([text]) };
  }

  private settle(b: Batch & { lines: InputLine[] }, ending: Ending): void {
    b.status = ending.status as Batch['status'];
    const now = this.clockS();
    if (ending.status === 'failed') {
      b.failed_at = now;
      b.errors = { object: 'list', data: ending.validation ?? [] } as NonNullable<Batch['errors']>;
      b.request_counts = { total: b.lines.length, completed: 0, failed: 0 };
      return;
    }
    if (ending.status === 'completed') b.completed_at = now;
    if (ending.status === 'cancelled') b.cancelled_at = now;
    if (ending.status === 'expired') b.expired_at = now;
    const output = ending.output ?? [];
    const errors = ending.errors ?? [];
    for (const l of [...output, ...errors]) {
      const parsed = JSON.parse(l) as { custom_id: string; response: unknown };
      if (parsed.response) this.ran.set(parsed.custom_id, (this.ran.get(parsed.custom_id) ?? 0) + 1);
    }
    b.request_counts = { total: b.lines.length, ...(ending.counts ?? { completed: output.length, failed: errors.length }) };
    if (output.length > 0 || ending.outputFile) {
      if (ending.outputFile !== 'missing') {
        const id = `file_${++this.ids}`;
        if (ending.outputFile !== 'deleted') this.files.set(id, output.join('\n') + '\n');
        b.output_file_id = id;
      }
    }
    if (errors.length > 0) {
      const id = `file_${++this.ids}`;
      this.files.set(id, errors.join('\n') + '\n');
      b.error_file_id = id;
    }
  }

  private view(b: Batch): Batch {
    const { lines: _lines, polls: _polls, ...rest } = b as Batch & { lines: unknown; polls: unknown };
    return structuredClone(rest) as Batch;
  }
}

const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

async function* chunks(parts: string[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}
