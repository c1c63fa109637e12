import { describe, expect, it } from 'vitest';
import { EXACT_MAX, mulberry32, pairedSignFlip, RESAMPLES, SEQUENTIAL_HITS, signFlipP, tInterval } from '../../../src/stats/paired-test.js';

const zeros = (n: number) => new Array<number>(n).fill(0);

describe('sign-flip permutation test (hand-computed cases)', () => {
  it('three rows all better by 1: 2 of 8 sign patterns are as extreme → p = 0.25', () => {
    const r = pairedSignFlip(zeros(3), [1, 1, 1]);
    expect(r.p).toBe(0.25);
    expect(r.diff).toBe(1);
    expect(r.method).toBe('sign-flip-exact');
  });

  it('five rows all better: p = 2/32', () => {
    expect(signFlipP([1, 1, 1, 1, 1]).p).toBe(0.0625);
  });

  it('uses magnitudes: d = (1, ½, ½, −½) has sum 1.5, reached by 8 of 16 patterns → p = 0.5', () => {
    expect(signFlipP([1, 0.5, 0.5, -0.5]).p).toBe(0.5);
  });

  it('counts sums equal up to rounding as extreme (thirds from n = 3 choices)', () => {
    expect(signFlipP([1 / 3, 1 / 3, 1 / 3, 1]).p).toBe(signFlipP([1, 1, 1, 3]).p);
  });

  it('with one choice per row it is the exact McNemar test: 8 vs 1 discordant rows → p = 20/512', () => {
    const a = [...zeros(8), 1, ...zeros(20)];
    const b = [...new Array<number>(8).fill(1), 0, ...zeros(20)];
    expect(pairedSignFlip(a, b).p).toBeCloseTo(20 / 512, 12);
  });

  it('rows with no difference do not change p but do count as pairs', () => {
    const r = pairedSignFlip([0, 0, 0, 0.5, 0.5], [1, 1, 1, 0.5, 0.5]);
    expect(r.p).toBe(0.25);
    expect(r.pairs).toBe(5);
    expect(r.diff).toBeCloseTo(0.6, 12);
  });

  it('skips rows missing on either side (NaN), and gives p = 1 when nothing differs', () => {
    const r = pairedSignFlip([NaN, 1, 1], [1, NaN, 1]);
    expect(r.pairs).toBe(1);
    expect(r.p).toBe(1);
    expect(pairedSignFlip([NaN], [NaN]).p).toBeNull();
    expect(signFlipP([1, -1]).p).toBe(1);
  });

  it('is exact on a lattice beyond the enumeration limit: rates of n choices, brute force over 2^21 patterns', () => {
    const d = Array.from({ length: EXACT_MAX + 1 }, (_, i) => ((i % 4 === 0 ? -1 : 1) * (1 + (i % 3))) / 3);
    const r = signFlipP(d);
    expect(r.method).toBe('sign-flip-exact');
    expect(r.p).toBeCloseTo(bruteForce(d), 12);
  });

  it('with n = 1 it is the exact McNemar test: k discordant rows all one way give p = 2 / 2^k', () => {
    expect(signFlipP(new Array<number>(30).fill(1))).toEqual({ p: 2 / 2 ** 30, method: 'sign-flip-exact' });
    // 60 of 100 discordant pairs one way: two-sided exact binomial P(|B − 50| ≥ 10), B ~ Bin(100, ½) = 0.056887…
    const d = Array.from({ length: 100 }, (_, i) => (i < 60 ? 1 : -1));
    expect(signFlipP(d).p).toBeCloseTo(0.0568879, 6);
    // Many rows with few discordant ones stay exact (the zero rows are a binomial, not enumerated): 8 of 5,000.
    expect(signFlipP(Array.from({ length: 5000 }, (_, i) => (i < 8 ? 1 : 0)))).toEqual({ p: 2 / 2 ** 8, method: 'sign-flip-exact' });
    // Thousands of discordant rows: too many for the joint distribution an interval needs, but the verdict's p is
    // still counted exactly: 1,600 of 3,000 one way is the two-sided binomial P(|B − 1500| ≥ 100) = 0.000278564….
    const big = signFlipP(Array.from({ length: 4000 }, (_, i) => (i % 2 ? 1 : -1)));
    expect(big).toEqual({ p: 1, method: 'sign-flip-exact' });
    const skewed = signFlipP(Array.from({ length: 3000 }, (_, i) => (i < 1600 ? 1 : -1)));
    expect(skewed.method).toBe('sign-flip-exact');
    expect(skewed.p).toBeCloseTo(0.000278563961, 10);
  });

  it('off a lattice, Monte Carlo (seeded, sequential) gives the exact decision just past the exact limit', () => {
    const d = Array.from({ length: EXACT_MAX + 1 }, (_, i) => (i % 4 === 0 ? -1 : 1) * (1 + Math.SQRT2 * (i % 3)));
    const mc = signFlipP(d);
    expect(mc.method).toBe('sign-flip-monte-carlo');
    // p ≈ 0.099: stopped after ~200 patterns at h/l, within Monte Carlo error of the exact p (sd ≈ 0.02).
    expect(Math.abs(mc.p - bruteForce(d))).toBeLessThan(0.05);
    expect(signFlipP(d).p).toBe(mc.p); // deterministic
    expect(signFlipP(d, 7).p).not.toBe(mc.p); // another seed, other patterns
  });

  it('sequential Monte Carlo: the full sample where p is small, the same decision as the exact test on clear cases', () => {
    const random = mulberry32(3);
    const m = EXACT_MAX + 1;
    let clear = 0;
    for (let trial = 0; trial < 60; trial++) {
      const shift = (trial % 6) * 0.6;
      const d = Array.from({ length: m }, () => shift + (random() - 0.5) * 4);
      const exact = bruteForce(d);
      const { p } = signFlipP(d);
      if (exact < SEQUENTIAL_HITS / RESAMPLES / 2) {
        // Too few hits to stop: the full sample's (1 + g)/(1 + L), close to the exact p, never 0.
        expect(p).toBeGreaterThanOrEqual(1 / (RESAMPLES + 1));
        expect(Math.abs(p - exact)).toBeLessThan(4 * Math.sqrt(exact / RESAMPLES) + 2 / RESAMPLES);
      }
      for (const level of [0.05, 0.01, 0.001]) {
        if (exact < level / 3 || exact > level * 3) {
          clear++;
          expect(p < level, `exact ${exact}, sequential ${p}, level ${level}`).toBe(exact < level);
        }
      }
    }
    expect(clear).toBeGreaterThan(100);
  });

  it('sequential Monte Carlo p-values are valid under no change: P(p ≤ α) ≈ α, never above it beyond chance', () => {
    const random = mulberry32(17);
    const ps: number[] = [];
    for (let trial = 0; trial < 2000; trial++) {
      // Symmetric about 0, off a lattice: the null hypothesis holds.
      const d = Array.from({ length: 30 }, () => (random() - 0.5) * (1 + random()));
      ps.push(signFlipP(d).p);
    }
    for (const alpha of [0.01, 0.05, 0.1, 0.25, 0.5]) {
      const share = ps.filter((p) => p <= alpha).length / ps.length;
      const sd = Math.sqrt((alpha * (1 - alpha)) / ps.length);
      expect(share, `P(p ≤ ${alpha})`).toBeLessThan(alpha + 3.5 * sd);
      expect(share, `P(p ≤ ${alpha})`).toBeGreaterThan(alpha - 3.5 * sd - 0.01);
    }
  });

  it('never reports p = 0 from Monte Carlo, and uses the normal approximation for many rows off a lattice', () => {
    const allUp = Array.from({ length: 30 }, (_, i) => 1 + Math.PI * 1e-3 * i);
    expect(signFlipP(allUp)).toEqual({ p: 1 / 10_001, method: 'sign-flip-monte-carlo' });
    const many = Array.from({ length: 1000 }, (_, i) => (i % 2 ? 1 : -1) * (0.5 + Math.PI * 1e-4 * (i >> 1)));
    const r = signFlipP(many);
    expect(r.method).toBe('sign-flip-normal');
    expect(r.p).toBeGreaterThan(0.9);
    const shifted = signFlipP(Array.from({ length: 1000 }, (_, i) => (i % 10 < 6 ? 1 : -1) * (1 + Math.E * 1e-9 * i)));
    expect(shifted.method).toBe('sign-flip-normal');
    // S ≈ 200, sd ≈ √1000: z = 6.32 → p ≈ 2.5e-10
    expect(shifted.p).toBeGreaterThan(1e-10);
    expect(shifted.p).toBeLessThan(5e-10);
  });
});

