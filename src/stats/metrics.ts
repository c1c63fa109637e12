/**
 * The metrics evalrun can compare and gate on, by the names stats.csv and summary.json use. A rate is a count over
 * a denominator (both columns of stats.csv), so it gets a Wilson interval and, per dataset row, a mean over the
 * row's choices; latency is per request.
 */

/** Which way is better: a regression is a significant move the other way. 'none': never a regression. */
export type Direction = 'higher' | 'lower' | 'none';

export interface MetricDef {
  name: string;
  kind: 'rate' | 'latency';
  direction: Direction;
  /** For rates: the stats columns of the numerator and the denominator. */
  count?: string;
  of?: string;
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

/** Every metric of a run with these checks, in the order tables show them. */
export function metricsFor(checks: readonly string[]): MetricDef[] {
  return [...FINISH_RATE_METRICS, ...JSON_METRICS, ...checks.map(checkMetric), ...TOOL_METRICS, REFUSAL_METRIC, ...LATENCY_METRICS];
}

export function rateMetrics(checks: readonly string[]): MetricDef[] {
  return metricsFor(checks).filter((m) => m.kind === 'rate');
}

/** What a comparison looks at unless told otherwise: output quality first, then truncation and failures. */
export function defaultCompareMetrics(checks: readonly string[]): string[] {
  return ['schema_valid_rate', 'json_valid_rate', ...checks.map((c) => `${c}_pass_rate`), 'length_rate', 'error_rate'];
}

export function findMetric(name: string, checks: readonly string[]): MetricDef | undefined {
  return metricsFor(checks).find((m) => m.name === name);
}

/** "did you mean" for a metric name: `schema_valid` → `schema_valid_rate`, `category` → `category_pass_rate`. */
export function suggestMetric(name: string, known: readonly string[], fuzzy: (word: string, candidates: readonly string[]) => string | undefined): string | undefined {
  for (const form of [`${name}_rate`, `${name}_pass_rate`, name.replace(/_pass$/, '_pass_rate')]) if (known.includes(form)) return form;
  return fuzzy(name, known);
}
