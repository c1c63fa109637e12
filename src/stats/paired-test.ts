import { normalQuantile, normalTail, studentTQuantile } from './distributions.js';
import { invertTest } from './test-interval.js';
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
  /** Two-sided p-value of "no difference" (the shift test at δ = 0); 1 when every difference is 0, null with no pairs. */
  p: number | null;
  method: PairedMethod;
  /** The per-row differences b − a over the pairs. */
  diffs: number[];
  /** The test of "the mean row difference is δ" that `p` is the δ = 0 case of; null with no pairs. */
  test: ShiftTest | null;
}

/**
 * The paired sign-flip test of "the mean row difference is δ", for any δ: under it the shifted differences d_i − δ
 * are as likely positive as negative, so |Σ(d_i − δ)| is compared with |Σ ±(d_i − δ)| over sign patterns. δ = 0 is
 * `compare`'s verdict; the interval is every δ the same test does not reject (test inversion), so it holds 0 exactly
 * when the verdict is "no change". One method per data set (chosen from the data, never from δ), so p(δ) is one
 * function and its interval is exact.
 */
export interface ShiftTest {
  pairs: number;
  /** The mean difference: p(estimate) = 1. */
  estimate: number;
  method: PairedMethod;
  p(delta: number): number;
  /** { δ : p(δ) ≥ level }, an interval around the estimate; an end the test never rejects is open (null). */
  interval(level: number): { low: number | null; high: number | null };
}

/** Up to this many pairs off a lattice, the 2^m sign patterns are all enumerated. */
export const EXACT_MAX = 16;
/** Up to this many, a seeded Monte Carlo sample of sign patterns; above, the normal approximation of the sum. */
export const MONTE_CARLO_MAX = 400;
export const RESAMPLES = 10_000;
/**
 * Monte Carlo stops once this many patterns are as extreme as the data (Besag & Clifford's sequential p-value, h/l
 * after l patterns): a comparison with no change stops after a few dozen patterns, one near the threshold runs all.
 */
export const SEQUENTIAL_HITS = 20;
/** Rates of up to this many choices per row (and their differences) are recognised as lying on a lattice. */
export const LATTICE_MAX_SCALE = 64;
/** The exact joint distribution on a lattice is built when it has at most this many points… */
export const LATTICE_ATOMS_MAX = 50_000;
/** …and costs at most this many steps (a few ms: an interval may be asked for each comparison of a noise floor). */
export const LATTICE_WORK_MAX = 5_000_000;
/**
 * Beyond those, the verdict's p is still counted exactly on the lattice (the marginal distribution of Σ±w, at most
 * this many steps), and only the interval is the normal approximation's.
 */
export const LATTICE_P_WORK_MAX = 20_000_000;

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
  if (n === 0) return { pairs: 0, meanA: NaN, meanB: NaN, diff: NaN, interval: null, p: null, method: 'sign-flip-exact', diffs, test: null };
  const test = signFlipTest(diffs, seed);
  return {
    pairs: n,
    meanA: sumA / n,
    meanB: sumB / n,
    diff: (sumB - sumA) / n,
    // Computed when read: compare and history show the inverted test's interval, not this one.
    get interval() {
      return tInterval(diffs);
    },
    p: test.p(0),
    method: test.method,
    diffs,
    test,
  };
}

/** The two-sided p-value of "no difference" on these differences: `signFlipTest(d).p(0)`. */
export function signFlipP(d: readonly number[], seed = 0x5eed): { p: number; method: PairedMethod } {
  const test = signFlipTest(d, seed);
  return { p: test.p(0), method: test.method };
}

/**
 * The shift test on these differences (zeros included: at δ ≠ 0 they are differences too), computed the cheapest
 * exact way the data allow:
 * - on a lattice (row rates are multiples of 1/n, so their differences are too): the exact joint distribution of
 *   (Σ±d, Σ±1) over the non-zero rows, the zero rows' share as a binomial; bisection on δ for the interval;
 * - off a lattice, up to EXACT_MAX pairs: all 2^m patterns; up to MONTE_CARLO_MAX, 10,000 seeded patterns (p(0)
 *   sequential: see SEQUENTIAL_HITS; p elsewhere and the interval from all of them, 0 placed by p(0)). Each
 *   pattern is "as extreme" on an interval of δ around the estimate, so p(δ) counts the intervals holding δ and the
 *   interval's ends are order statistics of theirs (exact, no search);
 * - beyond: the normal approximation of Σ±(d_i − δ) (variance Σ(d_i − δ)²), inverted in closed form.
 */
