import type { CompareSpec } from '../contracts/evaluation.js';
import { compareMetric, METHOD_NOTE, type ComparisonItem, type ComparisonRow } from '../stats/index.js';
import type { RowValues } from '../stats/index.js';
import type { MetricDef } from '../stats/index.js';
import type { CellStats, ComparisonSection } from '../contracts/summary.js';
import { roundOrNull } from '../util/round.js';

export const COMPARISON_COLUMNS = [
  'metric', 'cell', 'baseline', 'pairs', 'baseline_value', 'value', 'diff', 'diff_low', 'diff_high',
  'p_value', 'p_adjusted', 'significant', 'change', 'method',
] as const;

/**
 * Every cell against the baseline cell on each metric, paired over the dataset rows both have. undefined with a
 * single cell. Metrics no cell has a value for (schema_valid_rate without a schema) are left out.
 */
export function compareWithinRun(
  values: RowValues,
  metrics: readonly MetricDef[],
  cells: readonly CellStats[],
  spec: CompareSpec,
): ComparisonSection | undefined {
  if (cells.length < 2) return undefined;
  const baselineIndex = Math.max(0, cells.findIndex((c) => c.cell === spec.baseline));
  const baseline = cells[baselineIndex]!.cell;
  const rows: ComparisonRow[] = [];
  const used: string[] = [];
  for (const metric of metrics) {
    const a = values.series(baselineIndex, metric.name);
    const series = cells.map((_, i) => values.series(i, metric.name));
    if (!series.some((s) => s?.some((v) => !Number.isNaN(v)))) continue;
    used.push(metric.name);
    const items: ComparisonItem[] = [];
    cells.forEach((c, i) => {
      if (i === baselineIndex) return;
      items.push({ cell: c.cell, baseline, a: { values: a }, b: { values: series[i] }, paired: true });
    });
    rows.push(...compareMetric(metric, items, spec.alpha));
  }
  return { baseline, alpha: spec.alpha, metrics: used, method: METHOD_NOTE, rows: rows.map(rounded) };
}

/** Four significant decimals for rates, one for milliseconds; p-values keep their precision. */
export function rounded(r: ComparisonRow): ComparisonRow {
  const decimals = r.metric.endsWith('_ms') ? 1 : 4;
  const round = (v: number | null) => roundOrNull(v, decimals);
  const roundP = (v: number | null) => (v === null ? null : Number(v.toPrecision(4)));
  // An interval end a hair from 0 must not round onto it: a significant change keeps an interval that excludes 0.
  const step = 1 / 10 ** decimals;
  let low = round(r.diff_low);
  let high = round(r.diff_high);
  if (r.significant && r.diff !== null && r.diff < 0 && high !== null && high >= 0) high = -step;
  if (r.significant && r.diff !== null && r.diff > 0 && low !== null && low <= 0) low = step;
  // Field by field, in the row's own order (history rounds tens of thousands of rows: a spread copy is slower).
  const out: ComparisonRow = {
    metric: r.metric,
    cell: r.cell,
    baseline: r.baseline,
    pairs: r.pairs,
    baseline_value: round(r.baseline_value),
    value: round(r.value),
    diff: round(r.diff),
    diff_low: low,
    diff_high: high,
    p_value: roundP(r.p_value),
    method: r.method,
    p_adjusted: roundP(r.p_adjusted),
    significant: r.significant,
    change: r.change,
  };
  if (r.half_width !== undefined) out.half_width = r.half_width;
  return out;
}
