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
      throw new OutputError(`${path}:${lineNo}: not a record of this run (seq ${Number.isNaN(seq) ? 'missing' : seq + first}); the file may be corrupt or from another config`);
    }
    if (offsets[seq] === -1) count++;
    offsets[seq] = at;
    lengths[seq] = end - start;
  }, onChunk && ((validBytes, tornBytes) => onChunk({ offsets, lengths, count, validBytes, tornBytes })));
  return { offsets, lengths, count, validBytes, tornBytes };
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
    let record: RequestRecord;
    try {
      record = JSON.parse(buf.toString('utf8', start, end)) as RequestRecord;
    } catch {
      throw new OutputError(`${path}:${lineNo}: the record at byte ${at} is not valid JSON; the file is corrupt. Nothing was rewritten.`);
    }
    const seq = record.seq;
    if (!(Number.isInteger(seq) && seq >= 0 && seq < totalRequests)) {
      throw new OutputError(`${path}:${lineNo}: not a record of this run (seq ${String(seq)}); the file may be corrupt or from another config`);
    }
    if (seen[seq] === 0) count++;
    seen[seq] = 1;
    each(record);
  });
  return count;
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
  private static readonly BLOCK = 1 << 20;
  private readonly cache = new Map<number, Buffer>();
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
    const BLOCK = JournalReader.BLOCK;
    const length = this.index.lengths[seq]!;
    const first = Math.floor(offset / BLOCK);
    const last = Math.floor((offset + length - 1) / BLOCK);
    let text: string;
    if (first === last) {
      const b = await this.block(first);
      text = b.toString('utf8', offset - first * BLOCK, offset - first * BLOCK + length);
    } else {
      const b = Buffer.allocUnsafe(length);
      await this.fh.read(b, 0, length, offset);
      text = b.toString('utf8');
    }
    try {
      return JSON.parse(text) as RequestRecord;
    } catch {
      throw new OutputError(`${this.path}: the record of request ${seq} (at byte ${offset}) is not valid JSON; the file is corrupt. Nothing was rewritten.`);
    }
  }

  private async block(n: number): Promise<Buffer> {
    const hit = this.cache.get(n);
    if (hit) {
      this.cache.delete(n);
      this.cache.set(n, hit);
      return hit;
    }
    // Four block buffers, reused as blocks are evicted: allocating one per read would leave V8 a trail of garbage.
    let memory: Buffer;
    if (this.cache.size < 4) memory = Buffer.allocUnsafe(JournalReader.BLOCK);
    else {
      const [oldest, view] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      memory = Buffer.from(view.buffer, view.byteOffset, JournalReader.BLOCK);
    }
    const { bytesRead } = await this.fh.read(memory, 0, JournalReader.BLOCK, n * JournalReader.BLOCK);
    const view = memory.subarray(0, bytesRead);
    this.cache.set(n, view);
    return view;
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