export function signFlipTest(d: readonly number[], seed = 0x5eed): ShiftTest {
  const m = d.length;
  if (m === 0) return { pairs: 0, estimate: NaN, method: 'sign-flip-exact', p: () => 1, interval: () => ({ low: null, high: null }) };
  const lattice = latticeTest(d);
  if (lattice) return lattice;
  if (m <= EXACT_MAX) return patternTest(d, exactPatterns(m), 'sign-flip-exact');
  if (m <= MONTE_CARLO_MAX) return patternTest(d, randomPatterns(m, seed), 'sign-flip-monte-carlo');
  return normalTest(d);
}

// ---------------------------------------------------------------------------------------------------------------
// Sign patterns (exact enumeration and Monte Carlo)

interface Patterns {
  count: number;
  /** Bytes per pattern: bit j of byte g is the sign of row 8g + j (1: +). */
  stride: number;
  bytes: Uint8Array;
  /** Σ±1 over the m rows, per pattern. */
  B: Int32Array;
}

const exactCache = new Map<number, Patterns>();

function exactPatterns(m: number): Patterns {
  const cached = exactCache.get(m);
  if (cached) return cached;
  const count = 2 ** m;
  const stride = Math.ceil(m / 8);
  const bytes = new Uint8Array(count * stride);
  const B = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    for (let g = 0; g < stride; g++) bytes[k * stride + g] = (k >>> (8 * g)) & 255;
    B[k] = 2 * popcount(k) - m;
  }
  const p = { count, stride, bytes, B };
  exactCache.set(m, p);
  return p;
}

const patternCache = new Map<string, Patterns>();

/** The same seeded patterns for every comparison of m pairs (a history's thousands of comparisons draw them once). */
function randomPatterns(m: number, seed: number): Patterns {
  const key = `${m}:${seed}`;
  const cached = patternCache.get(key);
  if (cached) return cached;
  const words = Math.ceil(m / 32);
  const stride = Math.ceil(m / 8);
  const bytes = new Uint8Array(RESAMPLES * stride);
  const B = new Int32Array(RESAMPLES);
  const random = mulberry32(seed);
  const lastMask = m % 32 === 0 ? 0xffffffff : (1 << m % 32) - 1;
  for (let r = 0; r < RESAMPLES; r++) {
    let plus = 0;
    for (let w = 0; w < words; w++) {
      // One 32-bit draw gives the signs of 32 rows; bits past the last row are cleared.
      const word = ((random() * 4294967296) >>> 0) & (w === words - 1 ? lastMask : 0xffffffff);
      plus += popcount(word);
      for (let g = 4 * w; g < Math.min(stride, 4 * w + 4); g++) bytes[r * stride + g] = (word >>> (8 * (g & 3))) & 255;
    }
    B[r] = 2 * plus - m;
  }
  const p = { count: RESAMPLES, stride, bytes, B };
  if (patternCache.size >= 16) patternCache.delete(patternCache.keys().next().value!);
  patternCache.set(key, p);
  return p;
}

