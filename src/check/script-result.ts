import type { CheckOutcome } from '../contracts/checks.js';

/** The longest reason a record keeps: a check's message is a hint, not a log. */
export const MAX_REASON_CHARS = 200;

export function shortReason(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= MAX_REASON_CHARS) return flat;
  // Never half a character: a cut between a surrogate pair's halves would leave one that encodes as nothing.
  const cut = /[\ud800-\udbff]/.test(flat[MAX_REASON_CHARS - 2]!) ? MAX_REASON_CHARS - 2 : MAX_REASON_CHARS - 1;
  return `${flat.slice(0, cut)}…`;
}

export function unscored(reason: string): CheckOutcome {
  return { pass: null, score: null, reason: shortReason(reason) };
}

const isScore = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'bigint' || typeof v === 'symbol') return String(v);
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = undefined;
  }
  text ??= Object.prototype.toString.call(v);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

const CONTRACT = 'a boolean, a number in [0, 1], or { pass, score, reason }';

/**
 * What a script check's return value means. A boolean is pass/fail (score 1 or 0); a number in [0, 1] is a score
 * that passes at `min`; `{ pass, score, reason }` may give either or both (`pass: null` is "could not decide").
 * Anything else leaves the choice unscored, saying what came back: it is never guessed into a pass or a fail.
 */
export function outcomeOfReturn(value: unknown, min: number): CheckOutcome {
  if (typeof value === 'boolean') return { pass: value, score: value ? 1 : 0 };
  if (isScore(value)) return { pass: value >= min, score: value };
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as { pass?: unknown; score?: unknown; reason?: unknown };
    const reason = typeof o.reason === 'string' && o.reason.trim() !== '' ? shortReason(o.reason) : undefined;
    const badPass = o.pass !== undefined && o.pass !== null && typeof o.pass !== 'boolean';
    const badScore = o.score !== undefined && o.score !== null && !isScore(o.score);
    if (!badPass && !badScore) {
      if (o.pass === null) return unscored(reason ?? 'the check could not decide');
      const score = isScore(o.score) ? o.score : undefined;
      if (typeof o.pass === 'boolean') return { pass: o.pass, score: score ?? (o.pass ? 1 : 0), ...(reason ? { reason } : {}) };
      if (score !== undefined) return { pass: score >= min, score, ...(reason ? { reason } : {}) };
    }
  }
  return unscored(`returned ${describe(value)}: not ${CONTRACT}`);
}

/** A thrown value as a reason: the error's name and message, without its stack. */
export function thrownReason(e: unknown): string {
  if (e instanceof Error) return shortReason(`threw ${e.name}: ${e.message}`);
  return shortReason(`threw ${describe(e)}`);
}

/** UTF-8 bytes of the longest reason: at most 3 per UTF-16 unit. */
const REASON_BYTES = MAX_REASON_CHARS * 3;
const NO_REASON = 0xffff;
const encoder = new TextEncoder();

/**
 * A batch's outcomes in memory the pool's thread and the worker thread share: the worker writes each as its call
 * returns, so when a later call is stuck and the thread is ended, the outcomes of the calls before it are still there
 * (they are not run again). Columns per item: pass (-1 null, 0, 1), score (NaN: null), the reason's UTF-8 bytes.
 */
export class OutcomeColumns {
  readonly buffer: SharedArrayBuffer;
  private readonly pass: Int8Array;
  private readonly score: Float64Array;
  private readonly reasonLength: Uint16Array;
  private readonly reasons: Uint8Array;

  constructor(bufferOrItems: SharedArrayBuffer | number) {
    const n = typeof bufferOrItems === 'number' ? bufferOrItems : bufferOrItems.byteLength / OutcomeColumns.bytesPerItem;
    this.buffer = typeof bufferOrItems === 'number' ? new SharedArrayBuffer(n * OutcomeColumns.bytesPerItem) : bufferOrItems;
    // Float64 first: its offset must be a multiple of 8.
    this.score = new Float64Array(this.buffer, 0, n);
    this.reasonLength = new Uint16Array(this.buffer, n * 8, n);
    this.pass = new Int8Array(this.buffer, n * 10, n);
    this.reasons = new Uint8Array(this.buffer, n * 11, n * REASON_BYTES);
  }

  private static readonly bytesPerItem = 8 + 2 + 1 + REASON_BYTES;

  write(i: number, o: CheckOutcome): void {
    this.pass[i] = o.pass === null ? -1 : o.pass ? 1 : 0;
    this.score[i] = o.score ?? Number.NaN;
    this.reasonLength[i] = o.reason === undefined ? NO_REASON : encoder.encodeInto(o.reason, this.reasons.subarray(i * REASON_BYTES, (i + 1) * REASON_BYTES)).written;
  }

  read(i: number): CheckOutcome {
    const pass = this.pass[i]!;
    const score = this.score[i]!;
    const length = this.reasonLength[i]!;
    const o: CheckOutcome = { pass: pass < 0 ? null : pass === 1, score: Number.isNaN(score) ? null : score };
    // Copied out of the shared memory first: TextDecoder does not read a view of a SharedArrayBuffer.
    if (length !== NO_REASON) o.reason = Buffer.from(this.reasons.subarray(i * REASON_BYTES, i * REASON_BYTES + length)).toString('utf8');
    return o;
  }
}
