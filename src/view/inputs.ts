import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A dataset row as the viewer shows it. */
export interface InputRow {
  id: string;
  vars: Record<string, unknown>;
}

/**
 * The dataset's rows, copied once (in the background) to a temporary JSONL file with each row's byte offset, so a
 * page reads its rows by offset instead of parsing the dataset from its start: memory stays flat and the run
 * directory is never written. The copy is removed on close.
 */
export class InputStore {
  /** Byte offset of each row's line in the temporary file, -1 until written. */
  private readonly offsets: Float64Array;
  private readonly lengths: Uint32Array;
  private readonly rowStart: number;
  private written = 0;
  private done = false;
  private failure: string | undefined;
  private closed = false;
  private waiters: Array<() => void> = [];
  private readonly finished: Promise<void>;
  private readonly dir: string;
  private readonly fh: FileHandle;

  private constructor(dir: string, fh: FileHandle, rowStart: number, rows: number, source: AsyncIterable<InputRow>) {
    this.dir = dir;
    this.fh = fh;
    this.rowStart = rowStart;
    this.offsets = new Float64Array(rows).fill(-1);
    this.lengths = new Uint32Array(rows);
    this.finished = this.copy(source);
  }

  /** Starts copying rows `rowStart` … `rowStart + rows − 1` of `source` (a shard's rows are a range of the dataset). */
  static async start(source: AsyncIterable<InputRow>, rowStart: number, rows: number): Promise<InputStore> {
    const dir = await mkdtemp(join(tmpdir(), 'evalrun-view-'));
    const fh = await open(join(dir, 'inputs.jsonl'), 'w+');
    return new InputStore(dir, fh, rowStart, rows, source);
  }

  /** Whether every row is copied (or the copy stopped): pages no longer wait for it. */
  get copied(): boolean {
    return this.done;
  }

  /** Why the dataset could not be read to the end (a row past it then has no input), if it could not. */
  get problem(): string | undefined {
    return this.failure;
  }

  /** The row at plan position `row`, once copied; undefined if the dataset has no such row. */
  async get(row: number): Promise<InputRow | undefined> {
    const i = row - this.rowStart;
    if (i < 0 || i >= this.offsets.length) return undefined;
    while (i >= this.written && !this.done) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (i >= this.written || this.closed) return undefined;
    const offset = this.offsets[i]!;
    const buf = Buffer.allocUnsafe(this.lengths[i]!);
    await this.fh.read(buf, 0, buf.length, offset);
    return JSON.parse(buf.toString('utf8')) as InputRow;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.finished;
    await this.fh.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async copy(source: AsyncIterable<InputRow>): Promise<void> {
    const rowEnd = this.rowStart + this.offsets.length;
    let position = 0;
    let chunk: string[] = [];
    let chunkBytes = 0;
    let pending = 0; // rows in `chunk`
    const flush = async () => {
      if (chunk.length === 0) return;
      const text = chunk.join('');
      chunk = [];
      chunkBytes = 0;
      const bytes = Buffer.from(text, 'utf8');
      await this.fh.write(bytes, 0, bytes.length, position);
      position += bytes.length;
      this.written += pending;
      pending = 0;
      this.wake();
    };
    let row = 0;
    let offset = 0;
    try {
      for await (const r of source) {
        if (this.closed) break;
        if (row >= this.rowStart) {
          const line = `${JSON.stringify({ id: r.id, vars: r.vars })}\n`;
          const length = Buffer.byteLength(line);
          const i = row - this.rowStart;
          this.offsets[i] = offset;
          this.lengths[i] = length - 1;
          offset += length;
          chunk.push(line);
          chunkBytes += length;
          pending++;
          // Small writes at first, so the first page's rows are readable at once; larger ones after.
          if (chunkBytes >= (this.written < 100 ? 1 : 1 << 16)) await flush();
        }
        row++;
        if (row >= rowEnd) break;
      }
      await flush();
    } catch (e) {
      this.failure = (e as Error).message;
    } finally {
      this.done = true;
      this.wake();
    }
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const resolve of waiting) resolve();
  }
}
