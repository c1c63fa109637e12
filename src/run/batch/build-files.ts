/**
 * Streams the plan into Batch API input files: one model per file, at most `maxRequests` lines and `maxBytes` bytes
 * each. Tasks are pulled one at a time and each line goes straight to its file's sink, so memory holds one open sink
 * per model (a file's lines at most, none with a disk sink), never the plan.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { EvalrunError, ExitCode } from '../../errors.js';
import type { Task } from '../../contracts/plan.js';
import { repeatBody } from '../execute-task.js';
import { BATCH_URL, MAX_BATCH_FILE_BYTES, MAX_BATCH_REQUESTS, type BatchInputLine } from './types.js';

const CUSTOM_ID = /^seq-(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]?[0-9]?))?$/;

/**
 * The custom_id of a plan task: its seq, which is unique in the plan and stable across resumes; `seq-<n>.<k>` for
 * request k of an `n_mode: repeat` set.
 */
export function customIdOf(seq: number, k?: number): string {
  return k === undefined ? `seq-${seq}` : `seq-${seq}.${k}`;
}

/** The plan seq a custom_id names, or undefined for an id evalrun never sent (the server is not trusted). */
export function seqOfCustomId(id: unknown): number | undefined {
  return parseCustomId(id)?.seq;
}

/** The seq and, for an `n_mode: repeat` line, which of the n requests it is. */
export function parseCustomId(id: unknown): { seq: number; k: number | undefined } | undefined {
  if (typeof id !== 'string') return undefined;
  const m = CUSTOM_ID.exec(id);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? { seq: n, k: m[2] === undefined ? undefined : Number(m[2]) } : undefined;
}

/** How many lines a task is: n with `n_mode: repeat` (one single-choice request each), else 1. */
export function linesOf(task: Task, repeat: boolean): number {
  return repeat && task.cell.n > 1 ? task.cell.n : 1;
}

export function inputLine(task: Task, repeat = false): string {
  if (linesOf(task, repeat) === 1) return lineText(customIdOf(task.seq), task.body);
  let out = '';
  for (let k = 0; k < task.cell.n; k++) out += lineText(customIdOf(task.seq, k), repeatBody(task.body, k));
  return out;
}

function lineText(customId: string, body: Task['body']): string {
  const line: BatchInputLine = { custom_id: customId, method: 'POST', url: BATCH_URL, body };
  return `${JSON.stringify(line)}\n`;
}

/** Where one file's lines go. `write` may wait (backpressure); `end` finishes the file. */
export interface LineSink<R> {
  write(line: string): void | Promise<void>;
  end(): Promise<R>;
}

export interface BuiltFile<R> {
  /** 1-based, in the order files are finished: the `part` recorded in run.json and in the batch's metadata. */
  part: number;
  model: string;
  /** The plan seqs in this file, in plan order. */
  seqs: number[];
  requests: number;
  /** Lines in the file: requests, or more with `n_mode: repeat`. */
  lines: number;
  bytes: number;
  /** What the sink made of it (a path, a buffer). */
  result: R;
}

export interface BuildOptions<R> {
  /** Lines per file (default and maximum 50 000). */
  maxRequests?: number;
  /** Bytes per file (default and maximum 200 MB). */
  maxBytes?: number;
  /** Opens the sink for the next file of `model`. */
  open: (model: string) => LineSink<R>;
  /** `n_mode: repeat`: a task of n choices is n single-choice lines. */
  repeat?: boolean;
}

interface OpenFile<R> {
  model: string;
  sink: LineSink<R>;
  seqs: number[];
  lines: number;
  bytes: number;
}

export async function* buildBatchFiles<R>(tasks: AsyncIterable<Task> | Iterable<Task>, options: BuildOptions<R>): AsyncGenerator<BuiltFile<R>> {
  const maxRequests = Math.min(options.maxRequests ?? MAX_BATCH_REQUESTS, MAX_BATCH_REQUESTS);
  const maxBytes = Math.min(options.maxBytes ?? MAX_BATCH_FILE_BYTES, MAX_BATCH_FILE_BYTES);
  if (!(maxRequests >= 1) || !(maxBytes >= 1)) throw new RangeError('buildBatchFiles: maxRequests and maxBytes must be at least 1');
  const open = new Map<string, OpenFile<R>>();
  let part = 0;
  const finish = async (f: OpenFile<R>): Promise<BuiltFile<R>> => {
    open.delete(f.model);
    return { part: ++part, model: f.model, seqs: f.seqs, requests: f.seqs.length, lines: f.lines, bytes: f.bytes, result: await f.sink.end() };
  };
  for await (const task of tasks) {
    const model = task.body.model;
    const line = inputLine(task, options.repeat);
    const count = linesOf(task, options.repeat ?? false);
    const bytes = Buffer.byteLength(line);
    if (bytes > maxBytes) {
      throw new EvalrunError(
        'EVALRUN_BATCH_LINE_TOO_LARGE',
        ExitCode.Data,
        `Request ${task.seq} (row '${task.row.id}', cell ${task.cell.id}) is ${bytes} bytes as a batch line, more than a batch file may hold (${maxBytes} bytes): ` +
          'shorten its messages or run it without --batch.',
      );
    }
    let f = open.get(model);
    if (f && (f.lines + count > maxRequests || f.bytes + bytes > maxBytes)) {
      yield await finish(f);
      f = undefined;
    }
    if (!f) {
      f = { model, sink: options.open(model), seqs: [], lines: 0, bytes: 0 };
      open.set(model, f);
    }
    await f.sink.write(line);
    f.seqs.push(task.seq);
    f.lines += count;
    f.bytes += bytes;
  }
  for (const f of [...open.values()]) yield await finish(f);
}

/** Keeps a file's lines in memory (tests, small runs). */
export function memorySink(): LineSink<string> {
  const parts: string[] = [];
  return {
    write: (line) => void parts.push(line),
    end: async () => parts.join(''),
  };
}

/** Writes a file under `dir` as `<name>.jsonl`, waiting on the stream when it is full; resolves to the path. */
export function diskSink(dir: string, name: string): LineSink<string> {
  const path = join(dir, `${name}.jsonl`);
  let stream: WriteStream | undefined;
  return {
    async write(line) {
      stream ??= createWriteStream(path, { flags: 'w' });
      if (!stream.write(line)) await once(stream, 'drain');
    },
    async end() {
      stream ??= createWriteStream(path, { flags: 'w' });
      const s = stream;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.end(() => resolve());
      });
      return path;
    },
  };
}
