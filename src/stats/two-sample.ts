import { normalTail, studentTCdf, studentTQuantile } from './distributions.js';
import { wilson, type Interval } from './wilson.js';

export interface UnpairedResult {
  diff: number;
  interval: Interval | null;
  p: number | null;
  method: 'two-proportion-z' | 'welch-t';
  /** Welch: the interval at a two-sided level (1 − level confidence), from the same t statistic and df as `p`. */
  intervalAt?: (level: number) => Interval;
}

/**
 * Difference of two proportions (b − a) when the rows cannot be paired: a pooled two-proportion z-test for the
 * p-value and Newcombe's hybrid score interval (his method 10, built from the two Wilson intervals) for the
 * difference, which unlike the Wald interval stays inside [−1, 1] and behaves at 0% and 100%. It treats every
 * choice as independent, so with n > 1 choices per row it overstates significance; pairing is preferred.
 */
export function twoProportions(kA: number, nA: number, kB: number, nB: number): UnpairedResult {
  const method = 'two-proportion-z';
  if (!(nA > 0 && nB > 0)) return { diff: NaN, interval: null, p: null, method };
  const pA = kA / nA;
  const pB = kB / nB;
  const pooled = (kA + kB) / (nA + nB);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / nA + 1 / nB));
  const p = se === 0 || pA === pB ? 1 : Math.min(1, 2 * normalTail(Math.abs(pB - pA) / se));
  return { diff: pB - pA, interval: newcombe(kA, nA, kB, nB), p, method };
}

/** Newcombe (1998) method 10 for pB − pA. */
export function newcombe(kA: number, nA: number, kB: number, nB: number): Interval | null {
  const a = wilson(kA, nA);
  const b = wilson(kB, nB);
  if (!a || !b) return null;
  const pA = kA / nA;
  const pB = kB / nB;
  const d = pB - pA;
  return {
    low: d - Math.sqrt((pB - b.low) ** 2 + (a.high - pA) ** 2),
    high: d + Math.sqrt((b.high - pB) ** 2 + (pA - a.low) ** 2),
  };
}

export interface Moments {
  n: number;
  mean: number;
  /** Sample variance (n − 1 denominator). */
  variance: number;
}

/** Welch's t-test and interval for a difference of means (latency) when rows cannot be paired. */
export function welch(a: Moments, b: Moments): UnpairedResult {
  const method = 'welch-t';
  if (a.n < 2 || b.n < 2) return { diff: b.mean - a.mean, interval: null, p: null, method };
  const va = a.variance / a.n;
  const vb = b.variance / b.n;
  const se = Math.sqrt(va + vb);
  const diff = b.mean - a.mean;
  if (se === 0) return { diff, interval: { low: diff, high: diff }, p: diff === 0 ? 1 : 0, method, intervalAt: () => ({ low: diff, high: diff }) };
  const df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1));
  const t = diff / se;
  const intervalAt = (level: number): Interval => {
    const half = studentTQuantile(1 - level / 2, df) * se;
    return { low: diff - half, high: diff + half };
  };
  return { diff, interval: intervalAt(0.05), p: 2 * (1 - studentTCdf(Math.abs(t), df)), method, intervalAt };
}
