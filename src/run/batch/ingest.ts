/**
 * Reads a finished batch's output and error files into records, under the never-pay-twice rule: each file is
 * downloaded (again, on a reset, a stall, a 5xx, a page that is not JSONL, or fewer readable lines than the batch's
 * request_counts say it holds) before anything is decided. Then each request of the part gets its line; a request
 * with none is one the batch never ran (cancelled, expired: sent again as before) only when every file was read
 * whole. Otherwise it may have run and been billed, so it is recorded as `batch_result_lost`, never resent
 * automatically (`--retry-errors` does, when the user asks).
 *
 * Result files come in no order, the plan's tasks only in seq order: each file is copied to DIR/batches as it is
 * read, keeping only each line's place (seq → file, offset, length), then the part's tasks are walked and each line
 * is read back from disk. Memory holds a few numbers per request (in typed arrays), never the lines.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Task } from '../../contracts/plan.js';
import type { BatchPart } from '../../record/index.js';
import { BATCH_RESULT_LOST, type RequestRecord } from '../../record/index.js';
import { BatchApiError, type Batch, type BatchApi } from './batch-api.js';
import { customIdOf, linesOf, parseCustomId } from './build-files.js';
import { repeatFailure } from '../execute-task.js';
import { DownloadError, downloadLines } from './download.js';
import { parseOutputLine } from './parse-line.js';
import { runIndex, runsSize } from './seq-runs.js';
import type { BatchOutputLine } from './types.js';
import type { PausePoint } from './protocol.js';

/** Where a line's custom_id is, without parsing the line (the serializer writes no space after the colon). */
const CUSTOM_ID_FIELD = /"custom_id": ?"([^"]*)"/;
/** Result lines recorded between two turns of the event loop while a part's results are ingested. */
const INGEST_YIELD_EVERY = 256;
const MAX_EXAMPLES = 5;

export interface LineAnomalies {
  /** Result lines that were unreadable, named no request of the part, or named one a second time. */
  count: number;
  examples: string[];
}

export interface IngestResult {
  /** Seqs to submit again (lines the batch never ran, or answered with a retryable failure). */
  retry: number[];
  /** Requests recorded as batch_result_lost. */
  lost: number;
  anomalies: LineAnomalies;
}

export interface ResultsOptions {
  api: BatchApi;
  part: BatchPart;
  batch: Batch;
  /** DIR/batches: the result files are copied there. */
  dir: string;
  idleMs: number;
  /** Downloads of one file before its missing lines are given up. */
  tries: number;
  backoffMs: (tries: number) => number;
  sleep: (ms: number) => Promise<void>;
  stop: AbortSignal;
  abort: AbortSignal;
  redact: (s: string) => string;
  onNotice: (message: string) => void;
  onBytes: (file: string, bytes: number) => void;
  onDownloaded: () => void;
  /** Records a request's line; 'resend' when it is to be submitted again. `patch` amends the record first. */
  record: (task: Task, line: BatchOutputLine, patch?: (record: RequestRecord) => void) => Promise<'recorded' | 'resend' | 'left'>;
  /** `n_mode: repeat`: a task of n choices came as n single-choice lines (`seq-<n>.<k>`), n ≤ maxN. */
  repeat: boolean;
  maxN: number;
  pause?: ((point: PausePoint) => Promise<void>) | undefined;
}

interface ResultFile {
  kind: 'output' | 'error';
  id: string | null | undefined;
  /** How many lines request_counts says the file holds (completed for output, failed for errors). */
  expected: number | undefined;
  path: string;
}

/**
 * A final batch's results, downloaded and placed, ready to be taken task by task. Several parts' results can be
 * open at once and fed from one pass over the plan (the protocol does, for the parts that end in the same poll).
 */
export interface PartResults {
  /** Records the line of one task of the part; tasks come in seq order. */
  take(task: Task): Promise<void>;
  /** Once every task of the part is taken: what is to be sent again, lost, odd. */
  result(): IngestResult;
  close(): void;
}

