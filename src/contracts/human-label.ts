// How a human label in a dataset cell is read: one rule, used by the dataset scan (which refuses a bad label before
// anything is sent) and by grading (which copies the label into the record). It lives in contracts because the
// dataset stage may not import check; check/index.ts re-exports it for the checks that grade.
import { SCALE_POINTS, type JudgeScale } from './checks.js';

/** A label read: normalised to [0, 1] like the verdict's score (pass 1, fail 0), or null when the cell is empty. */
export type HumanLabel = { ok: true; label: number | null } | { ok: false; message: string };

const PASS = new Set(['pass', 'true', '1', 'yes']);
const FAIL = new Set(['fail', 'false', '0', 'no']);

/** The values a label on this scale may take, in words, for an error message. */
export function acceptedLabels(scale: JudgeScale): string {
  if (scale === 'pass_fail') return 'pass, fail, true, false, 1, 0, yes or no (any case)';
  return `a whole number from 1 to ${SCALE_POINTS[scale]}`;
}

/**
 * One dataset cell as a human label on `scale`. Empty (absent, null, blank text) is unlabelled: null, skipped by the
 * agreement statistics. A pass/fail label is pass/fail/true/false/1/0/yes/no in any case (or a JSON boolean, or the
 * number 1 or 0); a rating is a whole number on the scale (3, "3", "3.0"), normalised to [0, 1]. Anything else is
 * not guessed at: the answer says what was found and what is accepted, and the caller says where.
 */
export function readHumanLabel(value: unknown, scale: JudgeScale): HumanLabel {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return { ok: true, label: null };
  const bad = (): HumanLabel => ({ ok: false, message: `human label ${JSON.stringify(value)} is not ${acceptedLabels(scale)}; leave the cell empty for a row nobody labelled` });
  if (scale === 'pass_fail') {
    if (typeof value === 'boolean') return { ok: true, label: value ? 1 : 0 };
    if (typeof value === 'number') return value === 1 || value === 0 ? { ok: true, label: value } : bad();
    if (typeof value !== 'string') return bad();
    const word = value.trim().toLowerCase();
    return PASS.has(word) ? { ok: true, label: 1 } : FAIL.has(word) ? { ok: true, label: 0 } : bad();
  }
  const points = SCALE_POINTS[scale];
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+(\.0*)?\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > points) return bad();
  return { ok: true, label: (n - 1) / (points - 1) };
}

/**
 * The category (0..points-1) of a value normalised to [0, 1] on `scale`: where a label and a verdict are compared.
 * A verdict between two points (a mean of votes) goes to the nearer one.
 */
export function scaleCategory(value: number, scale: JudgeScale): number {
  const top = SCALE_POINTS[scale] - 1;
  return Math.min(top, Math.max(0, Math.round(value * top)));
}
