/**
 * Intervals that agree with the verdicts beside them: each is the set of differences δ that the comparison's own
 * test does not reject at the level Holm used for that comparison (test inversion). So an interval excludes 0
 * exactly when the verdict is a significant change, whatever the method.
 */
import { normalTail } from './distributions.js';
import type { Interval } from './wilson.js';

/**
 * The level each comparison of a family was judged at by Holm's step-down: α/(m − r + 1) for the r-th smallest
 * p-value while the step-down rejects, and α/(number left) for every one from the first it keeps on. A p-value below
 * its level is exactly a Holm rejection. null where there is no p-value.
 */
export function holmLevels(pValues: ReadonlyArray<number | null>, alpha: number): Array<number | null> {
  const tested = pValues.map((p, i) => ({ p, i })).filter((x): x is { p: number; i: number } => x.p !== null && Number.isFinite(x.p));
  tested.sort((a, b) => a.p - b.p);
  const m = tested.length;
  const out: Array<number | null> = pValues.map(() => null);
  let stopped: number | undefined;
  tested.forEach(({ p, i }, rank) => {
    const level = alpha / (m - rank);
    if (stopped === undefined && !(p < level)) stopped = level;
    out[i] = stopped ?? level;
  });
  return out;
}

/**
 * { δ : p(δ) ≥ level } around the estimate, by bisection. `p0` is the verdict's own p-value at δ = 0, so the interval
 * holds 0 exactly when p0 ≥ level; `pAt` gives the test's p-value for "the difference is δ" elsewhere. An end the
 * test never rejects up to `far` is left open (null). `far` must lie beyond every value the data support. Each end
 * is the last point found inside, within `tolerance` of the search range of the true end.
 */
export function invertTest(
  pAt: (delta: number) => number,
  p0: number,
  estimate: number,
  level: number,
  far: { low: number; high: number },
  tolerance = 1e-6,
  /** When p(δ) steps only at fractions of denominator ≤ this: each end is snapped onto its fraction once bracketed. */
  denominator?: number,
): { low: number | null; high: number | null } {
  const p = (d: number) => (d === 0 ? p0 : pAt(d));
  const end = (dir: -1 | 1): number | null => {
    // The last point known inside: 0 when 0 lies on this side of the estimate and is not rejected.
    let inside = estimate;
    let outside: number = dir < 0 ? far.low : far.high;
    if (dir * (0 - estimate) > 0) {
      if (p0 < level) outside = 0;
      else inside = 0;
    }
    if (outside !== 0 && p(outside) >= level) return null;
    const scale = Math.max(1e-12, Math.abs(outside - inside));
    if (denominator !== undefined) {
      // Two fractions of denominator ≤ D lie at least 1/D² apart, so once the end is bracketed that closely the
      // simplest fraction in the bracket is the step itself: half the steps of bisecting to the tolerance.
      const gap = 1 / (2 * denominator * denominator);
      for (let k = 0; k < 64 && Math.abs(outside - inside) > gap; k++) {
        const mid = (inside + outside) / 2;
        if (p(mid) >= level) inside = mid;
        else outside = mid;
      }
      const step = simplestFraction(Math.min(inside, outside), Math.max(inside, outside));
      if (step && step.den <= denominator) {
        const at = step.num / step.den;
        if (Math.abs(at - inside) <= 2 * gap && p(at) >= level) return at;
      }
    }
    for (let k = 0; k < 64 && Math.abs(outside - inside) > tolerance * scale; k++) {
      const mid = (inside + outside) / 2;
      if (p(mid) >= level) inside = mid;
      else outside = mid;
    }
    return inside;
  };
  return { low: end(-1), high: end(1) };
}

/**
 * The two-proportion score test of "pB − pA = δ" (Farrington–Manning: the variance at the maximum-likelihood
 * proportions under δ, Miettinen–Nurminen's closed form without their n/(n−1) factor). At δ = 0 it is the pooled
 * two-proportion z-test, so its inversion agrees with that test's verdict.
 */
export function scoreShiftP(kA: number, nA: number, kB: number, nB: number): (delta: number) => number {
  const p1 = kB / nB;
  const p2 = kA / nA;
  const theta = nA / nB;
  return (delta) => {
    const a = 1 + theta;
    const b = -(1 + theta + p1 + theta * p2 + delta * (theta + 2));
    const c = delta * delta + delta * (2 * p1 + theta + 1) + p1 + theta * p2;
    const d = -p1 * delta * (1 + delta);
    const v = b ** 3 / (27 * a ** 3) - (b * c) / (6 * a * a) + d / (2 * a);
    const u0 = Math.sqrt(Math.max(0, (b * b) / (9 * a * a) - c / (3 * a)));
    const u = v < 0 ? -u0 : u0;
    const cos = u === 0 ? 0 : Math.max(-1, Math.min(1, v / u ** 3));
    const w = (Math.PI + Math.acos(cos)) / 3;
    const t1 = Math.min(1, Math.max(0, 2 * u * Math.cos(w) - b / (3 * a)));
    const t2 = Math.min(1, Math.max(0, t1 - delta));
    const variance = (t1 * (1 - t1)) / nB + (t2 * (1 - t2)) / nA;
    const z = (p1 - p2 - delta) / Math.sqrt(variance);
    if (!Number.isFinite(z)) return p1 - p2 === delta ? 1 : 0;
    return Math.min(1, 2 * normalTail(Math.abs(z)));
  };
}

export type { Interval };

/** The fraction of smallest denominator in [lo, hi] (continued fractions); undefined past 40 levels. */
export function simplestFraction(lo: number, hi: number, depth = 0): { num: number; den: number } | undefined {
  if (depth > 40 || !(lo <= hi)) return undefined;
  if (lo <= 0 && 0 <= hi) return { num: 0, den: 1 };
  if (hi < 0) {
    const f = simplestFraction(-hi, -lo, depth);
    return f && { num: -f.num, den: f.den };
  }
  const whole = Math.ceil(lo);
  if (whole <= hi) return { num: whole, den: 1 };
  const floor = Math.floor(lo);
  const f = simplestFraction(1 / (hi - floor), 1 / (lo - floor), depth + 1);
  return f && { num: floor * f.num + f.den, den: f.num };
}
