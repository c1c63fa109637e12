/**
 * Chance-corrected agreement between two raters (people and a check) over k ordered categories: Cohen's κ, weighted
 * with quadratic agreement weights. With two categories (pass/fail) the weights are the identity and this is Cohen's
 * plain κ. The interval is the large-sample one of Fleiss, Cohen & Everitt (1969), from the k × k table alone, so
 * the counts can be kept while records stream by (docs/decisions.md "Agreement with people").
 */

/** z for a two-sided 95% interval. */
const Z95 = 1.959963984540054;

/** w_ij = 1 - (i - j)² / (k - 1)²: full credit on the diagonal, none at opposite ends of the scale. */
export function quadraticWeights(k: number): number[][] {
  return Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => (k === 1 ? 1 : 1 - ((i - j) * (i - j)) / ((k - 1) * (k - 1)))));
}

export interface Kappa {
  /** null: undefined (see `note`), never NaN. */
  kappa: number | null;
  low: number | null;
  high: number | null;
  /** Pairs counted: choices with both a human label and a verdict. */
  n: number;
  /** The share of pairs in exactly the same category (null when n is 0). */
  observed: number | null;
  /** Why κ is undefined, in words; absent when it is defined. */
  note?: string;
}

/**
 * κ of a k × k table of counts, row-major: `counts[i * k + j]` pairs whose human label is category i and whose
 * verdict is category j. Undefined (null, with the reason) when nothing is counted, or when every human label is in
 * one category: then κ is 0 or 0/0 whatever the check does, so it cannot say whether the check agrees with people.
 * A check that gives one verdict to every choice while people disagree among themselves gets κ = 0, as it should.
 */
export function weightedKappa(counts: ArrayLike<number>, k: number): Kappa {
  let n = 0;
  for (let i = 0; i < k * k; i++) n += counts[i]!;
  if (n === 0) return { kappa: null, low: null, high: null, n: 0, observed: null, note: 'no choice has both a human label and a verdict' };
  const rows = new Array<number>(k).fill(0);
  const cols = new Array<number>(k).fill(0);
  let diagonal = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const p = counts[i * k + j]! / n;
      rows[i]! += p;
      cols[j]! += p;
      if (i === j) diagonal += p;
    }
  }
  const labelled = rows.filter((r) => r > 0).length;
  if (labelled < 2) {
    return { kappa: null, low: null, high: null, n, observed: diagonal, note: `every human label is in one category (${n} labelled): κ cannot tell agreement from chance; label choices of more than one kind` };
  }
  const w = quadraticWeights(k);
  let po = 0;
  let pe = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      po += w[i]![j]! * (counts[i * k + j]! / n);
      pe += w[i]![j]! * rows[i]! * cols[j]!;
    }
  }
  // Two human categories make pe < 1 whatever the verdicts are: the division is safe.
  const kappa = (po - pe) / (1 - pe);
  // Fleiss, Cohen & Everitt (1969), the variance of κ_w when κ is not 0: w̄_i. and w̄_.j are the weights averaged
  // over the other rater's marginal.
  const rowBar = rows.map((_, i) => cols.reduce((s, c, j) => s + c * w[i]![j]!, 0));
  const colBar = cols.map((_, j) => rows.reduce((s, r, i) => s + r * w[i]![j]!, 0));
  let sum = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const d = w[i]![j]! - (rowBar[i]! + colBar[j]!) * (1 - kappa);
      sum += (counts[i * k + j]! / n) * d * d;
    }
  }
  const centre = kappa - pe * (1 - kappa);
  const variance = Math.max(0, (sum - centre * centre) / (n * (1 - pe) * (1 - pe)));
  const half = Z95 * Math.sqrt(variance);
  return { kappa, low: Math.max(-1, kappa - half), high: Math.min(1, kappa + half), n, observed: diagonal };
}
