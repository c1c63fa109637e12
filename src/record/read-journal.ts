import { closeSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { OutputError } from '../errors.js';
import type { RequestRecord } from './types.js';

export interface JournalIndex {
  /** Byte offset of the latest record of each seq (from `first`), -1 if none. */
  offsets: Float64Array;
  lengths: Uint32Array;
  /** Distinct seqs recorded. */
  count: number;
  /** Bytes up to the end of the last complete line: anything after is a torn write. */
  validBytes: number;
  tornBytes: number;
}

const PREFIX = Buffer.from('{"v":1,"seq":', 'latin1');

/**
 * The seq at the start of the line buf[start, end): `{"v":1,"seq":123,` as every writer writes it; NaN for anything
 * else. Read from the bytes: a string and a regex per line were most of the index pass over a large journal.
 */
function seqAt(buf: Buffer, start: number, end: number): number {
  const digits = start + PREFIX.length;
  if (end - start < PREFIX.length + 2 || buf.compare(PREFIX, 0, PREFIX.length, start, digits) !== 0) return NaN;
  let n = 0;
  let i = digits;
  for (; i < end && i < digits + 16; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  return i > digits && buf[i] === 44 ? n : NaN;
}

/** A line whose seq is not one of this run's (0 … totalRequests − 1, or a shard's range): the file is not the run's. */
function notOfThisRun(path: string, lineNo: number, seq: number | string): OutputError {
  return new OutputError(`${path}:${lineNo}: not a record of this run (seq ${typeof seq === 'number' && Number.isNaN(seq) ? 'missing' : String(seq)}); the file may be corrupt or from another config`);
}

/** A line's record; `where` names the line (`path:lineNo`, or `path`) and `what` the record (`the record at byte N`). */
function parseRecord(text: string, where: string, what: string): RequestRecord {
  try {
    return JSON.parse(text) as RequestRecord;
  } catch {
    throw new OutputError(`${where}: ${what} is not valid JSON; the file is corrupt. Nothing was rewritten.`);
  }
}

/**
 * One streaming pass over records.jsonl that keeps only where each request's record is, never the records. A
 * request recorded twice (it cannot happen through resume, but a hand-merged file might) counts once: the last.
 * `first`: index only seqs first … first + totalRequests − 1 (a shard's range); any other seq is refused.
 * `onChunk`: told after each chunk, with the index so far (the same arrays, filled on as the pass goes on), so a
 * reader can start on what is indexed before the pass ends.
 */
export async function indexJournal(path: string, totalRequests: number, first = 0, onChunk?: (partial: JournalIndex) => void): Promise<JournalIndex> {
  const offsets = new Float64Array(totalRequests).fill(-1);
  const lengths = new Uint32Array(totalRequests);
  let count = 0;
  const { validBytes, tornBytes } = await forEachLine(path, (buf, start, end, at, lineNo) => {
    const seq = seqAt(buf, start, end) - first;
    if (!(seq >= 0 && seq < totalRequests)) {
      throw notOfThisRun(path, lineNo, seq + first);
    }
    if (offsets[seq] === -1) count++;
    offsets[seq] = at;
    lengths[seq] = end - start;
  }, onChunk && ((validBytes, tornBytes) => onChunk({ offsets, lengths, count, validBytes, tornBytes })));
  return { offsets, lengths, count, validBytes, tornBytes };
}

/**
 * Where every line of a journal with several lines per seq is (judgments.jsonl: an answer's judge calls, and those of
 * each regrade and resume after), grouped by seq in file order. Memory is a few numbers per line, never the lines.
 */
export interface LinesBySeq {
  /** The lines of seq s are entries start[s] … start[s + 1] − 1 of `offsets` and `lengths`, in file order. */
  start: Uint32Array;
  offsets: Float64Array;
  lengths: Uint32Array;
  /** Bytes up to the end of the last complete line: anything after is a torn write. */
  validBytes: number;
}

/** One pass over a journal: each line's place, by seq (0 … totalRequests − 1; any other is refused as indexJournal does). */
export async function indexLinesBySeq(path: string, totalRequests: number): Promise<LinesBySeq> {
  let seqs = new Float64Array(1024);
  let offsets = new Float64Array(1024);
  let lengths = new Uint32Array(1024);
  let n = 0;
  const { validBytes } = await forEachLine(path, (buf, start, end, at, lineNo) => {
    const seq = seqAt(buf, start, end);
    if (!(seq >= 0 && seq < totalRequests)) {
      throw notOfThisRun(path, lineNo, seq);
    }
    if (n === seqs.length) {
      seqs = grown(seqs);
      offsets = grown(offsets);
      lengths = grown(lengths);
    }
    seqs[n] = seq;
    offsets[n] = at;
    lengths[n++] = end - start;
  });
  // A counting sort by seq: lines of one seq keep their file order.
  const start = new Uint32Array(totalRequests + 1);
  for (let i = 0; i < n; i++) start[seqs[i]! + 1]!++;
  for (let s = 0; s < totalRequests; s++) start[s + 1]! += start[s]!;
  const next = start.slice(0, totalRequests);
  const byOffset = new Float64Array(n);
  const byLength = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const at = next[seqs[i]!]!++;
    byOffset[at] = offsets[i]!;
    byLength[at] = lengths[i]!;
  }
  return { start, offsets: byOffset, lengths: byLength, validBytes };
}

function grown<T extends Float64Array | Uint32Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/**
 * The records of one seq from an indexed journal, read when asked: synchronously, for a caller that decides within
 * one turn what to send (a judge call recorded before is read back, not sent). Through a cache of four 1 MiB blocks,
 * as JournalReader: a file written in roughly seq order, asked in seq order, is read almost sequentially.
 */
export class SeqLinesReader {
  private readonly cache = new BlockCache();
  private readonly fd: number;
  private readonly path: string;
  private readonly index: LinesBySeq;

  constructor(path: string, index: LinesBySeq) {
    this.path = path;
    this.index = index;
    this.fd = openSync(path, 'r');
  }

  /** Every record of `seq`, in file order. */
  records(seq: number): RequestRecord[] {
    const { start, offsets, lengths } = this.index;
    if (!(seq >= 0 && seq + 1 < start.length)) return [];
    const out: RequestRecord[] = [];
    for (let i = start[seq]!; i < start[seq + 1]!; i++) {
      out.push(parseRecord(this.text(offsets[i]!, lengths[i]!), this.path, `the record at byte ${offsets[i]}`));
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }

  private text(offset: number, length: number): string {
    const block = BlockCache.blockOf(offset, length);
    if (block === undefined) {
      const b = Buffer.allocUnsafe(length);
      readSync(this.fd, b, 0, length, offset);
      return b.toString('utf8');
    }
    let view = this.cache.hit(block);
    if (!view) {
      const memory = this.cache.spare();
      view = this.cache.put(block, memory.subarray(0, readSync(this.fd, memory, 0, BlockCache.SIZE, block * BlockCache.SIZE)));
    }
    return BlockCache.slice(view, block, offset, length);
  }
}

/**
 * The last four 1 MiB blocks read from a file, the least recently used evicted. Evicted buffers are reused:
 * allocating one per read would leave V8 a trail of garbage.
 */
class BlockCache {
  static readonly SIZE = 1 << 20;
  private readonly blocks = new Map<number, Buffer>();

  /** The block holding bytes [offset, offset + length), or undefined when they span two (read them directly). */
  static blockOf(offset: number, length: number): number | undefined {
    const first = Math.floor(offset / BlockCache.SIZE);
    return first === Math.floor((offset + length - 1) / BlockCache.SIZE) ? first : undefined;
  }

  static slice(view: Buffer, block: number, offset: number, length: number): string {
    const at = offset - block * BlockCache.SIZE;
    return view.toString('utf8', at, at + length);
  }

  hit(n: number): Buffer | undefined {
    const view = this.blocks.get(n);
    if (view) {
      this.blocks.delete(n);
      this.blocks.set(n, view);
    }
    return view;
  }

  /** A buffer of SIZE bytes to read a block into: a new one while there is room, else the oldest block's. */
  spare(): Buffer {
    if (this.blocks.size < 4) return Buffer.allocUnsafe(BlockCache.SIZE);
    const [oldest, view] = this.blocks.entries().next().value!;
    this.blocks.delete(oldest);
    return Buffer.from(view.buffer, view.byteOffset, BlockCache.SIZE);
  }

  put(n: number, view: Buffer): Buffer {
    this.blocks.set(n, view);
    return view;
  }
}

/**
 * Every record of records.jsonl in file order, parsed one 1 MiB read at a time, for a reader that keeps what it
 * needs by seq and needs no plan order: a request recorded twice reaches it twice, the last one last (the one every
 * other reader keeps). One pass, no index: `evalrun history` reads per-row values this way. Returns the distinct
 * seqs seen; a line that is not a record of this run (0 … totalRequests − 1) is refused as indexJournal refuses it.
 */
export async function scanJournal(path: string, totalRequests: number, each: (record: RequestRecord) => void): Promise<number> {
  const seen = new Uint8Array(totalRequests);
  let count = 0;
  await forEachLine(path, (buf, start, end, at, lineNo) => {
    const record = parseRecord(buf.toString('utf8', start, end), `${path}:${lineNo}`, `the record at byte ${at}`);
    const seq = record.seq;
    if (!(Number.isInteger(seq) && seq >= 0 && seq < totalRequests)) {
      throw notOfThisRun(path, lineNo, String(seq));
    }
    if (seen[seq] === 0) count++;
    seen[seq] = 1;
    each(record);
  });
  return count;
}

const PENDING = Buffer.from('"judging":"pending"', 'latin1');

/**
 * The answers whose latest record is still waiting for its judge calls (`judging: 'pending'`), by seq. One pass that
 * parses only the lines saying so: a resumed judged run need not parse every record to find the few pending.
 */
export async function pendingJudging(path: string, totalRequests: number): Promise<Map<number, RequestRecord>> {
  const pending = new Map<number, RequestRecord>();
  await forEachLine(path, (buf, start, end, at, lineNo) => {
    const seq = seqAt(buf, start, end);
    if (!(seq >= 0 && seq < totalRequests)) {
      throw notOfThisRun(path, lineNo, seq);
    }
    // Inside a JSON string the quotes would be escaped: the bytes can only be the key and its value.
    if (buf.subarray(start, end).indexOf(PENDING) < 0) {
      pending.delete(seq);
      return;
    }
    const record = parseRecord(buf.toString('utf8', start, end), `${path}:${lineNo}`, `the record at byte ${at}`);
    if (record.judging === 'pending') pending.set(seq, record);
    else pending.delete(seq);
  });
  return pending;
}

/**
 * Each complete line of the file (a blank one skipped), in file order: `fn(buffer, start, end, fileOffset, lineNo)`,
 * the line being buffer[start, end). Bytes after the last newline are a torn write: counted, never handed on.
 * `onChunk`: told after each chunk how far the complete lines go.
 */
async function forEachLine(
  path: string,
  fn: (buf: Buffer, start: number, end: number, at: number, lineNo: number) => void,
  onChunk?: (validBytes: number, tornBytes: number) => void,
): Promise<{ validBytes: number; tornBytes: number }> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return { validBytes: 0, tornBytes: 0 };
  // One buffer, reused: a fresh 1 MiB chunk per read would be garbage V8 frees late, inflating RSS.
  let buf = Buffer.allocUnsafe(1 << 20);
  let filled = 0; // bytes in buf, starting at file position `base`
  let base = 0;
  let lineNo = 0;
  try {
    for (;;) {
      if (filled === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2); // a line longer than the buffer
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, base + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl !== -1 && nl < filled; nl = buf.indexOf(10, start)) {
        lineNo++;
        if (nl === start || (nl === start + 1 && buf[start] === 13)) {
          start = nl + 1; // a blank line (a hand-edited file): nothing to index
          continue;
        }
        fn(buf, start, nl, base + start, lineNo);
        start = nl + 1;
      }
      buf.copyWithin(0, start, filled);
      filled -= start;
      base += start;
      onChunk?.(base, filled);
    }
  } finally {
    await fh.close();
  }
  return { validBytes: base, tornBytes: filled };
}

