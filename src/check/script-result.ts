import type { CheckOutcome } from '../contracts/checks.js';

/** The longest reason a record keeps: a check's message is a hint, not a log. */
export const MAX_REASON_CHARS = 200;

export function shortReason(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_REASON_CHARS ? `${flat.slice(0, MAX_REASON_CHARS - 1)}…` : flat;
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
