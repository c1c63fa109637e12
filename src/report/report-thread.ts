import { Worker } from 'node:worker_threads';
import type { Summary } from '../contracts/summary.js';
import { builtFile } from '../util/built-file.js';
import type { RunManifest } from '../record/index.js';
import type { FromReportWorker, ToReportWorker } from './report-worker.js';

/** Chunks sent and not yet taken by the thread: enough to keep it busy, few enough that memory stays flat. */
const IN_FLIGHT = 3;

const WORKER = builtFile(import.meta.url, './report-worker.js');

/**
 * A ReportPass on a thread of its own, for a caller that already holds each record's JSON line: `regrade` grades and
 * writes records.jsonl on the main thread while this thread parses the same text again and builds choices.csv and the
 * reports, so the two halves of the work run on two cores (test/bench/RESULTS.md, graders). The thread writes
 * choices.csv and the reports into `dir`.
 */
export class ReportThread {
  private readonly worker: Worker;
  private inFlight = 0;
  private waiting: (() => void) | undefined;
  private finished: ((summary: Summary) => void) | undefined;
  private failure: Error | undefined;
  private fail: ((e: Error) => void) | undefined;

  constructor(manifest: RunManifest, dir: string) {
    // A young generation smaller than V8's default: the thread's garbage is short-lived rows and records, and its
    // default would add to the process's peak RSS about as much again as the thread's own work (RESULTS.md, graders).
    this.worker = new Worker(WORKER, { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    this.worker.on('message', (m: FromReportWorker) => {
      if ('ack' in m) {
        this.inFlight--;
        this.wake();
      } else if ('summary' in m) this.finished?.(m.summary as Summary);
      else this.broken(new Error(`the report thread failed: ${m.error}`));
    });
    this.worker.on('error', (e) => this.broken(e));
    this.worker.on('exit', (code) => this.broken(new Error(`the report thread ended (exit code ${code}) before the reports were written`)));
    this.post({ start: { manifest, dir } });
  }

  /** Hands over complete JSONL lines (records in plan order); resolves once the thread has room for more. */
  async add(lines: string): Promise<void> {
    this.check();
    this.inFlight++;
    this.post({ lines });
    while (this.inFlight >= IN_FLIGHT && !this.failure) await new Promise<void>((resolve) => (this.waiting = resolve));
    this.check();
  }

  /** choices.csv completed and the other reports written; the summary they were built from. */
  finish(manifest: RunManifest): Promise<Summary> {
    this.check();
    return new Promise<Summary>((resolve, reject) => {
      this.finished = resolve;
      this.fail = reject;
      this.post({ finish: manifest });
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private post(message: ToReportWorker): void {
    this.worker.postMessage(message);
  }

  private broken(e: Error): void {
    this.failure ??= e;
    this.wake();
    this.fail?.(this.failure);
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}
