/**
 * The one paired test (paired-test.ts' signFlipTest): its p-value at every shift δ is the sign-flip test of the
 * shifted differences, counted by brute force here; its interval's ends are where that p crosses the level; the
 * verdict compare gives (δ = 0) is the same function's.
 */
import { describe, expect, it } from 'vitest';
import { EXACT_MAX, MONTE_CARLO_MAX, mulberry32, pairedSignFlip, signFlipP, signFlipTest, type ShiftTest } from '../../../src/stats/paired-test.js';
import { compareMetric } from '../../../src/stats/compare.js';
import { findMetric } from '../../../src/stats/metrics.js';
import { holmLevels, simplestFraction } from '../../../src/stats/test-interval.js';

/** P(|Σ±(d_i − δ)| ≥ |Σ(d_i − δ)|) over all 2^m sign patterns, rounding forgiven as the test forgives it. */
function bruteForce(d: readonly number[], delta: number): number {
  const e = d.map((x) => x - delta);
  const observed = Math.abs(e.reduce((s, x) => s + x, 0));
  const t = 1e-9 * Math.max(1, d.reduce((s, x) => s + Math.abs(x), 0));
  let extreme = 0;
  for (let k = 0; k < 2 ** e.length; k++) {
    let s = 0;
    for (let i = 0; i < e.length; i++) s += (k >> i) & 1 ? e[i]! : -e[i]!;
    if (Math.abs(s) >= observed - t) extreme++;
  }
  return extreme / 2 ** e.length;
}

/** Small fixtures: rates of n = 3 (a lattice, with zero rows) and latencies (off a lattice). */
function fixtures(): number[][] {
  const random = mulberry32(3);
  const out: number[][] = [];
  for (let trial = 0; trial < 16; trial++) {
    const m = 6 + (trial % 9);
    out.push(Array.from({ length: m }, () => (random() < 0.3 ? 0 : (Math.floor(random() * 7) - 3) / 3)));
    out.push(Array.from({ length: m }, () => random() * 10 - 4));
  }
  return out;
}

/** The ends sit where p crosses the level: inside at the end, outside just beyond it. */
function expectCrossing(p: (delta: number) => number, ends: { low: number | null; high: number | null }, level: number, eps: number, what: string): void {
  if (ends.low !== null) {
    expect(p(ends.low + eps), `${what}: just inside the low end`).toBeGreaterThanOrEqual(level);
    expect(p(ends.low - eps), `${what}: just below the low end`).toBeLessThan(level);
  }
  if (ends.high !== null) {
    expect(p(ends.high - eps), `${what}: just inside the high end`).toBeGreaterThanOrEqual(level);
    expect(p(ends.high + eps), `${what}: just above the high end`).toBeLessThan(level);
  }
}