/** The k-th smallest (from 0) of `xs`, which it reorders (Hoare's selection, expected linear time). */
function select(xs: Float64Array, k: number): number {
  let left = 0;
  let right = xs.length - 1;
  while (left < right) {
    const pivot = xs[(left + right) >>> 1]!;
    let i = left;
    let j = right;
    while (i <= j) {
      while (xs[i]! < pivot) i++;
      while (xs[j]! > pivot) j--;
      if (i <= j) {
        const x = xs[i]!;
        xs[i] = xs[j]!;
        xs[j] = x;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return xs[k]!;
  }
  return xs[k]!;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) as number;
}

/**
 * Pattern k with sums A = Σ±d_i, B = Σ±1 is as extreme as the data at δ when |A − δB| ≥ |S − mδ| − t (t absorbs
 * rounding: sums equal up to rounding count as equal). Solved for δ, that is the interval
 * [min(u − t/(m−B), v − t/(m+B)), max(u + t/(m−B), v + t/(m+B))] with u = (S−A)/(m−B), v = (S+A)/(m+B), which
 * holds the estimate S/m; the patterns with B = ±m are as extreme at every δ.
 */
function patternTest(d: readonly number[], pat: Patterns, method: PairedMethod): ShiftTest {
  const m = d.length;
  let S = 0;
  let scale = 0;
  for (const x of d) {
    S += x;
    scale += Math.abs(x);
  }
  const estimate = S / m;
  const t = 1e-9 * Math.max(1, scale);
  // Σ±d over 8 rows at a time from a table of the 256 sign bytes: a pattern's sum is m/8 look-ups.
  const bytes = Math.ceil(m / 8);
  const table = new Float64Array(bytes * 256);
  const row = (i: number) => (i < m ? d[i]! : 0);
  for (let g = 0; g < bytes; g++) {
    let base = 0;
    for (let j = 0; j < 8; j++) base -= row(8 * g + j);
    table[g * 256] = base;
    for (let b = 1; b < 256; b++) {
      const low = b & -b;
      table[g * 256 + b] = table[g * 256 + (b ^ low)]! + 2 * row(8 * g + (31 - Math.clz32(low)));
    }
  }
  const { count, stride, B } = pat;
  const signs = pat.bytes;
  const sumOf = (k: number) => {
    const base = k * stride;
    let a = 0;
    for (let g = 0; g < stride; g++) a += table[(g << 8) | signs[base + g]!]!;
    return a;
  };
  const threshold = Math.abs(S) - t;
  const exact = method === 'sign-flip-exact';
  const pOf = (c: number) => Math.min(1, exact ? c / count : (1 + c) / (1 + count));
  let p0: number;
  if (exact) {
    let extreme0 = 0;
    for (let k = 0; k < count; k++) if (Math.abs(sumOf(k)) >= threshold) extreme0++;
    p0 = pOf(extreme0);
  } else {
    // Sequential (Besag & Clifford 1991): the patterns in their seeded order until SEQUENTIAL_HITS are as extreme;
    // h/l then, else (1 + g)/(1 + count) as the full sample gives. Valid at every level, as the full count is; it
    // is less precise only far above any level a verdict is judged at.
    let extreme0 = 0;
    let k = 0;
    while (k < count && extreme0 < SEQUENTIAL_HITS) if (Math.abs(sumOf(k++)) >= threshold) extreme0++;
    p0 = extreme0 === SEQUENTIAL_HITS ? Math.min(1, extreme0 / k) : pOf(extreme0);
  }
  // Each pattern's interval of δ, built when an interval (or p elsewhere than 0) is asked for.
  let built: { lo: Float64Array; hi: Float64Array; n: number; always: number } | undefined;
  const build = () => {
    const lo = new Float64Array(count);
    const hi = new Float64Array(count);
    let n = 0;
    let always = 0;
    for (let k = 0; k < count; k++) {
      const b = B[k]!;
      if (b === m || b === -m) {
        always++;
        continue;
      }
      const a = sumOf(k);
      const e1 = t / (m - b);
      const e2 = t / (m + b);
      const u = (S - a) / (m - b);
      const v = (S + a) / (m + b);
      let l = Math.min(u - e1, v - e2, estimate);
      let h = Math.max(u + e1, v + e2, estimate);
      // Whether the pattern counts at δ = 0 is the verdict's own comparison: rounding in u, v never moves it.
      if (Math.abs(a) >= threshold) {
        l = Math.min(l, 0);
        h = Math.max(h, 0);
      } else if (estimate > 0) l = Math.max(l, Number.MIN_VALUE);
      else h = Math.min(h, -Number.MIN_VALUE);
      lo[n] = l;
      hi[n] = h;
      n++;
    }
    return (built = { lo, hi, n, always });
  };
  const p = (delta: number) => {
    if (delta === 0) return p0;
    const { lo, hi, n, always } = built ?? build();
    let c = always;
    for (let k = 0; k < n; k++) if (lo[k]! <= delta && delta <= hi[k]!) c++;
    return pOf(c);
  };
  const interval = (level: number) => {
    const { lo, hi, n, always } = built ?? build();
    // The fewest "as extreme" patterns that keep p ≥ level; δ below the estimate keeps the patterns whose interval
    // starts at or before it, so the low end is the need-th smallest start (and the high end the need-th largest end).
    let c = Math.max(0, Math.floor(level * count) - 2);
    while (c < count && pOf(c) < level) c++;
    const need = c - always;
    if (need <= 0) return { low: null, high: null };
    const ends = { low: select(lo.slice(0, n), need - 1), high: select(hi.slice(0, n), n - need) };
    // A sequential p(0) may fall on the other side of the level than the full count near it: 0 is placed by the
    // verdict's own p, so the interval excludes 0 exactly when the verdict rejects (as the normal approximation's).
    if (p0 >= level) return { low: Math.min(ends.low, 0), high: Math.max(ends.high, 0) };
    if (ends.low <= 0 && 0 <= ends.high) return estimate > 0 ? { low: Number.MIN_VALUE, high: ends.high } : { low: ends.low, high: -Number.MIN_VALUE };
    return ends;
  };
  return { pairs: m, estimate, method, p, interval };
}

// ---------------------------------------------------------------------------------------------------------------
// Lattice: exact joint distribution

/**
 * The differences as whole numbers d_i · s for the smallest scale s ≤ LATTICE_MAX_SCALE that makes every one whole
 * (signs kept), or undefined when there is none.
 */
function latticeWeights(d: readonly number[]): { weights: Int32Array; scale: number } | undefined {
  const m = d.length;
  const weights = new Int32Array(m);
  for (let s = 1; s <= LATTICE_MAX_SCALE; s++) {
    let i = 0;
    for (; i < m; i++) {
      const x = d[i]! * s;
      const w = Math.round(x);
      if (Math.abs(x - w) > 1e-9 * Math.max(1, Math.abs(x))) break;
      weights[i] = w;
    }
    if (i === m) return { weights, scale: s };
  }
  return undefined;
}

/**
 * On a lattice, in whole units: the joint distribution of (A, B') = (Σ±w, Σ±1) over the non-zero rows is built
 * group by group (rows of equal weight are exchangeable: j of k take +, with probability C(k, j)/2^k). The z zero
 * rows add only to B, as 2·Bin(z, ½) − z, so at δ each point of the joint distribution is as extreme with the
 * binomial probability that B_z lies outside an interval: p(δ) costs one pass over the points. Undefined when the
 * distribution would be too large (many non-zero rows: then the sum is close to normal anyway).
 */
function latticeTest(d: readonly number[]): ShiftTest | undefined {
  const found = latticeWeights(d);
  if (!found) return undefined;
  const { weights, scale } = found;
  const m = d.length;
  const groups = new Map<number, number>();
  let S = 0;
  let total = 0;
  for (const w of weights) {
    S += w;
    total += Math.abs(w);
    if (w !== 0) groups.set(w, (groups.get(w) ?? 0) + 1);
  }
  const zeros = m - [...groups.values()].reduce((s, k) => s + k, 0);
  // Reachable states: P (pluses among the non-zero rows) × T (their weights' total), in a dense rectangle.
  let rows = 0;
  let tMin = 0;
  let tMax = 0;
  let work = 0;
  for (const [w, k] of groups) {
    rows += k;
    if (w < 0) tMin += w * k;
    else tMax += w * k;
    work += (rows + 1) * (tMax - tMin + 1) * (k + 1);
  }
  const width = tMax - tMin + 1;
  if ((rows + 1) * width > LATTICE_ATOMS_MAX || work > LATTICE_WORK_MAX) {
    return rows * total <= LATTICE_P_WORK_MAX ? normalTest(d, latticeP(weights)) : undefined;
  }
  // The joint distribution is built when p is asked for elsewhere than 0 (an interval): most comparisons need only
  // the verdict, whose p is the marginal distribution of Σ±w (the same numbers, a cheaper count).
  let pUnits: ((x: number) => number) | undefined;
  const joint = (): ((x: number) => number) => {
    let dist = new Float64Array((rows + 1) * width);
    let next = new Float64Array((rows + 1) * width);
    dist[0 * width + (0 - tMin)] = 1;
    let pr = 0;
    let lo = 0;
    let hi = 0;
    for (const [w, k] of groups) {
      const binom = binomial(k);
      next.fill(0);
      for (let P = 0; P <= pr; P++) {
        for (let T = lo; T <= hi; T++) {
          const q = dist[P * width + (T - tMin)]!;
          if (q === 0) continue;
          for (let j = 0; j <= k; j++) {
            const at = (P + j) * width + (T + j * w - tMin);
            next[at] = next[at]! + q * binom[j]!;
          }
        }
      }
      pr += k;
      if (w < 0) lo += w * k;
      else hi += w * k;
      [dist, next] = [next, dist];
    }
    const t = 1e-9 * Math.max(1, total);
    const zeroP = binomial(zeros);
    if ((rows + 1) * (zeros + 1) * 2 < (rows + 1) * width) {
      // Fewer (P, zero pluses) pairs than points: per pair, the extreme T lie below one whole number and above
      // another, read off each P's cumulative distribution of T (the same sum as the loop over points below).
      const cum = new Float64Array((rows + 1) * width);
      for (let P = 0; P <= rows; P++) {
        let acc = 0;
        for (let k = 0; k < width; k++) cum[P * width + k] = acc += dist[P * width + k]!;
      }
      /** P(T ≤ T0) in row P. */
      const atMost = (P: number, T0: number) => (T0 < tMin ? 0 : T0 >= tMax ? cum[P * width + width - 1]! : cum[P * width + (T0 - tMin)]!);
      pUnits = (x: number) => {
        const c = Math.abs(S - m * x) - t;
        if (c <= 0) return 1;
        let p = 0;
        for (let P = 0; P <= rows; P++) {
          const rowTotal = cum[P * width + width - 1]!;
          if (rowTotal === 0) continue;
          for (let j = 0; j <= zeros; j++) {
            // Σ±(w − x) = 2T − S − x·B with B = Σ±1 over all m rows: extreme when 2T ≤ S + xB − c or 2T ≥ S + xB + c.
            const mid = S + x * (2 * P - rows + 2 * j - zeros);
            const low = atMost(P, Math.floor((mid - c) / 2));
            const high = rowTotal - atMost(P, Math.ceil((mid + c) / 2) - 1);
            p += zeroP[j]! * (low + high);
          }
        }
        return Math.min(1, p);
      };
      return pUnits;
    }
    const prob: number[] = [];
    const atomA: number[] = [];
    const atomB: number[] = [];
    for (let P = 0; P <= rows; P++) {
      for (let T = tMin; T <= tMax; T++) {
        const q = dist[P * width + (T - tMin)]!;
        if (q === 0) continue;
        prob.push(q);
        atomA.push(2 * T - S);
        atomB.push(2 * P - rows);
      }
    }
    const zeroCdf = cumulative(zeroP);
    /** P(B_z ≤ b) for B_z = 2·Bin(z, ½) − z. */
    const below = (b: number) => {
      const j = Math.floor((b + zeros) / 2 + 1e-9);
      return j < 0 ? 0 : j >= zeros ? 1 : zeroCdf[j]!;
    };
    /** x = δ in whole units. */
    pUnits = (x: number) => {
      const c = Math.abs(S - m * x) - t;
      if (c <= 0) return 1;
      let p = 0;
      for (let i = 0; i < prob.length; i++) {
        const y = atomA[i]! - x * atomB[i]!;
        if (x === 0) {
          if (Math.abs(y) >= c) p += prob[i]!;
          continue;
        }
        // |y − x·B_z| ≥ c: x·B_z ≤ y − c or x·B_z ≥ y + c.
        const [l, h] = x > 0 ? [(y - c) / x, (y + c) / x] : [(y + c) / x, (y - c) / x];
        p += prob[i]! * (below(l) + 1 - belowStrict(h));
      }
      return Math.min(1, p);
    };
    /** P(B_z < b). */
    const belowStrict = (b: number) => {
      const j = Math.ceil((b + zeros) / 2 - 1e-9) - 1;
      return j < 0 ? 0 : j >= zeros ? 1 : zeroCdf[j]!;
    };
    return pUnits!;
  };
  const estimate = S / m / scale;
  const p = (delta: number) => (pUnits ?? joint())(delta * scale);
  const p0 = latticeP(weights);
  let wMin = 0;
  let wMax = 0;
  for (const w of weights) {
    wMin = Math.min(wMin, w);
    wMax = Math.max(wMax, w);
  }
  const pad = (wMax - wMin + 1) / scale;
  // p(δ) steps at rational points; the ends are found to 1e-10 of the search range (30-odd steps).
  // p(δ) steps where a pattern's |Σ±(d_i − δ)| meets |Σ(d_i − δ)|: at fractions (S ∓ A)/((m ∓ B)·scale) in units.
  const interval = (level: number) => invertTest(p, p0, estimate, level, { low: wMin / scale - pad, high: wMax / scale + pad }, 1e-10, 2 * m * scale);
  return { pairs: m, estimate, method: 'sign-flip-exact', p: (delta) => (delta === 0 ? p0 : p(delta)), interval };
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
    if (w === 0) continue;
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

const binomials = new Map<number, Float64Array>();

/**
 * C(k, j) / 2^k for j = 0..k: by halving Pascal's rows up to 1,000 (dyadic, so small cases are exact to the last
 * bit, as the McNemar test must be), through logarithms beyond (2^−k underflows past k = 1074).
 */
function binomial(k: number): Float64Array {
  const cached = binomials.get(k);
  if (cached) return cached;
  const out = new Float64Array(k + 1);
  if (k <= 1000) {
    out[0] = 1;
    for (let n = 1; n <= k; n++) {
      for (let j = n; j >= 1; j--) out[j] = (out[j]! + out[j - 1]!) / 2;
      out[0] = out[0]! / 2;
    }
  } else {
    let log = -k * Math.LN2;
    for (let j = 0; j <= k; j++) {
      if (j > 0) log += Math.log((k - j + 1) / j);
      out[j] = Math.exp(log);
    }
  }
  if (binomials.size >= 64) binomials.delete(binomials.keys().next().value!);
  binomials.set(k, out);
  return out;
}

function cumulative(p: Float64Array): Float64Array {
  const out = new Float64Array(p.length);
  let s = 0;
  for (let j = 0; j < p.length; j++) out[j] = s += p[j]!;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Normal approximation

/**
 * Σ±(d_i − δ) is close to normal with variance Σ(d_i − δ)² for many rows (Lindeberg CLT). `exactP0`: the verdict's
 * p counted exactly on a lattice too large for its joint distribution; the interval is then this approximation's,
 * with 0 placed by that exact p.
 */
function normalTest(d: readonly number[], exactP0?: number): ShiftTest {
  const m = d.length;
  let S = 0;
  let Q = 0;
  for (const x of d) {
    S += x;
    Q += x * x;
  }
  const estimate = S / m;
  const p = (delta: number) => {
    const variance = Q - 2 * delta * S + m * delta * delta;
    const observed = Math.abs(S - m * delta);
    return variance <= 0 ? 1 : Math.min(1, 2 * normalTail(observed / Math.sqrt(variance)));
  };
  const p0 = exactP0 ?? p(0);
  // (S − mδ)² ≤ z²·Σ(d_i − δ)²: a quadratic in δ, solved; 0 is placed by the verdict's own p (rounding aside).
  const interval = (level: number) => {
    const z = normalQuantile(1 - level / 2);
    const a = m * (m - z * z);
    if (a <= 0) return { low: null, high: null };
    const half = Math.sqrt(Math.max(0, (m - z * z) * z * z * (m * Q - S * S))) / a;
    let low = estimate - half;
    let high = estimate + half;
    if (p0 >= level) {
      low = Math.min(low, 0);
      high = Math.max(high, 0);
    } else if (low <= 0 && 0 <= high) {
      if (estimate > 0) low = Number.MIN_VALUE;
      else high = -Number.MIN_VALUE;
    }
    return { low, high };
  };
  return { pairs: m, estimate, method: exactP0 === undefined ? 'sign-flip-normal' : 'sign-flip-exact', p: (delta) => (delta === 0 ? p0 : p(delta)), interval };
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
