/** κ against values worked out by hand (the arithmetic is in the comments), and its undefined cases. */
import { describe, expect, it } from 'vitest';
import { quadraticWeights, weightedKappa } from '../../../src/stats/kappa.js';

describe('weightedKappa', () => {
  it("pass/fail: Cohen's κ with the Fleiss-Cohen-Everitt interval", () => {
    // Rows: human fail, pass; columns: verdict fail, pass. 3 agree on fail, 5 on pass, 2 disagree (n = 10).
    // p_o = 0.8; marginals 0.4/0.6 both ways, p_e = 0.16 + 0.36 = 0.52; κ = 0.28 / 0.48 = 7/12.
    // Variance: Σ p_ij (w_ij - (w̄_i. + w̄_.j)(1 - κ))² = 0.3·(1 - 0.8·5/12)² + 0.5·(1 - 1.2·5/12)² + 2·0.1·(5/12)²
    //   = 0.133333 + 0.125 + 0.034722 = 0.293056; minus (κ - p_e(1 - κ))² = (7/12 - 0.52·5/12)² = 0.134444;
    //   over n(1 - p_e)² = 2.304: 0.0688416, SE 0.262377; 7/12 ∓ 1.96·SE = 0.069084 .. 1.0976 (capped at 1).
    const k = weightedKappa([3, 1, 1, 5], 2);
    expect(k.kappa).toBeCloseTo(7 / 12, 12);
    expect(k.low).toBeCloseTo(0.069084, 5);
    expect(k.high).toBe(1);
    expect(k.n).toBe(10);
    expect(k.observed).toBeCloseTo(0.8, 12);
    expect(k.note).toBeUndefined();
  });

  it('a rating scale: quadratic weights, equal to 2·cov / (var_x + var_y + (mean_x - mean_y)²)', () => {
    // (label, verdict) on 1..5: (1,1) (2,2) (3,2) (4,5) (5,5) (3,3) (2,1) (4,4); as categories 0..4,
    // mean 2 and 1.875, cov 1.75, variances 1.5 and 2.359375 (over n): κ_w = 3.5 / 3.875 = 28/31.
    const counts = new Array<number>(25).fill(0);
    for (const [a, b] of [[1, 1], [2, 2], [3, 2], [4, 5], [5, 5], [3, 3], [2, 1], [4, 4]] as const) counts[(a - 1) * 5 + (b - 1)]!++;
    const k = weightedKappa(counts, 5);
    expect(k.kappa).toBeCloseTo(28 / 31, 12);
    expect(k.n).toBe(8);
    expect(k.observed).toBeCloseTo(5 / 8, 12);
    expect(k.low!).toBeLessThan(k.kappa!);
    expect(k.high!).toBeLessThanOrEqual(1);
  });

  it('perfect agreement is 1 with a zero-width interval; perfect disagreement on pass/fail is -1', () => {
    expect(weightedKappa([4, 0, 0, 6], 2)).toMatchObject({ kappa: 1, low: 1, high: 1, n: 10 });
    expect(weightedKappa([0, 5, 5, 0], 2).kappa).toBeCloseTo(-1, 12);
    // Unbalanced marginals: p_o = 0, p_e = 0.4·0.6 + 0.6·0.4 = 0.48, κ = -0.48 / 0.52.
    expect(weightedKappa([0, 4, 6, 0], 2).kappa).toBeCloseTo(-12 / 13, 12);
  });

  it('a check that gives every choice the same verdict while people differ gets κ = 0', () => {
    expect(weightedKappa([0, 3, 0, 7], 2).kappa).toBeCloseTo(0, 12);
  });

  it('undefined, with the reason, when nothing is paired or every human label is in one category', () => {
    expect(weightedKappa([0, 0, 0, 0], 2)).toEqual({ kappa: null, low: null, high: null, n: 0, observed: null, note: 'no choice has both a human label and a verdict' });
    const one = weightedKappa([0, 0, 2, 8], 2);
    expect(one).toMatchObject({ kappa: null, low: null, high: null, n: 10, observed: 0.8 });
    expect(one.note).toMatch(/every human label is in one category/);
    expect(JSON.stringify(one)).not.toContain('NaN');
  });

  it('quadratic weights', () => {
    expect(quadraticWeights(2)).toEqual([[1, 0], [0, 1]]);
    expect(quadraticWeights(3)).toEqual([[1, 0.75, 0], [0.75, 1, 0.75], [0, 0.75, 1]]);
  });
});
