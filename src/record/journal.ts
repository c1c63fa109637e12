import { writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { OutputError } from '../errors.js';
import type { RequestRecord } from './types.js';

/**
 * Append-only `records.jsonl`. Every finished request is serialized at once and written with the others that
 * finished meanwhile in one write (group commit), so a crash loses at most the write in progress, and the hot
 * path does one syscall per batch rather than per record. A torn last line is cut off on open.
 */
export class Journal {
  private pending: string[] = [];
  private writtenCount = 0;
  private writing: Promise<void> | undefined;
  private failure: OutputError | undefined;
  private readonly fh: FileHandle;
  private readonly onFailure: ((error: OutputError) => void) | undefined;
  private readonly redact: ((text: string) => string) | undefined;
  readonly path: string;
  private constructor(fh: FileHandle, path: string, onFailure: ((error: OutputError) => void) | undefined, redact: ((text: string) => string) | undefined) {
    this.fh = fh;
    this.path = path;
    this.onFailure = onFailure;
    this.redact = redact;
  }

  /**
   * Open for appending; `validBytes` (from a scan) cuts a torn tail left by a crash before appending again.
   * `onFailure` hears at once when a write fails (a full disk): the run should stop sending what it cannot record.
   * `redact` scrubs the configured secrets from every line (util/redact.ts), wherever in the record they are.
   */
  static async open(path: string, validBytes?: number, options: { onFailure?: (error: OutputError) => void; redact?: (text: string) => string } = {}): Promise<Journal> {
    const fh = await open(path, 'a+');
    if (validBytes !== undefined) {
      const { size } = await fh.stat();
      if (size > validBytes) await fh.truncate(validBytes);
    }
    return new Journal(fh, path, options.onFailure, options.redact);
  }

  /** Records handed to the OS so far (a failed write's are not among them). */
  get written(): number {
    return this.writtenCount;
  }

  /** Why records can no longer be written, once a write has failed. */
  get failed(): OutputError | undefined {
    return this.failure;
  }

  /**
   * Records after a failed write are dropped (their requests stay unrecorded, so a resume sends them again). Returns
   * the record as written: a scrubbed copy when it held a secret, for the reports built as records come in.
   */
  append(record: RequestRecord): RequestRecord {
    if (this.failure) return record;
    const text = JSON.stringify(record);
    const line = this.redact ? this.redact(text) : text;
    this.pending.push(`${line}\n`);
    // Deferred to the end of this turn of the event loop, so requests that finish together share one write.
    this.writing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
    return line === text ? record : (JSON.parse(line) as RequestRecord);
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
        const records = this.pending.length;
        const batch = Buffer.from(this.pending.join(''), 'utf8');
        this.pending = [];
        // The file is opened O_APPEND: every write lands at the end, whole.
        let written = 0;
        while (written < batch.length) written += (await this.fh.write(batch, written)).bytesWritten;
        this.writtenCount += records;
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.pending = [];
      this.failure = new OutputError(
        `cannot write ${this.path}: ${(e as Error).message}${code === 'ENOSPC' || code === 'EFBIG' || code === 'EDQUOT' ? ' (the disk or the file-size limit is full)' : ''}. ` +
          'The requests recorded before this stay in it; free the space (or fix the permission) and resume the run to send the rest.',
        'EVALRUN_JOURNAL_WRITE',
      );
      this.onFailure?.(this.failure);
    } finally {
      this.writing = undefined;
    }
  }
}
