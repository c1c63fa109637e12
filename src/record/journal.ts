import { writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { RequestRecord } from './types.js';

/**
 * Append-only `records.jsonl`. Every finished request is serialized at once and written with the others that
 * finished meanwhile in one write (group commit), so a crash loses at most the write in progress, and the hot
 * path does one syscall per batch rather than per record. A torn last line is cut off on open.
 */
export class Journal {
  private pending: string[] = [];
  private writing: Promise<void> | undefined;
  private failure: Error | undefined;
  private readonly fh: FileHandle;
  readonly path: string;
  private constructor(fh: FileHandle, path: string) {
    this.fh = fh;
    this.path = path;
  }

  /** Open for appending; `validBytes` (from a scan) cuts a torn tail left by a crash before appending again. */
  static async open(path: string, validBytes?: number): Promise<Journal> {
    const fh = await open(path, 'a+');
    if (validBytes !== undefined) {
      const { size } = await fh.stat();
      if (size > validBytes) await fh.truncate(validBytes);
    }
    return new Journal(fh, path);
  }

  append(record: RequestRecord): void {
    if (this.failure) throw this.failure;
    this.pending.push(`${JSON.stringify(record)}\n`);
    // Deferred to the end of this turn of the event loop, so requests that finish together share one write.
    this.writing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  /** Resolves when every appended record is handed to the OS (it survives a killed process). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
  }

  /**
   * Writes what is pending synchronously, for a process about to exit. O_APPEND keeps whole lines whole even if an
   * asynchronous batch is being written at the same moment.
   */
  flushSync(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending.join('');
    this.pending = [];
    try {
      writeSync(this.fh.fd, batch);
    } catch {
      // The process is going down anyway; resume sends these requests again.
    }
  }

  async close(options: { sync?: boolean } = {}): Promise<void> {
    try {
      await this.flush();
      if (options.sync) await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = Buffer.from(this.pending.join(''), 'utf8');
        this.pending = [];
        // The file is opened O_APPEND: every write lands at the end, whole.
        let written = 0;
        while (written < batch.length) written += (await this.fh.write(batch, written)).bytesWritten;
      }
    } catch (e) {
      this.failure = new Error(`cannot write ${this.path}: ${(e as Error).message}`, { cause: e });
    } finally {
      this.writing = undefined;
    }
  }
}
