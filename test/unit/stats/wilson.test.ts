import { describe, expect, it } from 'vitest';
import { wilson } from '../../../src/stats/wilson.js';
import { newcombe, twoProportions, welch } from '../../../src/stats/two-sample.js';

describe('wilson', () => {
  // Published values: Newcombe (1998), Statistics in Medicine 17:857–872, Table I; and the usual 0/10, 5/10, 10/10.
  it.each([
    [0, 10, 0, 0.2775],
    [5, 10, 0.2366, 0.7634],
    [10, 10, 0.7225, 1],
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [1, 29, 0.0061, 0.1718],
  ])('%i/%i → [%f, %f]', (k, n, low, high) => {
    const ci = wilson(k, n)!;
    expect(ci.low).toBeCloseTo(low, 4);
    expect(ci.high).toBeCloseTo(high, 4);
  });

  it('is exactly 0 at 0/n and exactly 1 at n/n, and null without trials', () => {
    expect(wilson(0, 3)!.low).toBe(0);
    expect(wilson(3, 3)!.high).toBe(1);
    expect(wilson(0, 0)).toBeNull();
  });

  it('always contains the point estimate and stays in [0, 1]', () => {
    for (let n = 1; n <= 40; n += 3) {
      for (let k = 0; k <= n; k++) {
        const ci = wilson(k, n)!;
        expect(ci.low).toBeLessThanOrEqual(k / n);
        expect(ci.high).toBeGreaterThanOrEqual(k / n);
        expect(ci.low).toBeGreaterThanOrEqual(0);
        expect(ci.high).toBeLessThanOrEqual(1);
      }
    }
  });
});

describe('newcombe (method 10) and the two-proportion z-test', () => {
  // Newcombe (1998) Table II, examples (a), (b) and (e); our difference is the second proportion minus the first.
  it.each([
    [48, 80, 56, 70, 0.0524, 0.3339],
    [3, 10, 9, 10, 0.1705, 0.809],
    [0, 20, 0, 10, -0.1611, 0.2775],
  ])('%i/%i vs %i/%i → [%f, %f]', (kA, nA, kB, nB, low, high) => {
    const ci = newcombe(kA, nA, kB, nB)!;
    expect(ci.low).toBeCloseTo(low, 3);
    expect(ci.high).toBeCloseTo(high, 3);
  });

  it('gives the pooled z-test p-value (56/70 vs 48/80: z = 2.650, p = 0.0080)', () => {
    const r = twoProportions(48, 80, 56, 70);
    expect(r.diff).toBeCloseTo(0.2, 10);
    expect(r.p!).toBeCloseTo(0.00804, 4);
    expect(twoProportions(5, 10, 5, 10).p).toBe(1);
    expect(twoProportions(0, 0, 1, 2).p).toBeNull();
  });
});

describe('welch', () => {
  it('matches the textbook case: equal variances, n = 10 each, means 1 apart → t = 2.236, df = 18, p = 0.0382', () => {
    const r = welch({ n: 10, mean: 0, variance: 1 }, { n: 10, mean: 1, variance: 1 });
    expect(r.diff).toBe(1);
    expect(r.p!).toBeCloseTo(0.0382, 3);
    // t(0.975, 18) = 2.1009: interval 1 ± 2.1009 · √0.2
    expect(r.interval!.low).toBeCloseTo(1 - 2.1009 * Math.sqrt(0.2), 3);
  });
});
