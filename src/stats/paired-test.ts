import { normalTail, studentTQuantile } from './distributions.js';
import type { Interval } from './wilson.js';

export type PairedMethod = 'sign-flip-exact' | 'sign-flip-monte-carlo' | 'sign-flip-normal';

export interface PairedResult {
  /** Pairs used (rows where both sides have a value), zero differences included. */
  pairs: number;
  meanA: number;
  meanB: number;
  /** Mean of (b − a) over the pairs. */
  diff: number;
  /** 95% t-interval of the mean difference; null with fewer than 2 pairs. */
  interval: Interval | null;
  /** Two-sided p-value of "no difference"; 1 when every difference is 0, null with no pairs. */
  p: number | null;
  method: PairedMethod;
  /** The per-row differences b − a over the pairs (the interval inverts the test on them). */
  diffs: number[];
}

/** Up to this many non-zero differences off a lattice, the 2^m sign patterns are all enumerated. */
export const EXACT_MAX = 20;
/** Up to this many, a seeded Monte Carlo sample of sign patterns; above, the normal approximation of the sum. */
export const MONTE_CARLO_MAX = 400;
export const RESAMPLES = 10_000;
/** Rates of up to this many choices per row (and their differences) are recognised as lying on a lattice. */
export const LATTICE_MAX_SCALE = 64;
/** The exact lattice distribution is computed when m × Σ|weights| stays under this (~20 ms). */
export const LATTICE_WORK_MAX = 20_000_000;

/**
 * Paired sign-flip permutation test (Fisher–Pitman) on per-row differences. Under "the two settings are
 * exchangeable for each row", every difference is as likely positive as negative, so the observed sum is compared
 * with the sums of all 2^m sign patterns. It needs no normality (rates of 0–n choices per row are lumpy), uses the
 * size of each row's difference (unlike the sign test), and with n = 1 choice per row it is the exact McNemar test.
 */
export function pairedSignFlip(a: ArrayLike<number>, b: ArrayLike<number>, seed = 0x5eed): PairedResult {
  const diffs: number[] = [];
  let sumA = 0;
  let sumB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) continue;
    diffs.push(y - x);
    sumA += x;
    sumB += y;
  }
  const n = diffs.length;
  const method: PairedMethod = 'sign-flip-exact';
  if (n === 0) return { pairs: 0, meanA: NaN, meanB: NaN, diff: NaN, interval: null, p: null, method, diffs };
  const diff = (sumB - sumA) / n;
  const nonZero = diffs.filter((d) => Math.abs(d) > 1e-12);
  const { p, method: used } = signFlipP(nonZero, seed);
  return { pairs: n, meanA: sumA / n, meanB: sumB / n, diff, interval: tInterval(diffs), p, method: used, diffs };
}

/**
 * The two-sided p-value of the sign-flip test, computed the cheapest exact way the differences allow:
 * - on a lattice (row rates are multiples of 1/n, so their differences are too): the exact distribution of the
 *   signed sum by counting subset sums, O(m · Σ weights) — exact for thousands of rows in milliseconds;
 * - off a lattice (e.g. latencies), up to EXACT_MAX rows: all 2^m patterns;
 * - then a seeded Monte Carlo up to MONTE_CARLO_MAX rows, and the normal approximation beyond.
 */