/**
 * Records in plan order. Reads go through a JournalReader's small block cache: a file written in roughly plan order
 * (concurrency only shuffles neighbours; a resume appends the holes) is read almost sequentially.
 */
export async function* recordsInOrder(path: string, index: JournalIndex): AsyncGenerator<RequestRecord> {
  if (index.count === 0) return;
  const reader = await JournalReader.open(path, index);
  try {
    for (let seq = 0; seq < index.offsets.length; seq++) {
      const record = await reader.read(seq);
      if (record) yield record;
    }
  } finally {
    await reader.close();
  }
}

/**
 * Random access to the records of an indexed journal, by seq, through a cache of four 1 MiB blocks: memory stays at a
 * few blocks whatever the run's size, and neighbouring seqs (one row's cells, the next page) cost one read. Reads are
 * taken one at a time, so callers may ask concurrently.
 */
export class JournalReader {
  private readonly cache = new BlockCache();
  private queue: Promise<unknown> = Promise.resolve();

  private readonly path: string;
  private readonly index: JournalIndex;
  private readonly fh: FileHandle;

  private constructor(path: string, index: JournalIndex, fh: FileHandle) {
    this.path = path;
    this.index = index;
    this.fh = fh;
  }

  static async open(path: string, index: JournalIndex): Promise<JournalReader> {
    return new JournalReader(path, index, await open(path, 'r'));
  }

