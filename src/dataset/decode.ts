import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { TextDecoder } from 'node:util';
import { DatasetError } from '../errors.js';

const isUtf8Label = (label: string | undefined) => label === undefined || new TextDecoder(label).encoding === 'utf-8';

/**
 * A byte stream as UTF-8 bytes for the readers. UTF-8 input is checked and passed through unchanged: a byte that is
 * not UTF-8 would otherwise become "�" in every prompt without a word, so it stops the read at its line and column.
 * Any other encoding the user names is decoded (streaming, so a character split between chunks is kept whole).
 */
export function decodeStream(label: string | undefined, shown: string): Transform {
  return isUtf8Label(label) ? new Utf8Check(shown) : new Recode(label!);
}

/** The whole text of a file read at once (a .json dataset), checked or decoded like a stream. */
export function decodeBuffer(bytes: Buffer, label: string | undefined, shown: string): string {
  if (!isUtf8Label(label)) return new TextDecoder(label).decode(bytes);
  if (!isUtf8(bytes)) throw notUtf8(shown, bytes, firstInvalid(bytes), { line: 1, col: 1 });
  return bytes.toString('utf8');
}

class Recode extends Transform {
  private readonly decoder: TextDecoder;
  constructor(label: string) {
    super();
    this.decoder = new TextDecoder(label);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    done(null, Buffer.from(this.decoder.decode(chunk, { stream: true }), 'utf8'));
  }
  override _flush(done: TransformCallback): void {
    done(null, Buffer.from(this.decoder.decode(), 'utf8'));
  }
}

class Utf8Check extends Transform {
  /** The start of a character cut off at the end of the last chunk. */
  private carry: Buffer = Buffer.alloc(0);
  /** Where the next byte sits: its 1-based line and column (in characters). */
  private at = { line: 1, col: 1 };
  private readonly shown: string;
  constructor(shown: string) {
    super();
    this.shown = shown;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const bytes = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const end = completeEnd(bytes);
    const whole = bytes.subarray(0, end);
    this.carry = Buffer.from(bytes.subarray(end));
    // isUtf8 is native and fast: the byte-by-byte search runs only when there is something to find.
    if (!isUtf8(whole)) return done(notUtf8(this.shown, whole, firstInvalid(whole), this.at));
    this.at = advance(this.at, whole, whole.length);
    done(null, whole);
  }
  override _flush(done: TransformCallback): void {
    if (this.carry.length) return done(notUtf8(this.shown, this.carry, 0, this.at, true));
    done();
  }
}

/** The end of the last complete UTF-8 sequence: a lead byte in the last 3 bytes whose sequence is cut is left out. */
function completeEnd(b: Buffer): number {
  for (let back = 1; back <= 3 && back <= b.length; back++) {
    const byte = b[b.length - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? b.length - back : b.length;
  }
  return b.length;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalid(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const need = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (need === 0 || i + need > b.length) return i;
    if (!isUtf8(b.subarray(i, i + need))) return i;
    i += need;
  }
  return i;
}

/** Line and column after the first `n` bytes of `b`, counted on from `from`. */
function advance(from: { line: number; col: number }, b: Buffer, n: number): { line: number; col: number } {
  let { line, col } = from;
  let lineStart = 0;
  for (let i = b.indexOf(10); i !== -1 && i < n; i = b.indexOf(10, i + 1)) {
    line++;
    lineStart = i + 1;
    col = 1;
  }
  // Characters, not bytes: continuation bytes do not count.
  for (let i = lineStart; i < n; i++) if ((b[i]! & 0xc0) !== 0x80) col++;
  return { line, col };
}

function notUtf8(shown: string, b: Buffer, offset: number, from: { line: number; col: number }, cutOff = false): DatasetError {
  const { line, col } = advance(from, b, offset);
  const byte = cutOff || b[offset] === undefined ? 'a character cut off at the end of the file' : `byte 0x${b[offset]!.toString(16).padStart(2, '0')}`;
  return new DatasetError([
    {
      file: shown,
      line,
      col,
      path: '',
      message: `not UTF-8 (${byte}); save the file as UTF-8, or name its encoding in the config (encoding: latin1, windows-1252, utf-16le, …)`,
    },
  ]);
}