export function signFlipP(d: readonly number[], seed = 0x5eed): { p: number; method: PairedMethod } {
  const m = d.length;
  if (m === 0) return { p: 1, method: 'sign-flip-exact' };
  const weights = latticeWeights(d);
  if (weights) return { p: latticeP(weights), method: 'sign-flip-exact' };
  const observed = Math.abs(d.reduce((s, x) => s + x, 0));
  const scale = d.reduce((s, x) => s + Math.abs(x), 0);
  // Sums equal up to rounding must count as "as extreme": 1/3 + 1/3 + 1/3 need not equal 1 in floating point.
  const threshold = observed - 1e-9 * Math.max(1, scale);
  if (m <= EXACT_MAX) {
    // Gray-code walk: each step flips one sign, so each of the 2^m sums costs O(1).
    let sum = scale;
    let extreme = sum >= threshold ? 1 : 0;
    const sign = new Int8Array(m).fill(1);
    const total = 2 ** m;
    for (let k = 1; k < total; k++) {
      const j = 31 - Math.clz32(k & -k);
      sum -= 2 * sign[j]! * Math.abs(d[j]!);
      sign[j] = -sign[j]! as 1 | -1;
      if (Math.abs(sum) >= threshold) extreme++;
    }
    return { p: extreme / total, method: 'sign-flip-exact' };
  }
  if (m <= MONTE_CARLO_MAX) {
    const random = mulberry32(seed);
    let extreme = 0;
    for (let r = 0; r < RESAMPLES; r++) {
      // One 32-bit draw gives the signs of 32 rows.
      let sum = 0;
      let bits = 0;
      for (let i = 0; i < m; i++) {
        if ((i & 31) === 0) bits = (random() * 4294967296) >>> 0;
        sum += bits & 1 ? d[i]! : -d[i]!;
        bits >>>= 1;
      }
      if (Math.abs(sum) >= threshold) extreme++;
    }
    // (1 + b) / (1 + R): a Monte Carlo p-value is never 0, and the test stays valid (Phipson & Smyth 2010).
    return { p: (1 + extreme) / (1 + RESAMPLES), method: 'sign-flip-monte-carlo' };
  }
  // Large m: the sum of independent ±d_i is close to normal with variance Σ d_i² (Lindeberg CLT).
  const sd = Math.sqrt(d.reduce((s, x) => s + x * x, 0));
  return { p: Math.min(1, 2 * normalTail(observed / sd)), method: 'sign-flip-normal' };
}

/**
 * The differences as whole numbers d_i · s for the smallest scale s ≤ LATTICE_MAX_SCALE that makes every one whole
 * (signs kept), or undefined when there is none, or when the exact distribution would cost more than
 * LATTICE_WORK_MAX steps.
 */
function latticeWeights(d: readonly number[]): Int32Array | undefined {
  const m = d.length;
  const weights = new Int32Array(m);
  for (let s = 1; s <= LATTICE_MAX_SCALE; s++) {
    let total = 0;
    let i = 0;
    for (; i < m; i++) {
      const x = d[i]! * s;
      const w = Math.round(x);
      if (Math.abs(x - w) > 1e-9 * Math.max(1, Math.abs(x))) break;
      weights[i] = w;
      total += Math.abs(w);
    }
    if (i < m) continue;
    return m * total <= LATTICE_WORK_MAX ? weights : undefined;
  }
  return undefined;
}

/**
 * P(|Σ ±w_i| ≥ |Σ w_i|) with each sign ±1 at ½, exactly: the distribution of T, the total of the weights whose sign
 * comes up +, is built one weight at a time (the signed sum is then 2T − W). Probabilities are dyadic, so small
 * cases are exact to the last bit.
 */
function latticeP(weights: Int32Array): number {
  let observed = 0;
  let total = 0;
  for (const w of weights) {
    observed += w;
    total += Math.abs(w);
  }
  observed = Math.abs(observed);
  let dist = new Float64Array(total + 1);
  let next = new Float64Array(total + 1);
  dist[0] = 1;
  let reach = 0;
  for (const signed of weights) {
    const w = Math.abs(signed);
    next.fill(0, 0, reach + w + 1);
    for (let t = 0; t <= reach; t++) {
      const q = dist[t]! * 0.5;
      next[t] = next[t]! + q;
      next[t + w] = next[t + w]! + q;
    }
    reach += w;
    [dist, next] = [next, dist];
  }
  let p = 0;
  for (let t = 0; t <= total; t++) if (Math.abs(2 * t - total) >= observed) p += dist[t]!;
  return Math.min(1, p);
}

/** mean ± t(0.975, n−1) · sd/√n. Describes the size of the change; the decision is the permutation test's. */
export function tInterval(values: readonly number[]): Interval | null {
  const n = values.length;
  if (n < 2) return null;
  const mean = values.reduce((s, x) => s + x, 0) / n;
  const variance = values.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  const half = studentTQuantile(0.975, n - 1) * Math.sqrt(variance / n);
  return { low: mean - half, high: mean + half };
}

/** A small, seedable PRNG: the same run gives the same p-values, run after run. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
