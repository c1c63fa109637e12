/**
 * The simulator's Batch API state on disk: files as they were uploaded, each batch as a small JSON document, and
 * the lines a batch has answered appended to a part file. Memory holds the batches' objects and a read cursor each,
 * never a file's lines, and a simulator started again on the same folder finds every file and batch where it was.
 */
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Writes a small document whole or not at all (a kill mid-write leaves the previous one). */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, path);
}

export function readJsonDir<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  const out: T[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as T);
    } catch {
      // a document cut by a kill: its .tmp twin was never renamed, so this one is whole; anything else is skipped
    }
  }
  return out;
}

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

const CHUNK = 64 * 1024;

/**
 * Up to `max` lines of a file from byte `offset` (a line's start), by positional reads; `next` is where the line
 * after the last one returned starts. A last line without `\n` counts as a line.
 */
export function readLinesAt(path: string, offset: number, max: number): { lines: string[]; next: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const lines: string[] = [];
    let at = offset;
    let pending: Buffer[] = [];
    let buf = Buffer.alloc(CHUNK);
    let pos = offset;
    while (lines.length < max && pos < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n <= 0) break;
      let from = 0;
      const chunk = buf.subarray(0, n);
      for (let nl = chunk.indexOf(0x0a); nl >= 0 && lines.length < max; nl = chunk.indexOf(0x0a, from)) {
        const piece = chunk.subarray(from, nl);
        const whole = pending.length ? Buffer.concat([...pending, piece]) : piece;
        lines.push(whole.toString('utf8'));
        at += whole.length + 1;
        pending = [];
        from = nl + 1;
      }
      if (lines.length >= max) break;
      if (from < n) pending.push(Buffer.from(chunk.subarray(from)));
      pos += n;
      buf = Buffer.alloc(CHUNK);
    }
    if (lines.length < max && pending.length) {
      const whole = Buffer.concat(pending);
      lines.push(whole.toString('utf8'));
      at += whole.length;
    }
    return { lines, next: at };
  } finally {
    closeSync(fd);
  }
}

/** Calls `each` on every line of a file, in order, reading a chunk at a time. */
export function forEachLine(path: string, each: (line: string, index: number) => void): number {
  let offset = 0;
  let index = 0;
  for (;;) {
    const { lines, next } = readLinesAt(path, offset, 1000);
    for (const l of lines) each(l, index++);
    if (lines.length === 0 || next === offset) return index;
    offset = next;
  }
}

/** Appends text to a file and returns its new size. */
export function appendText(path: string, text: string): void {
  if (!text) return;
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Cuts a file back to `bytes` (a part file after a kill between writing lines and saving the batch's counters). */
export function truncateTo(path: string, bytes: number): void {
  if (!existsSync(path)) return;
  const fd = openSync(path, 'r+');
  try {
    if (fstatSync(fd).size > bytes) ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies a JSONL file's lines into `dest` in another order (pairs swapped, then reversed): the API promises no
 * order, and a client must not rely on one. Only the lines' offsets are held, never the lines.
 */
export function reorderedCopy(src: string, dest: string, skip = 0): number {
  const starts: number[] = [];
  const lengths: number[] = [];
  let offset = 0;
  forEachLine(src, (line) => {
    const len = Buffer.byteLength(line);
    if (len > 0) {
      starts.push(offset);
      lengths.push(len);
    }
    offset += len + 1;
  });
  const order = starts.map((_, i) => i);
  for (let i = 0; i + 1 < order.length; i += 2) [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
  order.reverse();
  const kept = order.slice(0, Math.max(0, order.length - skip));
  const inFd = openSync(src, 'r');
  const outFd = openSync(dest, 'w');
  try {
    let buf = Buffer.alloc(CHUNK);
    for (const i of kept) {
      const len = lengths[i]!;
      if (buf.length < len + 1) buf = Buffer.alloc(len + 1);
      readSync(inFd, buf, 0, len, starts[i]!);
      buf[len] = 0x0a;
      writeSync(outFd, buf, 0, len + 1);
    }
  } finally {
    closeSync(inFd);
    closeSync(outFd);
  }
  return kept.length;
}

export function removeQuietly(path: string): void {
  rmSync(path, { force: true, recursive: true });
}
