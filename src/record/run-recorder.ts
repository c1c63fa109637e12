import { join } from 'node:path';
import type { OutputError } from '../errors.js';
import { Journal } from './journal.js';
import { RECORDS, writeManifest, writeManifestSync, type RunManifest, type RunStatus } from './manifest.js';
import type { OpenedRunDir } from './run-dir.js';
import type { RunLock } from './run-lock.js';
import type { RequestRecord } from './types.js';

/**
 * One session's hold on a run directory: its lock, its journal (records.jsonl) and its manifest (run.json), from the
 * moment the directory is opened until the session ends. run.json is only ever replaced whole (`update`), never
 * mutated in place, so what is on disk is always a manifest some step of the session wrote. `hardStopSync` is safe
 * at any instant: before the journal is open (a second Ctrl-C during start-up) it has nothing to flush, and run.json
 * still says the session was interrupted.
 */
export class RunRecorder {
  private journal: Journal | undefined;
  private appended = 0;
  private lock: RunLock | undefined;

  readonly dir: string;
  private current: RunManifest;

  private constructor(dir: string, manifest: RunManifest, lock: RunLock) {
    this.dir = dir;
    this.current = manifest;
    this.lock = lock;
  }

  /** Takes over the opened directory's lock and writes the session's first run.json. */
  static async start(opened: Pick<OpenedRunDir, 'dir' | 'lock'>, manifest: RunManifest): Promise<RunRecorder> {
    const recorder = new RunRecorder(opened.dir, manifest, opened.lock);
    await writeManifest(opened.dir, manifest);
    return recorder;
  }

  get manifest(): RunManifest {
    return this.current;
  }

  /** Requests recorded in this session. */
  get recorded(): number {
    return this.appended;
  }

  /** Replaces run.json with `change(manifest)`: the one way a session changes what run.json says. */
  async update(change: (manifest: RunManifest) => RunManifest): Promise<void> {
    this.current = change(this.current);
    await writeManifest(this.dir, this.current);
  }

  /**
   * Opens records.jsonl for appending (cut back to `validBytes`, a resumed journal's last whole line). A record that
   * cannot be written is not worth a request: `onFailure` stops the run.
   */
  async openJournal(options: { validBytes?: number | undefined; redact: (text: string) => string; onFailure: (error: OutputError) => void }): Promise<void> {
    this.journal = await Journal.open(join(this.dir, RECORDS), options.validBytes, { onFailure: options.onFailure, redact: options.redact });
  }

  /**
   * Appends one record; returns it as written (the configured secrets scrubbed), which every file derives from.
   * `again`: a later line of a request already recorded (a judged answer's verdicts): written, not counted twice.
   */
  append(record: RequestRecord, again = false): RequestRecord {
    if (!this.journal) throw new Error('RunRecorder.append before openJournal');
    const written = this.journal.append(record);
    if (!again) this.appended++;
    return written;
  }

  /** Hands every appended record to the OS, the journal staying open (a reader of records.jsonl follows). */
  async flushJournal(): Promise<void> {
    await this.journal?.flush();
  }

  /** Waits until every appended record is on disk. */
  async closeJournal(): Promise<void> {
    await this.journal?.close();
  }

  /** Records written to disk so far this session (what a failed session can still claim). */
  get written(): number {
    return this.journal?.written ?? 0;
  }

  /** Ends the session in run.json: how it ended, what it recorded and, once known, the exit code. */
  async end(status: RunStatus, exitCode: number | null = null): Promise<RunManifest> {
    await this.update((m) => endSession(m, status, this.appended, exitCode));
    return this.current;
  }

  /**
   * The process may exit right after this (a second Ctrl-C): finished records go to the OS, run.json says the
   * session was interrupted, the lock is let go. Synchronous, and never throws: it runs inside a signal handler.
   */
  hardStopSync(exitCode: number): void {
    try {
      this.journal?.flushSync();
    } catch {
      // Going down anyway: a resume cuts a torn last line.
    }
    this.current = endSession(this.current, 'interrupted', this.appended, exitCode);
    writeManifestSync(this.dir, this.current);
    this.lock?.releaseSync();
    this.lock = undefined;
  }

  /** The journal could not be written: run.json says the session failed, counting only the records on disk. */
  async fail(exitCode: number): Promise<void> {
    // The journal's lines include a judged answer's second line, which is not another request recorded.
    this.current = endSession(this.current, 'failed', Math.min(this.appended, this.written), exitCode);
    await writeManifest(this.dir, this.current);
  }

  /** Lets the directory go (idempotent). */
  async release(): Promise<void> {
    const lock = this.lock;
    this.lock = undefined;
    await lock?.release();
  }
}

/** Closes the session in run.json's terms: how it ended and how many requests it recorded. */
export function endSession(manifest: RunManifest, status: RunStatus, recorded: number, exitCode: number | null = null): RunManifest {
  const ended = new Date().toISOString();
  const sessions = [...manifest.sessions];
  sessions[sessions.length - 1] = Object.assign({}, sessions.at(-1)!, { ended_at: ended, status, recorded });
  return Object.assign({}, manifest, { status, ended_at: ended, exit_code: exitCode, sessions });
}
