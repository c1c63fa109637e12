import { describe, expect, it } from 'vitest';
import { copyLines } from '../../../../src/run/batch/copy-lines.js';

/** Splits `bytes` at the given cut points: how a socket may deliver a result file. */
function* cut(bytes: Buffer, at: number[]): Generator<Uint8Array> {
  let from = 0;
  for (const to of [...at, bytes.length]) {
    if (to > from) yield new Uint8Array(bytes.buffer, bytes.byteOffset + from, to - from);
    from = Math.max(from, to);
  }
}

async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

async function copy(chunks: Iterable<Uint8Array>, start = 0) {
  const lines: Array<{ text: string; offset: number }> = [];
  const written: Buffer[] = [];
  const end = await copyLines(
    asAsync(chunks),
    start,
    (line, offset) => lines.push({ text: line.toString('utf8'), offset }),
    async (b) => {
      written.push(Buffer.from(b));
    },
  );
  return { lines, out: Buffer.concat(written), end };
}

const file = ['{"custom_id":"seq-1","x":"é"}', '', '{"custom_id":"seq-2","x":"😀 ü"}\r', '{"custom_id":"seq-3"}'].join('\n');

describe('copyLines (a result file to disk, line by line)', () => {
  it('finds every line and its offset in what was written, however the file was cut into chunks', async () => {
    const bytes = Buffer.from(file, 'utf8');
    let x = 11;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const cuts: number[][] = [[], Array.from({ length: bytes.length }, (_, i) => i + 1), [1, 2, 3]];
    // Cuts anywhere: inside a line, right before or after a newline, inside a multi-byte character.
    for (let t = 0; t < 200; t++) cuts.push(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * bytes.length)).sort((a, b) => a - b));
    for (const at of cuts) {
      const { lines, out, end } = await copy(cut(bytes, at), 100);
      // The last line had no newline: one is written after it, so a file appended next starts a line of its own.
      expect(out.toString('utf8')).toBe(`${file}\n`);
      expect(end).toBe(100 + out.length);
      expect(lines.map((l) => l.text)).toEqual(file.split('\n'));
      for (const l of lines) expect(out.subarray(l.offset - 100, l.offset - 100 + Buffer.byteLength(l.text)).toString('utf8')).toBe(l.text);
    }
  });

  it('hands on a line that lies within one chunk without copying it', async () => {
    const chunk = Buffer.from('{"a":1}\n{"b":2}\n');
    const seen: Buffer[] = [];
    await copyLines(asAsync([chunk]), 0, (line) => seen.push(line), async () => {});
    expect(seen.map((l) => l.toString())).toEqual(['{"a":1}', '{"b":2}']);
    for (const l of seen) expect(l.buffer).toBe(chunk.buffer);
  });

  it('an empty file writes nothing and finds no line', async () => {
    expect(await copy([], 7)).toEqual({ lines: [], out: Buffer.alloc(0), end: 7 });
  });
});
