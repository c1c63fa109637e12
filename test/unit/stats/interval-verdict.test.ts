import { describe, expect, it } from 'vitest';
import { compareMetric, type ComparisonItem } from '../../../src/stats/compare.js';
import { findMetric } from '../../../src/stats/metrics.js';
import { mulberry32 } from '../../../src/stats/paired-test.js';
import { holmLevels } from '../../../src/stats/test-interval.js';
import { rounded } from '../../../src/report/comparison.js';

const rate = findMetric('schema_valid_rate', [])!;
const latency = findMetric('latency_mean_ms', [])!;

/** Every verdict sits beside an interval that says the same: `same` holds 0, a change does not. */
function expectAgreement(rows: ReturnType<typeof compareMetric>): void {
  for (const r of rows) {
    expect(r.diff_low, `${r.cell} ${r.method}`).not.toBeNull();
    const holdsZero = r.diff_low! <= 0 && 0 <= r.diff_high!;
    expect(holdsZero, `${r.cell} ${r.method}: ${r.change} with interval ${r.diff_low}..${r.diff_high}, p ${r.p_value}, adjusted ${r.p_adjusted}`).toBe(r.change === 'same');
    expect(r.diff_low! <= r.diff!).toBe(true);
    expect(r.diff! <= r.diff_high!).toBe(true);
  }
}

/** A family of cells against a baseline: each cell's per-row rates drift from the baseline's by a random amount. */
function rateFamily(seed: number, rows: number, n: number, cells: number): ComparisonItem[] {
  const random = mulberry32(seed);
  const row = (p: number) => {
    let k = 0;
    for (let i = 0; i < n; i++) if (random() < p) k++;
    return k / n;
  };
  const base = Array.from({ length: rows }, () => row(0.85));
  return Array.from({ length: cells }, (_, c) => {
    const p = 0.85 - random() * 0.2;
    return { cell: `c${c}`, baseline: 'base', a: { values: base }, b: { values: base.map((v) => (random() < 0.4 ? row(p) : v)) }, paired: true };
  });
}

describe('intervals agree with the verdicts beside them', () => {
  it('on paired rates (n = 3, as in the demo), where the t-interval and Holm used to disagree', () => {
    for (let seed = 1; seed <= 12; seed++) expectAgreement(compareMetric(rate, rateFamily(seed, 36, 3, 12), 0.05));
  });

  it('on paired latencies off a lattice: exact enumeration, Monte Carlo and the normal approximation', () => {
    for (const rows of [8, 18, 60, 500]) {
      const random = mulberry32(rows);
      const base = Array.from({ length: rows }, () => 100 + random() * 50);
      const items = Array.from({ length: 6 }, (_, c) => ({ cell: `c${c}`, baseline: 'base', a: { values: base }, b: { values: base.map((v) => v + (c - 2) * 4 + (random() - 0.5) * 30) }, paired: true }));
      expectAgreement(compareMetric(latency, items, 0.05));
    }
  });

  it('on unpaired rates (score test) and unpaired latencies (Welch)', () => {
    const rates = [40, 46, 52, 55, 58, 62].map((k, c) => ({ cell: `c${c}`, baseline: 'base', a: { count: { k: 56, n: 70 } }, b: { count: { k, n: 75 } }, paired: false }));
    expectAgreement(compareMetric(rate, rates, 0.05));
    const lat = [95, 101, 104, 108, 120].map((mean, c) => ({ cell: `c${c}`, baseline: 'base', a: { moments: { n: 40, mean: 100, variance: 100 } }, b: { moments: { n: 30, mean, variance: 140 } }, paired: false }));
    expectAgreement(compareMetric(latency, lat, 0.05));
  });

  it("a raw p-value below alpha that Holm does not reject shows an interval holding 0 (the issue's −0.057, p 0.031, adjusted 0.34)", () => {
    const rows = compareMetric(rate, rateFamily(7, 36, 3, 12), 0.05);
    const kept = rows.filter((r) => r.p_value! < 0.05 && !r.significant);
    expect(kept.length).toBeGreaterThan(0);
    for (const r of kept) expect(r.diff_low! <= 0 && r.diff_high! >= 0).toBe(true);
  });
});

describe('holmLevels', () => {
  it('gives each comparison the level Holm judged it at: α/(m − r + 1) while rejecting, the level it stopped at after', () => {
    // m = 4: levels 0.0125, 0.0167, 0.025, 0.05; the third (0.03) is kept, so it and the fourth get 0.025.
    expect(holmLevels([0.001, 0.03, 0.01, null, 0.5], 0.05)).toEqual([0.0125, 0.025, 0.05 / 3, null, 0.025]);
  });
});

describe('rounded comparison rows', () => {
  it('never round a significant change’s interval end onto 0', () => {
    const row = { metric: 'schema_valid_rate', cell: 'b', baseline: 'a', pairs: 40, baseline_value: 1, value: 0.8, diff: -0.2, diff_low: -0.41, diff_high: -0.00003, p_value: 0.01, p_adjusted: 0.02, significant: true, change: 'worse' as const, method: 'sign-flip-exact' as const };
    expect(rounded(row).diff_high).toBe(-0.0001);
    expect(rounded({ ...row, significant: false, change: 'same' as const, diff_high: 0.00003 }).diff_high).toBe(0);
  });
});