/** Downloads the part's result files; undefined when the run stopped before they were read. */
export async function openResults(o: ResultsOptions): Promise<PartResults | undefined> {
  const { part, batch: b } = o;
  const placeOfSeq = runIndex(part.seqs);
  // Each task has `width` slots: one line, or with n_mode repeat one per request of the set.
  const width = o.repeat ? Math.max(1, o.maxN) : 1;
  const slot = (seq: number, k: number | undefined): number => {
    const p = placeOfSeq(seq);
    if (p < 0) return -1;
    if (k === undefined) return p * width;
    return o.repeat && k < width ? p * width + k : -1;
  };
  const size = runsSize(part.seqs) * width;
  const offsets = new Float64Array(size).fill(-1);
  const lengths = new Uint32Array(size);
  const source = new Uint8Array(size);
  const counts = b.request_counts;
  const files: ResultFile[] = [
    { kind: 'output', id: b.output_file_id, expected: counts?.completed, path: join(o.dir, `part-${part.part}.output.jsonl`) },
    { kind: 'error', id: b.error_file_id, expected: counts?.failed, path: join(o.dir, `part-${part.part}.errors.jsonl`) },
  ];
  const anomalies: LineAnomalies = { count: 0, examples: [] };
  const odd = (what: string) => {
    anomalies.count++;
    if (anomalies.examples.length < MAX_EXAMPLES) anomalies.examples.push(o.redact(what));
  };
  /** Why some requests' answers could not be read: any entry means a missing line may be one that ran. */
  const problems: string[] = [];

  for (const [fi, f] of files.entries()) {
    if (!f.id) {
      if ((f.expected ?? 0) > 0) problems.push(`no ${f.kind} file (${f.kind}_file_id is null) though request_counts.${f.kind === 'output' ? 'completed' : 'failed'} is ${f.expected}`);
      continue;
    }
    let reason: string | undefined;
    let tryOdd: string[] = [];
    for (let attempt = 1; attempt <= o.tries; attempt++) {
      for (let i = 0; i < size; i++) if (source[i] === fi && offsets[i]! >= 0) offsets[i] = -1;
      let placed = 0;
      tryOdd = [];
      const onLine = (bytes: Buffer, offset: number) => {
        let len = bytes.length;
        if (len > 0 && bytes[len - 1] === 0x0d) len--;
        if (len === 0) return;
        // The full check comes when the line is recorded; here only where it goes (custom_id comes first).
        const head = bytes.toString('utf8', 0, Math.min(len, 256));
        const id = (CUSTOM_ID_FIELD.exec(head) ?? CUSTOM_ID_FIELD.exec(bytes.toString('utf8', 0, len)))?.[1];
        const parsed = parseCustomId(id);
        const place = parsed === undefined ? -1 : slot(parsed.seq, parsed.k);
        if (place < 0) {
          tryOdd.push(id === undefined ? `file ${f.id}: an unreadable line at byte ${offset}` : `file ${f.id}: a line for '${id.slice(0, 80)}', which this batch was not sent`);
          return;
        }
        // A line cut short (a download ended mid-line) does not end its object.
        if (bytes[len - 1] !== 0x7d) {
          tryOdd.push(`file ${f.id}: the line for '${id}' is cut short`);
          return;
        }
        if (offsets[place]! >= 0) {
          tryOdd.push(`file ${f.id}: a second line for '${id}' (the first is kept)`);
          return;
        }
        offsets[place] = offset;
        lengths[place] = len;
        source[place] = fi;
        placed++;
      };
      try {
        await downloadLines(o.api, f.id, f.path, onLine, { idleMs: o.idleMs, stop: o.stop, onBytes: (n) => o.onBytes(f.id!, n) });
        reason = f.expected !== undefined && placed < f.expected ? `its ${f.kind} file ${f.id} has ${placed} readable lines where request_counts says ${f.expected}` : undefined;
      } catch (e) {
        if (o.stop.aborted) return undefined;
        const gone = e instanceof DownloadError && e.cause instanceof BatchApiError && e.cause.status === 404;
        reason = gone ? `its ${f.kind} file ${f.id} is gone (404: deleted or expired)` : `downloading its ${f.kind} file ${f.id} failed: ${(e as Error).message}`;
        if (e instanceof DownloadError && !e.retry) break;
      } finally {
        o.onDownloaded();
      }
      if (reason === undefined) break;
      if (attempt < o.tries) {
        o.onNotice(`Batch ${b.id}: ${o.redact(reason)}; downloading it again (${attempt + 1} of ${o.tries}).`);
        await o.sleep(o.backoffMs(attempt));
        if (o.stop.aborted) return undefined;
      }
    }
    for (const x of tryOdd) odd(x);
    if (reason !== undefined) problems.push(reason);
  }

  const ranAll = b.status === 'completed';
  const why = problems.map((p) => o.redact(p)).join('; ');
  const lost = (seq: number, what: string): BatchOutputLine => ({
    id: '',
    custom_id: `seq-${seq}`,
    response: null,
    error: { code: BATCH_RESULT_LOST, message: `batch ${b.id} (${b.status}) ran this request (it may be billed) but its answer could not be read: ${what}. Not sent again; --retry-errors sends it.` },
  });
  // A cancelled or expired batch leaves out the requests it never ran (one cancelled while validating ran none):
  // they are what its batch_cancelled / batch_expired lines would have said, unpaid, and are handled as those.
  const code = b.status === 'cancelled' ? 'batch_cancelled' : 'batch_expired';
  const missing = (seq: number): BatchOutputLine => ({ id: '', custom_id: `seq-${seq}`, response: null, error: { code, message: `batch ${b.id} (${b.status}) returned no line for this request` } });

  const result: IngestResult = { retry: [], lost: 0, anomalies };
  // Synchronous positional reads: a few microseconds each from the page cache, where the thread pool's round trip
  // would cost ten times that per line.
  const fds = files.map((f) => (f.id ? tryOpen(f.path) : -1));
  let buf = Buffer.alloc(64 * 1024);
  let taken = 0;
  /** The line in slot `place` for request `customId` of `task`, or what stands for it when there is none. */
  const lineAt = (task: Task, place: number, customId: string): BatchOutputLine => {
    const offset = offsets[place]!;
    if (offset >= 0) {
      const len = lengths[place]!;
      const fi = source[place]!;
      if (buf.length < len) buf = Buffer.alloc(len);
      readSync(fds[fi]!, buf, 0, len, offset);
      const parsed = parseOutputLine(buf.toString('utf8', 0, len));
      if (parsed.ok && parsed.line.custom_id === customId) return parsed.line;
      odd(`file ${files[fi]!.id}: the line for ${customId} is unreadable (${parsed.ok ? 'another custom_id' : parsed.problem})`);
      return lost(task.seq, `its line in file ${files[fi]!.id} is unreadable`);
    }
    if (ranAll || problems.length > 0) return lost(task.seq, why || `batch ${b.id} completed but its result files hold no line for it`);
    return missing(task.seq);
  };
  return {
    async take(task) {
      const base = placeOfSeq(task.seq) * width;
      const n = linesOf(task, o.repeat);
      let line: BatchOutputLine;
      let patch: ((r: RequestRecord) => void) | undefined;
      if (base < 0) line = missing(task.seq);
      else if (n === 1) line = lineAt(task, base, customIdOf(task.seq));
      else ({ line, patch } = repeatSet(task, Array.from({ length: n }, (_, k) => lineAt(task, base + k, customIdOf(task.seq, k)))));
      if (line.error?.code === BATCH_RESULT_LOST) result.lost++;
      if ((await o.record(task, line, patch)) === 'resend') result.retry.push(task.seq);
      if (o.pause) await o.pause('ingesting');
      // Nothing here waits on I/O for hundreds of lines: yielding lets the journal write what it holds, so fewer
      // records outlive a scavenge and V8 grows its young generation later (~15 MB less peak RSS, RESULTS.md).
      if (++taken % INGEST_YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    },
    result() {
      if (anomalies.count > 0) {
        o.onNotice(`Batch ${b.id}: ${anomalies.count} line${anomalies.count === 1 ? '' : 's'} in its result files named no request of this part, named one twice, or were unreadable; they were not recorded (counted in summary.json's anomalies).`);
      }
      if (result.lost > 0) o.onNotice(`Batch ${b.id}: ${result.lost} request${result.lost === 1 ? '' : 's'} it ran could not be read (${why || 'unreadable lines'}): recorded as ${BATCH_RESULT_LOST}, not sent again (--retry-errors sends them).`);
      return result;
    },
    close() {
      for (const fd of fds.splice(0)) if (fd >= 0) closeSync(fd);
    },
  };
}

/**
 * The n lines of an `n_mode: repeat` set as one answer: choice k is line k's first choice. A failed line is a failed
 * choice (its record says why), never a reason to send the set again: the others were answered and billed. A set
 * with no answered line is decided by its first line alone (lost, retried or recorded as that failure).
 */
function repeatSet(task: Task, lines: BatchOutputLine[]): { line: BatchOutputLine; patch?: (r: RequestRecord) => void } {
  const ok = (l: BatchOutputLine) => l.response !== null && l.response.status_code >= 200 && l.response.status_code < 300 && Array.isArray((l.response.body as { choices?: unknown } | null)?.choices);
  const answered = lines.map((l, k) => ({ l, k })).filter(({ l }) => ok(l));
  if (answered.length === 0) return { line: lines[0]! };
  const bodies = answered.map(({ l, k }) => ({ k, body: l.response!.body as { id?: string; model?: string; created?: number; choices: Array<Record<string, unknown>>; usage?: Record<string, number> | null } }));
  const usages = bodies.map((x) => x.body.usage);
  const usage = usages.every((u) => u && typeof u === 'object')
    ? { prompt_tokens: sum(usages, 'prompt_tokens'), completion_tokens: sum(usages, 'completion_tokens'), total_tokens: sum(usages, 'total_tokens') }
    : null;
  const first = bodies[0]!.body;
  // Every choice of line k is given index k: a line with more than one choice shows as a repeated index (an anomaly).
  const merged = { id: first.id, object: 'chat.completion', created: first.created, model: first.model, choices: bodies.flatMap(({ k, body }) => body.choices.map((c) => Object.assign({}, c, { index: k }))), usage };
  const failures = lines.map((l, k) => ({ l, k })).filter(({ l }) => !ok(l));
  const line: BatchOutputLine = { id: lines[answered[0]!.k]!.id, custom_id: `seq-${task.seq}`, response: { status_code: 200, request_id: answered[0]!.l.response!.request_id, body: merged }, error: null };
  if (failures.length === 0) return { line };
  const n = lines.length;
  const patch = (r: RequestRecord) => {
    for (const { l, k } of failures) {
      const c = r.choices.find((x) => x.index === k);
      const body = (l.response?.body as { error?: { message?: unknown } } | null)?.error;
      const error = l.error
        ? { status: null, kind: 'batch' as const, message: `${l.error.code ? `${l.error.code}: ` : ''}${l.error.message}` }
        : { status: l.response?.status_code ?? null, kind: 'http' as const, message: typeof body?.message === 'string' ? body.message : 'no error message' };
      if (c) c.error = repeatFailure(k, n, error);
    }
  };
  return { line, patch };
}

const sum = (xs: Array<Record<string, number> | null | undefined>, k: string) => xs.reduce((s, u) => s + (Number(u?.[k]) || 0), 0);

function tryOpen(path: string): number {
  try {
    return openSync(path, 'r');
  } catch {
    return -1;
  }
}

