import { billedCostUsd, priceFor, type BilledTokens, type Price } from '../contracts/prices.js';
import { studentTQuantile } from '../stats/index.js';
import { rateMetrics } from '../stats/index.js';
import { wilson } from '../stats/index.js';
import { type AgreementStats, type CellStats, field } from '../contracts/summary.js';
import { scoreMoments, type AgreementCounts, type ScoreCounts } from './cell-stats.js';
import { weightedKappa } from '../stats/index.js';
import { roundOrNull, roundTo } from '../util/round.js';

/** stats.csv columns after the base ones: per check its counts and rate, then every interval, then cost. */
export function extraStatsColumns(checks: readonly string[], scored: readonly string[] = [], human: readonly string[] = []): string[] {
  return [
    ...checks.flatMap((c) => [`${c}_checked`, `${c}_pass`, `${c}_pass_rate`]),
    ...scored.flatMap((c) => [`${c}_answered`, `${c}_unscored`, `${c}_unscored_rate`, `${c}_scored`, `${c}_score_mean`, `${c}_score_mean_low`, `${c}_score_mean_high`]),
    ...human.flatMap((c) => AGREEMENT_FIELDS.map((f) => `${c}_${f}`)),
    ...rateMetrics(checks, scored).flatMap((m) => [`${m.name}_low`, `${m.name}_high`]),
    'latency_mean_ms_low',
    'latency_mean_ms_high',
    'cost_usd',
    'cost_per_1k_rows',
    'tokens_per_1k_rows',
    'frontier',
  ];
}

/** A human-labelled check's agreement columns (after `<check>_`), in stats.csv's order. */
export const AGREEMENT_FIELDS = ['kappa', 'kappa_low', 'kappa_high', 'kappa_n', 'kappa_unscored', 'agreement', 'kappa_note'] as const;

/**
 * A check's agreement with people from its table of counts: κ (quadratic weights on a rating scale) with its 95%
 * interval, the pairs counted, the labelled choices left without a verdict, the share of exact agreement, and why κ
 * is undefined when it is (null then, never NaN).
 */
export function agreementFields(a: AgreementCounts): AgreementStats {
  const k = weightedKappa(a.counts, a.k);
  return {
    kappa: roundOrNull(k.kappa, 4),
    kappa_low: roundOrNull(k.low, 4),
    kappa_high: roundOrNull(k.high, 4),
    kappa_n: k.n,
    kappa_unscored: a.unscored,
    agreement: roundOrNull(k.observed, 4),
    kappa_note: k.note ?? null,
  };
}

/**
 * A cell's stats with what issue 4 adds: check rates, a 95% interval for every rate and for the mean latency, and
 * the cost of its billed usage. Intervals use the same denominators as the rates.
 */
export function extendCellStats(
  base: CellStats,
  checks: Record<string, { checked: number; pass: number }>,
  latency: { n: number; mean: number; variance: number },
  billed: BilledTokens,
  priced: BilledTokens,
  prices: Readonly<Record<string, Price>>,
  scores: Readonly<Record<string, ScoreCounts>> = {},
  agreement: Readonly<Record<string, AgreementCounts>> = {},
): CellStats {
  const out: CellStats = { ...base };
  for (const [name, a] of Object.entries(agreement)) {
    const f = agreementFields(a);
    out[`${name}_kappa`] = f.kappa;
    out[`${name}_kappa_low`] = f.kappa_low;
    out[`${name}_kappa_high`] = f.kappa_high;
    out[`${name}_kappa_n`] = f.kappa_n;
    out[`${name}_kappa_unscored`] = f.kappa_unscored;
    out[`${name}_agreement`] = f.agreement;
    out[`${name}_kappa_note`] = f.kappa_note;
  }
  for (const [name, c] of Object.entries(checks)) {
    out[`${name}_checked`] = c.checked;
    out[`${name}_pass`] = c.pass;
    out[`${name}_pass_rate`] = c.checked > 0 ? c.pass / c.checked : null;
  }
  for (const [name, c] of Object.entries(scores)) {
    out[`${name}_answered`] = c.answered;
    out[`${name}_unscored`] = c.unscored;
    out[`${name}_unscored_rate`] = c.answered > 0 ? c.unscored / c.answered : null;
    out[`${name}_scored`] = c.scored;
    // The mean score with a 95% t-interval over the scored choices, kept within [0, 1] where scores live. Like the
    // rates' intervals, it treats a row's n choices as independent.
    const m = scoreMoments(c);
    out[`${name}_score_mean`] = m.n > 0 ? roundTo(m.mean, 4) : null;
    const half = m.n > 1 ? studentTQuantile(0.975, m.n - 1) * Math.sqrt(m.variance / m.n) : NaN;
    out[`${name}_score_mean_low`] = Number.isFinite(half) ? roundTo(Math.max(0, m.mean - half), 4) : null;
    out[`${name}_score_mean_high`] = Number.isFinite(half) ? roundTo(Math.min(1, m.mean + half), 4) : null;
  }
  for (const m of rateMetrics(Object.keys(checks), Object.keys(scores))) {
    const k = field(out, m.count!) as number | undefined;
    const n = field(out, m.of!) as number | undefined;
    const ci = k !== undefined && n !== undefined ? wilson(k, n) : null;
    out[`${m.name}_low`] = roundOrNull(ci?.low, 4);
    out[`${m.name}_high`] = roundOrNull(ci?.high, 4);
  }
  const half = latency.n > 1 ? studentTQuantile(0.975, latency.n - 1) * Math.sqrt(latency.variance / latency.n) : NaN;
  // A latency is never negative: a wide interval (a few slow requests among cached answers) stops at 0, the edge of
  // what the mean can be, instead of reporting an impossible negative bound.
  out['latency_mean_ms_low'] = Number.isFinite(half) ? Math.max(0, roundTo(latency.mean - half, 1)) : null;
  out['latency_mean_ms_high'] = Number.isFinite(half) ? roundTo(latency.mean + half, 1) : null;
  const price = priceFor(base.model, prices);
  const cost = billedCostUsd(price, billed);
  out.cost_usd = cost === null ? null : roundTo(cost, 6);
  // Per 1,000 dataset rows from all recorded usage, each answer priced by how it was sent (the frontier ranks by it).
  const all = billedCostUsd(price, priced);
  out.cost_per_1k_rows = all === null || base.requests === 0 ? null : roundTo((all / base.requests) * 1000, 6);
  out.tokens_per_1k_rows = base.requests === 0 ? null : Math.round(((base.prompt_tokens + base.completion_tokens) / base.requests) * 1000);
  return out;
}