  /** The latest record of `seq` (index coordinates: seq − first), or undefined if none is recorded. */
  read(seq: number): Promise<RequestRecord | undefined> {
    const next = this.queue.then(() => this.readNow(seq));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  private async readNow(seq: number): Promise<RequestRecord | undefined> {
    const offset = this.index.offsets[seq];
    if (offset === undefined || offset < 0) return undefined;
    const length = this.index.lengths[seq]!;
    const block = BlockCache.blockOf(offset, length);
    let text: string;
    if (block !== undefined) text = BlockCache.slice(await this.block(block), block, offset, length);
    else {
      const b = Buffer.allocUnsafe(length);
      await this.fh.read(b, 0, length, offset);
      text = b.toString('utf8');
    }
    return parseRecord(text, this.path, `the record of request ${seq} (at byte ${offset})`);
  }

  private async block(n: number): Promise<Buffer> {
    const hit = this.cache.hit(n);
    if (hit) return hit;
    const memory = this.cache.spare();
    const { bytesRead } = await this.fh.read(memory, 0, BlockCache.SIZE, n * BlockCache.SIZE);
    return this.cache.put(n, memory.subarray(0, bytesRead));
  }
}

/** The requests whose latest record is a failure, for `--retry-errors`: one streaming pass, one byte per request. */
export async function failedRequests(path: string, index: JournalIndex): Promise<{ seqs: Uint8Array; count: number }> {
  const seqs = new Uint8Array(index.offsets.length);
  let count = 0;
  for await (const record of recordsInOrder(path, index)) {
    if (record.error !== null) {
      seqs[record.seq] = 1;
      count++;
    }
  }
  return { seqs, count };
}
