import type { JudgeSpec } from './judge.js';
// The checks as the config declares them: what config resolves, check grades, dataset reads columns for, and
// record/report name columns after. Pure data, so every stage may import it.

export const CHECK_TYPES = ['equals', 'contains', 'regex', 'json_schema', 'number', 'set_equals', 'similarity', 'script', 'judge'] as const;
export type CheckType = (typeof CHECK_TYPES)[number];

/**
 * Check types that yield a score in [0, 1] and a reason beside pass/fail, and may leave a choice unscored: they get
 * the `<name>_score` / `<name>_reason` columns and the `<name>_score_mean` / `<name>_unscored_rate` metrics.
 */
export const SCORED_CHECK_TYPES: readonly CheckType[] = ['number', 'set_equals', 'similarity', 'script', 'judge'];

/** The names of the checks that yield scores, in config order. */
export function scoredCheckNames(checks: ReadonlyArray<{ name: string; type: string }> | undefined): string[] {
  return (checks ?? []).filter((c) => (SCORED_CHECK_TYPES as readonly string[]).includes(c.type)).map((c) => c.name);
}

/**
 * The scales a verdict (and a human label) can be on: pass/fail, or a rating of 1..5 or 1..10 (a judge's `scale`).
 * Ratings are normalised to [0, 1] (1 → 0, top → 1); pass/fail is 1 or 0. `SCALE_POINTS` is how many categories
 * each has: agreement with people is computed over those categories.
 */
export const JUDGE_SCALES = ['pass_fail', '1-5', '1-10'] as const;
export type JudgeScale = (typeof JUDGE_SCALES)[number];
export const SCALE_POINTS: Readonly<Record<JudgeScale, number>> = { pass_fail: 2, '1-5': 5, '1-10': 10 };

/** The scale a check's human labels are read on: its own `scale` (a judge's), else pass/fail. */
export function labelScale(spec: { scale?: JudgeScale | undefined }): JudgeScale {
  return spec.scale ?? 'pass_fail';
}

/** A check compared with human labels, and the scale they (and its verdicts) are on. */
export interface HumanCheck {
  name: string;
  scale: JudgeScale;
}

/** The checks whose verdicts are compared with human labels (`human: { column }`), in config order. */
export function humanChecks(checks: ReadonlyArray<{ name: string; human?: { column: string } | undefined; scale?: JudgeScale | undefined }> | undefined): HumanCheck[] {
  return (checks ?? []).filter((c) => c.human !== undefined).map((c) => ({ name: c.name, scale: labelScale(c) }));
}

/** Their names. */
export function humanCheckNames(checks: Parameters<typeof humanChecks>[0]): string[] {
  return humanChecks(checks).map((c) => c.name);
}

export const SIMILARITY_METHODS = ['levenshtein', 'token_f1'] as const;
/** A script check's time limit per choice unless `timeout_ms` says otherwise. */
export const DEFAULT_SCRIPT_TIMEOUT_MS = 5000;

/** A check as resolved from the config (schema already loaded). */
export interface CheckSpec {
  name: string;
  type: CheckType;
  /** JSON Pointer into the parsed output; absent: the whole content as text. */
  pointer?: string | undefined;
  /** A literal, or `{ column: name }`: the row's value of that dataset column (dotted for nested JSON rows). */
  expected?: unknown;
  pattern?: string | undefined;
  flags?: string | undefined;
  ignoreCase?: boolean | undefined;
  schema?: Record<string, unknown> | undefined;
  /** number: how far from `expected` still passes (either bound suffices); both absent: exactly equal. */
  tolerance?: { absolute?: number | undefined; relative?: number | undefined } | undefined;
  /** set_equals: compare objects by this field instead of by their whole value. */
  key?: string | undefined;
  /** similarity: how the score is computed. */
  method?: (typeof SIMILARITY_METHODS)[number] | undefined;
  /** similarity and script: the score that passes when the check gives no pass/fail of its own. */
  min?: number | undefined;
  /** script: the module's absolute path, the function's export name, and its time limit per choice. */
  module?: string | undefined;
  export?: string | undefined;
  timeoutMs?: number | undefined;
  /** judge: the model, rubric, scale, votes and parameters (src/contracts/judge.ts). */
  judge?: JudgeSpec | undefined;
  /** The verdict's scale (judge checks); absent: pass/fail. Human labels are read on it. */
  scale?: JudgeScale | undefined;
  /** `human: { column }`: the dataset column holding people's labels for this check (read by readHumanLabel). */
  human?: { column: string } | undefined;
}

/** Checks graded apart from the answer's own grading: scripts in worker threads, judges by a model's call. */
export function gradedApart(type: CheckType): boolean {
  return type === 'script' || type === 'judge';
}

/** The outcome of every check for one choice; null: not graded or unscored (nothing to judge, or undecided). */
export type CheckResults = Record<string, boolean | null>;

/**
 * One scored check's outcome for one choice: pass/fail with a score in [0, 1], or unscored (`pass` null) with the
 * reason. Unscored is never counted as a pass or a fail.
 */
export interface CheckOutcome {
  pass: boolean | null;
  score: number | null;
  reason?: string | undefined;
}

/** The dataset column an `expected: { column: name }` reads, if that is what `expected` is. */
export function expectedColumn(expected: unknown): string | undefined {
  if (expected && typeof expected === 'object' && !Array.isArray(expected)) {
    const column = (expected as { column?: unknown }).column;
    if (typeof column === 'string' && Object.keys(expected).length === 1) return column;
  }
  return undefined;
}

/** Column names the checks read from each dataset row (`expected: { column: label }`, `human: { column: labels }`). */
export function checkColumns(checks: readonly CheckSpec[] | undefined): string[] {
  return [...new Set((checks ?? []).flatMap((c) => [expectedColumn(c.expected), c.human?.column]).filter((c): c is string => c !== undefined))];
}

/** What grading writes on a choice: check/ grades it, records.jsonl keeps it on the choice, `regrade` replaces it whole. */
export interface ChoiceGrades {
  /** Parses as a JSON object (not an array, string or null). null: not a JSON-mode request. */
  json_valid: boolean | null;
  /** Satisfies the schema. null: no schema, not JSON mode, or not valid JSON to begin with. */
  schema_valid: boolean | null;
  /** ajv's first errors, as `instancePath message`. */
  schema_errors: string[];
  /** Each configured check's outcome (see `checks:`); null or absent: not graded (a tool call, a failed request). */
  checks?: Record<string, boolean | null>;
  /** Every tool call names a configured tool and its arguments satisfy its `parameters`; null/absent: no tool calls. */
  tool_args_valid?: boolean | null;
  /** For each failed `equals` check: the expected value and the one found (`got` absent: no value there). */
  check_details?: Record<string, { expected: unknown; got?: unknown }>;
  /**
   * Checks that yield scores (number, set_equals, similarity, script): each one's score in [0, 1]; null when the
   * choice is unscored (its `checks` entry is null too: never a pass or a fail).
   */
  check_scores?: Record<string, number | null>;
  /** Those checks' short reasons: why a choice failed or was left unscored (a script that threw, timed out, …). */
  check_reasons?: Record<string, string>;
  /**
   * Checks with `human: { column }`: the dataset row's human label for each, normalised to [0, 1] like a score
   * (pass 1, fail 0; a rating r on 1..k as (r-1)/(k-1)); null when the row is unlabelled. Copied here so the
   * agreement statistics (`<check>_kappa`) need only the records.
   */
  check_human?: Record<string, number | null>;
}
