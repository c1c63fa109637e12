import type { ValidateFunction } from 'ajv';
import type { CheckOutcome } from '../contracts/checks.js';
import { FACTUALITY_SCORES, normaliseScore, verdictSchema, type FactualityCategory, type JudgeSpec } from '../contracts/judge.js';
import { compileSchema } from './validators.js';
import { unscored } from './script-result.js';

/**
 * One judge call's verdict as read from its record: `value` is the verdict field as sent (pass/fail, a score on the
 * scale, a category, A/B/tie); absent when the call gave none, and then `reason` says why.
 */
export interface Vote {
  value?: string | number;
  reason?: string;
}

/** What a judge call's record holds that its verdict is read from (a RequestRecord; check does not import record). */
export interface JudgeAnswer {
  error: { status: number | null; kind: string; message: string } | null;
  choices: ReadonlyArray<{ error?: string | undefined; refusal: string | null; finish_reason: string | null; content: string | null }>;
}

const validators = new Map<string, ValidateFunction>();

function validatorFor(spec: Pick<JudgeSpec, 'preset' | 'scale'>): ValidateFunction {
  const key = `${spec.preset}/${spec.scale}`;
  let v = validators.get(key);
  if (!v) validators.set(key, (v = compileSchema(verdictSchema(spec))));
  return v;
}

const START = 80;
const cut = (s: string) => (s.length > START ? `${s.slice(0, START)}…` : s);

/**
 * The verdict of one judge call. Whatever the server claims, the verdict is the `verdict` field of a JSON object
 * that fits the verdict schema (checked with ajv even when the server promised strict structured output): a failed
 * call, a refusal, a cut or filtered answer, text that is not such an object: no verdict, with the reason. Never a
 * pass by default.
 */
export function readVote(spec: Pick<JudgeSpec, 'preset' | 'scale'>, record: JudgeAnswer): Vote {
  if (record.error) return { reason: `the judge call failed: ${record.error.status ?? record.error.kind}: ${cut(record.error.message)}` };
  const c = record.choices[0];
  if (!c || c.error !== undefined) return { reason: `the judge returned no answer${c?.error ? `: ${cut(c.error)}` : ''}` };
  if (c.refusal !== null && c.refusal !== '') return { reason: `the judge refused: ${cut(c.refusal)}` };
  if (c.finish_reason === 'length') return { reason: 'the verdict was cut off (finish_reason length)' };
  if (c.finish_reason !== 'stop') return { reason: `the judge stopped with finish_reason ${String(c.finish_reason)}` };
  if (c.content === null) return { reason: 'the judge answered with no content' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(c.content);
  } catch {
    return { reason: `the verdict is not JSON: ${JSON.stringify(cut(c.content))}` };
  }
  const validate = validatorFor(spec);
  if (!validate(parsed)) {
    const e = validate.errors?.[0];
    return { reason: `the verdict does not fit its schema (${e ? `${e.instancePath || '/'} ${e.message ?? ''}`.trim() : 'invalid'}): ${JSON.stringify(cut(c.content))}` };
  }
  return { value: (parsed as { verdict: string | number }).verdict };
}

/** A single vote's score in [0, 1] and pass, for the judges that are not pairwise. */
function scoreOf(spec: Pick<JudgeSpec, 'preset' | 'scale' | 'min'>, value: string | number): number {
  if (spec.preset === 'factuality') return FACTUALITY_SCORES[value as FactualityCategory];
  if (spec.scale === 'pass_fail') return value === 'pass' ? 1 : 0;
  return normaliseScore(spec.scale, value as number);
}

/**
 * The votes of one choice combined: pass/fail by majority, scales and factuality by the mean score (passing at
 * `min`). Fewer usable votes than a majority of those asked for leaves the choice unscored: a verdict resting on a
 * minority of the samples is not the judge's. `agreement` is the share of usable votes that agree with the outcome.
 */
export function combineVotes(spec: Pick<JudgeSpec, 'preset' | 'scale' | 'min' | 'votes'>, votes: readonly Vote[]): CheckOutcome & { agreement?: number } {
  const usable = votes.filter((v) => v.value !== undefined);
  const needed = Math.floor(spec.votes / 2) + 1;
  if (usable.length < needed) {
    const why = votes.find((v) => v.value === undefined)?.reason ?? 'no verdict';
    return unscored(spec.votes === 1 ? why : `${usable.length} of ${spec.votes} votes usable (${why})`);
  }
  const scores = usable.map((v) => scoreOf(spec, v.value!));
  if (spec.scale === 'pass_fail' && spec.preset !== 'factuality') {
    const passes = scores.filter((s) => s === 1).length;
    const fails = usable.length - passes;
    if (passes === fails) return unscored(`the votes are split ${passes}–${fails}`);
    const pass = passes > fails;
    return { pass, score: pass ? 1 : 0, agreement: Math.max(passes, fails) / usable.length, ...(pass ? {} : { reason: reasonOf(spec, usable) }) };
  }
  const score = scores.reduce((a, b) => a + b, 0) / scores.length;
  const pass = score >= spec.min;
  const agreeing = scores.filter((s) => s >= spec.min === pass).length;
  return { pass, score, agreement: agreeing / scores.length, ...(pass ? {} : { reason: reasonOf(spec, usable) }) };
}

function reasonOf(spec: Pick<JudgeSpec, 'preset' | 'scale'>, votes: readonly Vote[]): string {
  const values = votes.map((v) => String(v.value));
  return spec.preset === 'factuality' ? `judged ${values.join(', ')}` : spec.scale === 'pass_fail' ? `judged fail` : `judged ${values.join(', ')} on ${spec.scale}`;
}

/**
 * A pairwise verdict from its two orders (order 0: this answer shown as A; order 1: shown as B). Both orders
 * preferring the same answer decide; anything else (a position-biased judge picking the first shown both times,
 * or a tie) is a tie: score 1 a win, 0.5 a tie, 0 a loss; only a win passes.
 */
export function combinePairwise(orders: readonly [Vote, Vote]): CheckOutcome {
  const [first, second] = orders;
  if (first.value === undefined || second.value === undefined) return unscored((first.value === undefined ? first : second).reason ?? 'no verdict');
  const thisWins = (v: string | number, order: number) => (v === 'tie' ? 0 : (v === 'A') === (order === 0) ? 1 : -1);
  const a = thisWins(first.value, 0);
  const b = thisWins(second.value, 1);
  if (a === 1 && b === 1) return { pass: true, score: 1 };
  if (a === -1 && b === -1) return { pass: false, score: 0, reason: 'the baseline answer won in both orders' };
  return { pass: false, score: 0.5, reason: a === b ? 'judged a tie' : `a tie: the orders disagree (${first.value} with this answer shown as A, ${second.value} with it shown as B)` };
}