/**
 * Exact two-sided sign-flip p-value by trying every sign pattern, in Gray-code order: each pattern flips one sign of
 * the one before, so its sum is one update away; the sum is recomputed whole every 1,024 patterns, so rounding
 * cannot build up past the comparison's 1e-9.
 */
function bruteForce(d: number[]): number {
  const n = d.length;
  const observed = Math.abs(d.reduce((s, x) => s + x, 0));
  const sumOf = (gray: number) => d.reduce((s, x, i) => s + (gray & (1 << i) ? -x : x), 0);
  let s = 0;
  let extreme = 0;
  for (let k = 0; k < 2 ** n; k++) {
    const gray = k ^ (k >> 1);
    if (k % 1024 === 0) s = sumOf(gray);
    else {
      const j = 31 - Math.clz32(k & -k);
      s += gray & (1 << j) ? -2 * d[j]! : 2 * d[j]!;
    }
    if (Math.abs(s) >= observed - 1e-9) extreme++;
  }
  return extreme / 2 ** n;
}

describe('tInterval', () => {
  it('mean ± t(0.975, n−1)·s/√n: (1, 2, 3) → 2 ± 4.3027/√3', () => {
    const ci = tInterval([1, 2, 3])!;
    expect(ci.low).toBeCloseTo(2 - 4.302653 / Math.sqrt(3), 5);
    expect(ci.high).toBeCloseTo(2 + 4.302653 / Math.sqrt(3), 5);
    expect(tInterval([1])).toBeNull();
  });
});
