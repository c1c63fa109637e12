/**
 * The metrics evalrun can compare and gate on, by the names stats.csv and summary.json use. A rate is a count over
 * a denominator (both columns of stats.csv), so it gets a Wilson interval and, per dataset row, a mean over the
 * row's choices; latency is per request.
 */

/** Which way is better: a regression is a significant move the other way. 'none': never a regression. */
export type Direction = 'higher' | 'lower' | 'none';

export interface MetricDef {
  name: string;
  /**
   * score: a mean of per-choice scores in [0, 1] (`column` of choices.csv), with a t-interval. agreement: a check's
   * κ with human labels (kappa.ts), from a table of counts, with no per-row value.
   */
  kind: 'rate' | 'latency' | 'score' | 'agreement';
  direction: Direction;
  /** For rates: the stats columns of the numerator and the denominator. */
  count?: string;
  of?: string;
  /** For scores: the choices.csv column holding each choice's score. */
  column?: string;
  /** Has a per-row value, so it can be compared between cells. */
  comparable: boolean;
  /** Has a 95% interval (`<name>_low`/`_high`), so a gate may use `bound`. */
  interval: boolean;
}

const rate = (name: string, count: string, of: string, direction: Direction): MetricDef => ({
  name, kind: 'rate', direction, count, of, comparable: true, interval: true,
});

export const FINISH_RATE_METRICS: readonly MetricDef[] = [
  rate('stop_rate', 'stop', 'choices', 'higher'),
  rate('length_rate', 'length', 'choices', 'lower'),
  rate('content_filter_rate', 'content_filter', 'choices', 'lower'),
  rate('tool_calls_rate', 'tool_calls', 'choices', 'none'),
  rate('error_rate', 'error', 'choices', 'lower'),
];

const JSON_METRICS: readonly MetricDef[] = [
  rate('json_valid_rate', 'json_valid', 'json_checked', 'higher'),
  rate('schema_valid_rate', 'schema_valid', 'schema_checked', 'higher'),
];

/** Tool calls' arguments against their tools' `parameters`, over the choices that called a tool. */
const TOOL_METRICS: readonly MetricDef[] = [rate('tool_args_valid_rate', 'tool_args_valid', 'tool_args_checked', 'higher')];
/** Refused choices (`message.refusal`): they overlap the finish reasons, so they are a rate of their own. */
const REFUSAL_METRIC: MetricDef = rate('refusal_rate', 'refusal', 'choices', 'lower');

const LATENCY_METRICS: readonly MetricDef[] = [
  { name: 'latency_mean_ms', kind: 'latency', direction: 'lower', comparable: true, interval: true },
  { name: 'latency_p50_ms', kind: 'latency', direction: 'lower', comparable: false, interval: false },
  { name: 'latency_p95_ms', kind: 'latency', direction: 'lower', comparable: false, interval: false },
];

export function checkMetric(check: string): MetricDef {
  return rate(`${check}_pass_rate`, `${check}_pass`, `${check}_checked`, 'higher');
}

/** A scored check's mean score over the choices it scored (higher is better). */
export function scoreMetric(check: string): MetricDef {
  return { name: `${check}_score_mean`, kind: 'score', direction: 'higher', count: `${check}_score_sum`, of: `${check}_scored`, column: `${check}_score`, comparable: true, interval: true };
}

/** The share of a scored check's answered choices it could not score (no content, undecided, its code failed). */
export function unscoredMetric(check: string): MetricDef {
  return rate(`${check}_unscored_rate`, `${check}_unscored`, `${check}_answered`, 'lower');
}

/**
 * A check's chance-corrected agreement with human labels (`human: { column }`): Cohen's κ, quadratically weighted on
 * a rating scale, with a 95% interval. Higher is better; it has no per-row value, so it is gated and picked on, not
 * compared row by row.
 */
export function kappaMetric(check: string): MetricDef {
  return { name: `${check}_kappa`, kind: 'agreement', direction: 'higher', comparable: false, interval: true };
}

/** The metrics of the scored checks (`scored`: their names, SCORED_CHECK_TYPES), after each one's pass rate. */
function scoredMetrics(scored: readonly string[]): MetricDef[] {
  return scored.flatMap((c) => [scoreMetric(c), unscoredMetric(c)]);
}

/**
 * Every metric of a run with these checks (`scored`: those that yield scores; `human`: those compared with human
 * labels), in the order tables show them: a scored check's score metrics right after its pass rate.
 */
export function metricsFor(checks: readonly string[], scored: readonly string[] = [], human: readonly string[] = []): MetricDef[] {
  const perCheck = checks.flatMap((c) => [checkMetric(c), ...(scored.includes(c) ? scoredMetrics([c]) : [])]);
  const scoredOnly = scored.filter((c) => !checks.includes(c));
  return [...FINISH_RATE_METRICS, ...JSON_METRICS, ...perCheck, ...scoredMetrics(scoredOnly), ...human.map(kappaMetric), ...TOOL_METRICS, REFUSAL_METRIC, ...LATENCY_METRICS];
}

export function rateMetrics(checks: readonly string[], scored: readonly string[] = []): MetricDef[] {
  return metricsFor(checks, scored).filter((m) => m.kind === 'rate');
}

/** What a comparison looks at unless told otherwise: output quality first, then truncation and failures. */
export function defaultCompareMetrics(checks: readonly string[], scored: readonly string[] = []): string[] {
  return ['schema_valid_rate', 'json_valid_rate', ...checks.map((c) => `${c}_pass_rate`), ...scored.map((c) => `${c}_score_mean`), 'length_rate', 'error_rate'];
}

export function findMetric(name: string, checks: readonly string[], scored: readonly string[] = [], human: readonly string[] = []): MetricDef | undefined {
  return metricsFor(checks, scored, human).find((m) => m.name === name);
}

/** "did you mean" for a metric name: `schema_valid` → `schema_valid_rate`, `category` → `category_pass_rate`. */
export function suggestMetric(name: string, known: readonly string[], fuzzy: (word: string, candidates: readonly string[]) => string | undefined): string | undefined {
  for (const form of [`${name}_rate`, `${name}_pass_rate`, name.replace(/_pass$/, '_pass_rate'), `${name}_score_mean`, name.replace(/_score$/, '_score_mean'), `${name}_kappa`]) if (known.includes(form)) return form;
  return fuzzy(name, known);
}
