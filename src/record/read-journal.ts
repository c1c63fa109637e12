import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { OutputError } from '../errors.js';
import type { RequestRecord } from './types.js';

export interface JournalIndex {
  /** Byte offset of the latest record of each seq, -1 if none. */
  offsets: Float64Array;
  lengths: Uint32Array;
  /** Distinct seqs recorded. */
  count: number;
  /** Bytes up to the end of the last complete line: anything after is a torn write. */
  validBytes: number;
  tornBytes: number;
}

const SEQ = /^\{"v":1,"seq":(\d+),/;

/**
 * One streaming pass over records.jsonl that keeps only where each request's record is, never the records. A
 * request recorded twice (it cannot happen through resume, but a hand-merged file might) counts once: the last.
 */
export async function indexJournal(path: string, totalRequests: number): Promise<JournalIndex> {
  const offsets = new Float64Array(totalRequests).fill(-1);
  const lengths = new Uint32Array(totalRequests);
  let count = 0;
  let position = 0;
  let carry: Buffer = Buffer.alloc(0);
  let lineNo = 0;
  const exists = await stat(path).then(() => true, () => false);
  if (!exists) return { offsets, lengths, count, validBytes: 0, tornBytes: 0 };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buf: Buffer = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      lineNo++;
      if (nl === start || (nl === start + 1 && buf[start] === 13)) {
        start = nl + 1; // a blank line (a hand-edited file): nothing to index
        continue;
      }
      const head = buf.toString('latin1', start, Math.min(nl, start + 40));
      const m = SEQ.exec(head);
      const seq = m ? Number(m[1]) : NaN;
      if (!(seq >= 0 && seq < totalRequests)) {
        throw new OutputError(`${path}:${lineNo}: not a record of this run (seq ${Number.isNaN(seq) ? 'missing' : seq}); the file may be corrupt or from another config`);
      }
      if (offsets[seq] === -1) count++;
      offsets[seq] = position + start;
      lengths[seq] = nl - start;
      start = nl + 1;
    }
    position += start;
    carry = buf.subarray(start);
  }
  return { offsets, lengths, count, validBytes: position, tornBytes: carry.length };
}

/**
 * Records in plan order. Reads go through a small cache of 1 MiB blocks: a file written in roughly plan order
 * (concurrency only shuffles neighbours; a resume appends the holes) is read almost sequentially, and memory stays
 * at a few blocks whatever the run's size.
 */
export async function* recordsInOrder(path: string, index: JournalIndex): AsyncGenerator<RequestRecord> {
  if (index.count === 0) return;
  const fh = await open(path, 'r');
  const BLOCK = 1 << 20;
  const cache = new Map<number, Buffer>();
  const block = async (n: number): Promise<Buffer> => {
    let b = cache.get(n);
    if (b) {
      cache.delete(n);
      cache.set(n, b);
      return b;
    }
    b = Buffer.allocUnsafe(BLOCK);
    const { bytesRead } = await fh.read(b, 0, BLOCK, n * BLOCK);
    b = b.subarray(0, bytesRead);
    cache.set(n, b);
    if (cache.size > 4) cache.delete(cache.keys().next().value!);
    return b;
  };
  try {
    for (let seq = 0; seq < index.offsets.length; seq++) {
      const offset = index.offsets[seq]!;
      if (offset < 0) continue;
      const length = index.lengths[seq]!;
      const first = Math.floor(offset / BLOCK);
      const last = Math.floor((offset + length - 1) / BLOCK);
      let text: string;
      if (first === last) {
        const b = await block(first);
        text = b.toString('utf8', offset - first * BLOCK, offset - first * BLOCK + length);
      } else {
        const b = Buffer.allocUnsafe(length);
        await fh.read(b, 0, length, offset);
        text = b.toString('utf8');
      }
      yield JSON.parse(text) as RequestRecord;
    }
  } finally {
    await fh.close();
  }
}
