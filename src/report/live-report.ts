import { createWriteStream, rmSync, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { join } from 'node:path';
import type { RunManifest } from '../record/index.js';
import type { RequestRecord } from '../record/index.js';
import { ReportPass } from './report-pass.js';
import type { Summary } from '../contracts/summary.js';

/**
 * Records that may wait for an earlier one before the live pass gives up, by count and by the text they hold (long
 * answers × n add up): a few tens of MB at most.
 */
const MAX_WAITING = 4096;
const MAX_WAITING_CHARS = 16 * 2 ** 20;
/** choices.csv text the disk may fall behind by before the live pass gives up. */
const MAX_UNWRITTEN = 16 * 2 ** 20;
/**
 * When the pass takes the records that came in. Work done as answers arrive delays the next requests of a
 * latency-bound run, whose answers come in waves: records wait until no answer came for QUIET_MS (the gap before
 * the next wave), or at most MAX_DELAY_MS. When answers never pause (a throughput-bound run), BATCH records are
 * taken at once: kept longer, they would outlive V8's young generation and cost more to collect.
 */
const QUIET_MS = 5;
const MAX_DELAY_MS = 50;
const BATCH = 64;

interface Limits {
  waiting: number;
  waitingChars: number;
  unwritten: number;
}

/** About how much a record holds: its answers' text dominates. */
function textSize(record: RequestRecord): number {
  let chars = 256;
  for (const c of record.choices) {
    chars += (c.content?.length ?? 0) + (c.refusal?.length ?? 0);
    if (c.tool_calls) for (const t of c.tool_calls) chars += t.arguments.length;
  }
  return chars;
}

/**
 * The report pass, fed while the run goes on. Records arrive in the order requests finish and are taken in plan
 * order, so when the last answer of a fresh run is in, its reports are a few writes away instead of a second pass
 * over records.jsonl (seconds at a million choices, while the CPU sat idle waiting on the API).
 *
 * It is only a shortcut to the same files: `finish` returns undefined whenever it could not take every planned
 * request (a resumed, interrupted or stopped run; a request retried so long that too many later ones piled up; a
 * write error), and the caller then derives the reports from records.jsonl as `evalrun report` does.
 */
export class LiveReport {
  private readonly pass: ReportPass;
  private readonly waiting = new Map<number, RequestRecord>();
  private readonly total: number;
  private readonly tmp: string;
  private readonly out: WriteStream;
  private readonly dir: string;
  private readonly limits: Limits;
  private waitingChars = 0;
  private next = 0;
  private gaveUp = false;
  private queue: RequestRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private firstAt = 0;
  private lastAt = 0;

  constructor(
    dir: string,
    manifest: RunManifest,
    limits: Limits = { waiting: MAX_WAITING, waitingChars: MAX_WAITING_CHARS, unwritten: MAX_UNWRITTEN },
  ) {
    this.dir = dir;
    this.limits = limits;
    this.pass = new ReportPass(manifest);
    // A shard's requests are one contiguous run of seqs from its first.
    this.total = manifest.shard?.requests ?? manifest.plan.requests;
    this.next = manifest.shard?.first_seq ?? 0;
    this.tmp = join(dir, `choices.csv.live-${process.pid}`);
    this.out = createWriteStream(this.tmp);
    this.out.on('error', () => this.giveUp());
  }

  add(record: RequestRecord): void {
    if (this.gaveUp) return;
    this.queue.push(record);
    this.lastAt = performance.now();
    if (this.queue.length >= BATCH) {
      this.immediate ??= setImmediate(() => this.drain());
    } else if (!this.timer) {
      this.firstAt = this.lastAt;
      this.timer = setTimeout(() => this.onTimer(), QUIET_MS);
      this.timer.unref();
    }
  }

  private onTimer(): void {
    const now = performance.now();
    if (now - this.lastAt < QUIET_MS && now - this.firstAt < MAX_DELAY_MS) {
      this.timer = setTimeout(() => this.onTimer(), QUIET_MS);
      this.timer.unref();
    } else this.drain();
  }

  private drain(): void {
    this.stopTimers();
    const queue = this.queue;
    this.queue = [];
    for (const record of queue) {
      if (this.gaveUp) return;
      this.order(record);
    }
  }

  private stopTimers(): void {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private order(record: RequestRecord): void {
    if (record.seq !== this.next) {
      this.waiting.set(record.seq, record);
      this.waitingChars += textSize(record);
      if (this.waiting.size > this.limits.waiting || this.waitingChars > this.limits.waitingChars) this.giveUp();
      return;
    }
    this.take(record);
    for (let r = this.waiting.get(this.next); r !== undefined; r = this.waiting.get(this.next)) {
      this.waiting.delete(r.seq);
      this.waitingChars -= textSize(r);
      this.take(r);
    }
  }

  /**
   * Writes the reports if every planned request was taken and returns their summary; otherwise removes what it
   * wrote and returns undefined.
   */
  async finish(manifest: RunManifest): Promise<Summary | undefined> {
    this.drain();
    if (this.gaveUp || this.pass.requests !== this.total) {
      await this.discard();
      return undefined;
    }
    const rest = this.pass.flush();
    if (rest) this.out.write(rest);
    this.out.end();
    try {
      await finished(this.out);
    } catch {
      await this.discard();
      return undefined;
    }
    await rename(this.tmp, join(this.dir, 'choices.csv'));
    return this.pass.finish(this.dir, manifest);
  }

  /** Drops the pass and its partial choices.csv (nothing is left to drop after a finish that wrote the reports). */
  async discard(): Promise<void> {
    this.giveUp();
    // A stream destroyed before its file opened still opens (then closes) it: remove the file after that.
    if (!this.out.closed) await new Promise<void>((resolve) => this.out.destroy().once('close', () => resolve()));
    await rm(this.tmp, { force: true });
  }

  /** For a process about to exit at once (a second Ctrl-C): no partial choices.csv left in the run directory. */
  discardSync(): void {
    this.giveUp();
    this.out.destroy();
    rmSync(this.tmp, { force: true });
  }

  private take(record: RequestRecord): void {
    this.next++;
    const text = this.pass.add(record);
    if (text === undefined) return;
    this.out.write(text);
    if (this.out.writableLength > this.limits.unwritten) this.giveUp();
  }

  private giveUp(): void {
    this.gaveUp = true;
    this.stopTimers();
    this.queue = [];
    this.waiting.clear();
  }
}