describe('signFlipTest: one paired test for every shift δ', () => {
  it('is the sign-flip test of the shifted differences at every δ, on and off a lattice (brute force over 2^m)', () => {
    for (const d of fixtures()) {
      const test = signFlipTest(d);
      expect(test.method).toBe('sign-flip-exact');
      for (const delta of [0, 0.1, -0.37, 0.5, 1 / 3, 1.2, -2, test.estimate + 0.01]) expect(test.p(delta), `${d} at ${delta}`).toBeCloseTo(bruteForce(d, delta), 9);
    }
  });

  it("puts the interval's ends where the brute-force p crosses α, at several levels", () => {
    for (const d of fixtures()) {
      const test = signFlipTest(d);
      for (const level of [0.05, 0.2]) expectCrossing((x) => bruteForce(d, x), test.interval(level), level, 1e-7, `${test.method} ${d.join(' ')} at ${level}`);
    }
    // A hand-checked case: four rows all +1 (p = 2/16 at 0): no δ is rejected at α = 0.05, both ends open.
    expect(signFlipTest([1, 1, 1, 1]).interval(0.05)).toEqual({ low: null, high: null });
    // Six rows of +1 and a −1: p(0) = 2·8/128 = 0.125 at δ = 0; the 80% interval excludes 0, the 95% one holds it.
    const six = signFlipTest([1, 1, 1, 1, 1, 1, -1]);
    expect(six.p(0)).toBe(0.125);
    const wide = six.interval(0.05);
    const narrow = six.interval(0.2);
    expect(wide.low! <= 0 && 0 <= (wide.high ?? Infinity)).toBe(true);
    expect(narrow.low!).toBeGreaterThan(0);
  });

  it('Monte Carlo (off a lattice, past the exact limit) and the normal approximation invert their own p', () => {
    const random = mulberry32(11);
    for (const m of [EXACT_MAX + 1, 60, MONTE_CARLO_MAX, MONTE_CARLO_MAX + 1, 2000]) {
      const d = Array.from({ length: m }, () => 3 + (random() - 0.5) * 40);
      const test = signFlipTest(d);
      expect(test.method).toBe(m <= MONTE_CARLO_MAX ? 'sign-flip-monte-carlo' : 'sign-flip-normal');
      for (const level of [0.05, 0.005]) {
        const ends = test.interval(level);
        expectCrossing((x) => test.p(x), ends, level, 1e-6 * (ends.high! - ends.low!), `${test.method} m=${m} at ${level}`);
      }
    }
  });

  it('is the test compare gives its verdict with: the same p as signFlipP and pairedSignFlip, the interval at the Holm level', () => {
    const random = mulberry32(5);
    const base = Array.from({ length: 36 }, () => Math.floor(random() * 4) / 3);
    const items = [0.25, 0.5, 0.7].map((flip, c) => ({ cell: `c${c}`, baseline: 'base', a: { values: base }, b: { values: base.map((v) => (random() < flip ? Math.floor(random() * 4) / 3 : v)) }, paired: true }));
    const rate = findMetric('schema_valid_rate', [])!;
    const rows = compareMetric(rate, items, 0.05);
    const tests: ShiftTest[] = items.map((it) => pairedSignFlip(it.a.values, it.b.values).test!);
    const levels = holmLevels(rows.map((r) => r.p_value), 0.05);
    rows.forEach((row, i) => {
      const diffs = items[i]!.b.values.map((v, k) => v - base[k]!);
      expect(row.p_value).toBe(signFlipP(diffs).p);
      expect(row.p_value).toBe(tests[i]!.p(0));
      const ends = tests[i]!.interval(levels[i]!);
      expect([row.diff_low, row.diff_high]).toEqual([Math.max(-1, ends.low ?? -1), Math.min(1, ends.high ?? 1)]);
      expect(row.diff_low! <= 0 && 0 <= row.diff_high!).toBe(row.change === 'same');
    });
  });

  it('computes intervals only where asked: changes only, and an unadjusted half-width for every row on request', () => {
    const random = mulberry32(8);
    const base = Array.from({ length: 40 }, () => 100 + random() * 50);
    const latency = findMetric('latency_mean_ms', [])!;
    const items = [0, 30].map((shift, c) => ({ cell: `c${c}`, baseline: 'base', a: { values: base }, b: { values: base.map((v) => v + shift + (random() - 0.5) * 20) }, paired: true }));
    const [same, worse] = compareMetric(latency, items, 0.05, { intervals: 'changes', halfWidth: true });
    expect(same!.change).toBe('same');
    expect([same!.diff_low, same!.diff_high]).toEqual([null, null]);
    expect(worse!.change).toBe('worse');
    expect(worse!.diff_low).toBeGreaterThan(0);
    const full = pairedSignFlip(items[0]!.a.values, items[0]!.b.values).test!.interval(0.05);
    expect(same!.half_width).toBeCloseTo((full.high! - full.low!) / 2, 9);
  });
});

describe('simplestFraction (a lattice interval end snapped onto the step it brackets)', () => {
  it('gives the fraction of smallest denominator in the bracket, on either side of 0', () => {
    expect(simplestFraction(0.33, 0.34)).toEqual({ num: 1, den: 3 });
    expect(simplestFraction(-0.51, -0.49)).toEqual({ num: -1, den: 2 });
    expect(simplestFraction(2, 2.5)).toEqual({ num: 2, den: 1 });
    expect(simplestFraction(0.1, 0.2)).toEqual({ num: 1, den: 5 });
    expect(simplestFraction(-0.1, 0.1)).toEqual({ num: 0, den: 1 });
    expect(simplestFraction(17 / 71 - 1e-9, 17 / 71 + 1e-9)).toEqual({ num: 17, den: 71 });
  });

  it('puts the ends of a lattice interval exactly on a fraction of denominator ≤ 2m·scale', () => {
    const d = Array.from({ length: 36 }, (_, i) => [0, 0, 0, 1 / 3, 2 / 3, -1 / 3, 1, 0, -2 / 3][i % 9]!);
    for (const level of [0.05, 0.001]) {
      const { low, high } = signFlipTest(d).interval(level);
      for (const end of [low!, high!]) {
        const f = simplestFraction(end - 1e-12, end + 1e-12)!;
        expect(f.den).toBeLessThanOrEqual(2 * 36 * 3);
        expect(Math.abs(end - f.num / f.den)).toBeLessThan(1e-15);
      }
    }
  });
});
