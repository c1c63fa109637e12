import { holm } from './holm.js';
import type { MetricDef } from './metrics.js';
import { pairedSignFlip, type PairedMethod } from './paired-test.js';
import { holmLevels, invertTest, scoreShiftP } from './test-interval.js';
import { twoProportions, welch, type Moments, type UnpairedResult } from './two-sample.js';

export type Change = 'better' | 'worse' | 'changed' | 'same';

/** One line of comparison.csv: a cell (or run B's cell) against its baseline, on one metric. */
export interface ComparisonRow {
  metric: string;
  cell: string;
  baseline: string;
  /** Rows both sides have a value for (paired); 0 for an unpaired comparison. */
  pairs: number;
  baseline_value: number | null;
  value: number | null;
  /** value − baseline_value. */
  diff: number | null;
  diff_low: number | null;
  diff_high: number | null;
  p_value: number | null;
  /** Holm-adjusted over the cells compared on this metric. */
  p_adjusted: number | null;
  significant: boolean;
  /** better / worse when significant and the metric has a direction; changed when it has none; else same. */
  change: Change;
  method: PairedMethod | UnpairedResult['method'] | 'none';
  /** Half the width of the unadjusted (1 − alpha) interval, when asked for (history's noise floor). */
  half_width?: number | null;
}

export interface CompareOptions {
  /**
   * Which rows get their interval: 'all' (compare's comparison.csv shows every one), or 'changes' (the significant
   * rows only, the rest null: history shows no other, and an interval costs more than the p-value).
   */
  intervals?: 'all' | 'changes';
  /** Also each row's unadjusted (1 − alpha) interval, as half_width: the same level for every row. */
  halfWidth?: boolean;
}

/** One side of a comparison: per-row values in the row order of the other side, and pooled figures as a fallback. */
export interface Side {
  values?: ArrayLike<number> | undefined;
  /** For rates: successes and denominator over the whole cell. */
  count?: { k: number; n: number } | undefined;
  /** For latency: per-request moments over the whole cell; for a score, per-choice moments of the scores. */
  moments?: Moments | undefined;
}

export interface ComparisonItem {
  cell: string;
  baseline: string;
  a: Side;
  b: Side;
  /** Pair rows (the default); false when the sides share no rows. */
  paired: boolean;
}

type Tested = Omit<ComparisonRow, 'p_adjusted' | 'significant' | 'change'> & {
  /** The interval at a two-sided level, from the same test as `p_value` (see test-interval.ts). */
  intervalAt?: ((level: number) => { low: number | null; high: number | null }) | undefined;
};

/**
 * Compares every item on one metric and adjusts the p-values of the family (these items) with Holm; "significant"
 * is the Holm-adjusted p-value below alpha. Each interval is the one the verdict was judged by: the same test,
 * inverted at the level Holm used for that comparison, so it excludes 0 exactly when the change is significant.
 */
export function compareMetric(metric: MetricDef, items: readonly ComparisonItem[], alpha: number, options: CompareOptions = {}): ComparisonRow[] {
  const rows = items.map((item) => compareOne(metric, item));
  const adjusted = holm(rows.map((r) => r.p_value));
  const levels = holmLevels(rows.map((r) => r.p_value), alpha);
  const clip = (v: number | null, side: -1 | 1) => (metric.kind !== 'latency' ? Math.max(-1, Math.min(1, v ?? side)) : v);
  return rows.map(({ intervalAt, ...r }, i) => {
    const p = adjusted[i] ?? null;
    const significant = p !== null && p < alpha && r.diff !== null && r.diff !== 0;
    let change: Change = 'same';
    if (significant) {
      const up = r.diff! > 0;
      change = metric.direction === 'none' ? 'changed' : up === (metric.direction === 'higher') ? 'better' : 'worse';
    }
    const level = levels[i];
    const wanted = options.intervals !== 'changes' || significant;
    const ci = wanted && intervalAt && level !== null && level !== undefined ? intervalAt(level) : undefined;
    const row: ComparisonRow = { ...r, ...(ci ? { diff_low: clip(ci.low, -1), diff_high: clip(ci.high, 1) } : { diff_low: null, diff_high: null }), p_adjusted: p, significant, change };
    if (options.halfWidth) {
      const at = intervalAt ? intervalAt(alpha) : undefined;
      const [low, high] = at ? [clip(at.low, -1), clip(at.high, 1)] : [null, null];
      row.half_width = low !== null && high !== null ? (high - low) / 2 : null;
    }
    return row;
  });
}

function compareOne(metric: MetricDef, item: ComparisonItem): Tested {
  const base = { metric: metric.name, cell: item.cell, baseline: item.baseline };
  if (item.paired && item.a.values && item.b.values) {
    const r = pairedSignFlip(item.a.values, item.b.values);
    if (r.pairs > 0) {
      return {
        ...base,
        pairs: r.pairs,
        baseline_value: r.meanA,
        value: r.meanB,
        diff: r.diff,
        diff_low: null,
        diff_high: null,
        p_value: r.p,
        method: r.method,
        intervalAt: r.test ? (level) => r.test!.interval(level) : undefined,
      };
    }
  }
  let r: UnpairedResult | undefined;
  let values: [number, number] | undefined;
  if (metric.kind === 'rate' && item.a.count && item.b.count) {
    r = twoProportions(item.a.count.k, item.a.count.n, item.b.count.k, item.b.count.n);
    values = [item.a.count.k / item.a.count.n, item.b.count.k / item.b.count.n];
  } else if (metric.kind !== 'rate' && item.a.moments && item.b.moments) {
    r = welch(item.a.moments, item.b.moments);
    values = [item.a.moments.mean, item.b.moments.mean];
  }
  if (!r || r.p === null || !values || !values.every(Number.isFinite)) {
    return { ...base, pairs: 0, baseline_value: finite(values?.[0]), value: finite(values?.[1]), diff: null, diff_low: null, diff_high: null, p_value: null, method: 'none' };
  }
  const { a, b } = item;
  const unpaired = r;
  const intervalAt =
    unpaired.method === 'two-proportion-z'
      ? (level: number) => invertTest(scoreShiftP(a.count!.k, a.count!.n, b.count!.k, b.count!.n), unpaired.p!, unpaired.diff, level, { low: -1, high: 1 })
      : unpaired.intervalAt;
  return {
    ...base,
    pairs: 0,
    baseline_value: values[0],
    value: values[1],
    diff: r.diff,
    diff_low: null,
    diff_high: null,
    p_value: r.p,
    method: r.method,
    intervalAt,
  };
}

function finite(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

/** A human description of the method, for summary.json and the reports. */
export const METHOD_NOTE =
  'Paired over dataset rows: each row contributes the mean of its choices per cell; two-sided sign-flip permutation test of the mean row difference (exact for rates, counted on their lattice; other values exact up to 16 rows, up to 10,000 seeded resamples up to 400, stopped once 20 are as extreme (sequential p = 20/resamples drawn; the interval from all 10,000), normal approximation above); Holm correction across cells per metric. The test is one test of "the mean difference is delta" (the row differences minus delta, signs flipped, by the same method): the verdict is delta = 0, and each interval is that test inverted at the level Holm judged that comparison at (alpha/(m - r + 1) for the r-th smallest p-value while Holm rejects, alpha/(comparisons left) after), so it excludes 0 exactly when the change is significant. Unpaired fallback: pooled two-proportion z-test with the inverted score-test interval (rates), Welch t-test and interval (latency).';
