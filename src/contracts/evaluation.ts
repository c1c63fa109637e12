import type { JudgeSpec } from './judge.js';
/**
 * How a run is judged, kept in run.json beside the plan so `evalrun report DIR` rebuilds comparison, gates and
 * costs from the run directory alone. Unlike the checks (graded at run time, stored in records.jsonl), these are
 * applied when reports are written.
 */
import type { JudgeScale } from './checks.js';

export interface EvaluationSpec {
  /**
   * Checks graded into records.jsonl, in config order: their names make the `check_<name>` columns. `human`: the
   * check is compared with people's labels (`<name>_kappa`), on `scale` (absent: pass/fail).
   */
  checks: EvaluationCheck[];
  compare: CompareSpec;
  gates: GateSpec[];
  /** USD per 1M tokens from the config, over the built-in table. */
  pricing: Record<string, { input: number; output: number; cached_input?: number }>;
  /** `pick:` (null fields: the defaults). Absent in runs made before it existed: the defaults. */
  pick?: PickSpec;
  /** The judge checks' judges, pinned: model, parameters, rubric hash. Absent without judge checks. */
  judges?: JudgeRecordSpec[];
}

/** A judge as run.json and summary.json pin it. */
export interface JudgeRecordSpec {
  check: string;
  preset: string;
  model: string;
  scale: string;
  votes: number;
  params: Record<string, unknown>;
  response_format: string;
  rubric_hash: string;
}

export interface EvaluationCheck {
  name: string;
  type: string;
  human?: { column: string };
  scale?: JudgeScale;
}

export interface CompareSpec {
  /** Cell id; null: the first cell. */
  baseline: string | null;
  /** null: the default metrics. */
  metrics: string[] | null;
  alpha: number;
}

export interface GateSpec {
  name?: string | undefined;
  metric: string;
  min?: number | undefined;
  max?: number | undefined;
  /** Glob on cell ids (`*` matches any characters, `/` included); absent: every cell. */
  cell?: string | undefined;
  /** Judge the 95% interval's low or high end instead of the point estimate. */
  bound: 'low' | 'high' | 'point';
}

export const DEFAULT_ALPHA = 0.05;

/**
 * `pick:` as resolved: null fields mean the defaults. `margin` (absent in runs made before it existed): the most a
 * cheaper cell may be worse than the best, at its interval's far end, in the metric's units, to be recommended.
 */
export interface PickSpec {
  metric: string | null;
  cost: string | null;
  margin?: number | null;
}

/** A cheaper cell is recommended over the best only if it is shown to be at most this much worse (5 points of a rate). */
export const DEFAULT_PICK_MARGIN = 0.05;

export function emptyEvaluation(): EvaluationSpec {
  return { checks: [], compare: { baseline: null, metrics: null, alpha: DEFAULT_ALPHA }, gates: [], pricing: {} };
}

/** What run.json keeps of a resolved config's evaluation settings. */
export function evaluationOf(config: {
  checks?: Array<{ name: string; type: string; judge?: JudgeSpec | undefined; human?: { column: string } | undefined; scale?: JudgeScale | undefined }> | undefined;
  compare?: CompareSpec | undefined;
  gates?: GateSpec[] | undefined;
  pricing?: Record<string, { input: number; output: number; cached_input?: number }> | undefined;
  pick?: PickSpec | undefined;
}): EvaluationSpec {
  const base = emptyEvaluation();
  const judges: JudgeRecordSpec[] = (config.checks ?? []).flatMap((c) =>
    c.judge ? [{ check: c.name, preset: c.judge.preset, model: c.judge.model, scale: c.judge.scale, votes: c.judge.votes, params: c.judge.params, response_format: c.judge.responseFormat, rubric_hash: c.judge.rubricHash }] : [],
  );
  return {
    checks: (config.checks ?? []).map((c) => Object.assign({ name: c.name, type: c.type }, c.human ? { human: { column: c.human.column } } : {}, c.scale ? { scale: c.scale } : {})),
    compare: config.compare ?? base.compare,
    gates: config.gates ?? [],
    pricing: config.pricing ?? {},
    ...(config.pick && (config.pick.metric !== null || config.pick.cost !== null || (config.pick.margin ?? null) !== null) ? { pick: config.pick } : {}),
    ...(judges.length ? { judges } : {}),
  };
}
