import leven from 'leven';
import type { CheckOutcome, CheckSpec } from '../contracts/checks.js';
import { canonicalJson } from '../util/canonical-json.js';
import { shortReason, unscored } from './script-result.js';

// The tolerant comparisons (`number`, `set_equals`, `similarity`): each takes the value under test and the expected
// value and gives pass/fail with a score. An expected value they cannot use leaves the choice unscored: that is the
// dataset's problem, not the answer's.

const show = (v: unknown): string => {
  const text = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
};

/** A JSON number, or text that is one ("12.50", " 3e2 "): a CSV column is always text. */
function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export function numberCheck(spec: CheckSpec, value: unknown, expected: unknown): CheckOutcome {
  const want = asNumber(expected);
  if (want === undefined) return unscored(`expected value ${show(expected)} is not a number`);
  const got = asNumber(value);
  if (got === undefined) return { pass: false, score: 0, reason: shortReason(`${show(value)} is not a number`) };
  const abs = spec.tolerance?.absolute;
  const rel = spec.tolerance?.relative;
  const diff = Math.abs(got - want);
  // Either bound suffices; without one the numbers must be equal (up to float noise: 0.1 + 0.2 is 0.3).
  const exact = abs === undefined && rel === undefined;
  const pass = exact ? diff <= 1e-12 * Math.max(1, Math.abs(want)) : (abs !== undefined && diff <= abs) || (rel !== undefined && diff <= rel * Math.abs(want));
  if (pass) return { pass, score: 1 };
  const bounds = [abs !== undefined ? `±${abs}` : '', rel !== undefined ? `±${rel * 100}%` : ''].filter(Boolean).join(' or ');
  return { pass, score: 0, reason: `got ${got}, expected ${want}${bounds ? ` (${bounds})` : ''}` };
}

/** A list as written, or (from a CSV column) text holding a JSON list. */
function asList(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string' && v.trimStart().startsWith('[')) {
    try {
      const parsed = JSON.parse(v) as unknown;
      return Array.isArray(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function setEqualsCheck(spec: CheckSpec, value: unknown, expected: unknown): CheckOutcome {
  const want = asList(expected);
  if (want === undefined) return unscored(`expected value ${show(expected)} is not a list`);
  const got = asList(value);
  if (got === undefined) return { pass: false, score: 0, reason: shortReason(`${show(value)} is not a list`) };
  const fold = (s: string) => (spec.ignoreCase ? s.toLowerCase() : s);
  // Elements compare as JSON values (key order does not matter), or by their `key` field; text ignoring case if asked.
  const idOf = (x: unknown): string => {
    const v = spec.key !== undefined && x && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>)[spec.key] : x;
    return typeof v === 'string' ? fold(JSON.stringify(v)) : canonicalJson(v ?? null);
  };
  const a = new Set(got.map(idOf));
  const b = new Set(want.map(idOf));
  let common = 0;
  for (const x of a) if (b.has(x)) common++;
  const union = a.size + b.size - common;
  // Jaccard: the share of all items named by either side that both name; 1 for two empty sets.
  const score = union === 0 ? 1 : common / union;
  const pass = common === a.size && common === b.size;
  if (pass) return { pass, score };
  const missing = [...b].filter((x) => !a.has(x));
  const extra = [...a].filter((x) => !b.has(x));
  const list = (xs: string[]) => `${xs.slice(0, 3).join(', ')}${xs.length > 3 ? ` and ${xs.length - 3} more` : ''}`;
  const reason = [missing.length ? `missing ${list(missing)}` : '', extra.length ? `extra ${list(extra)}` : ''].filter(Boolean).join('; ');
  return { pass, score, reason: shortReason(reason) };
}

/** Words for token F1: runs of letters and digits, lower-cased (SQuAD's answer F1, without its English stop words). */
function tokens(s: string): string[] {
  return s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function tokenF1(a: string, b: string): number {
  const ta = tokens(a);
  const tb = tokens(b);
  if (ta.length === 0 || tb.length === 0) return ta.length === tb.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of tb) counts.set(t, (counts.get(t) ?? 0) + 1);
  let overlap = 0;
  for (const t of ta) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      overlap++;
      counts.set(t, c - 1);
    }
  }
  if (overlap === 0) return 0;
  const precision = overlap / ta.length;
  const recall = overlap / tb.length;
  return (2 * precision * recall) / (precision + recall);
}

export const DEFAULT_SIMILARITY_MIN = 0.8;

export function similarityCheck(spec: CheckSpec, value: unknown, expected: unknown): CheckOutcome {
  if (expected === null || expected === undefined || (typeof expected === 'object' && !Array.isArray(expected))) {
    return unscored(`expected value ${show(expected)} is not text`);
  }
  const want = typeof expected === 'string' ? expected : JSON.stringify(expected);
  const got = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  let score: number;
  if (spec.method === 'token_f1') score = tokenF1(got, want);
  else {
    const fold = (s: string) => (spec.ignoreCase ? s.toLowerCase() : s);
    const longest = Math.max(got.length, want.length);
    // Normalised Levenshtein similarity: 1 − edits / length of the longer text.
    score = longest === 0 ? 1 : 1 - leven(fold(got), fold(want)) / longest;
  }
  score = Math.round(score * 1e6) / 1e6;
  const min = spec.min ?? DEFAULT_SIMILARITY_MIN;
  const pass = score >= min;
  return pass ? { pass, score } : { pass, score, reason: `similarity ${score.toFixed(3)} < ${min}` };
}
