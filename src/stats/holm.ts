/**
 * Holm's step-down adjustment: controls the family-wise error rate like Bonferroni but rejects more. The family is
 * one metric's comparisons (every cell against the baseline): asking "is any cell different?" of a 12-cell grid
 * would otherwise see a false "significant" most runs. null entries (no test possible) are left out of the family.
 */
export function holm(pValues: ReadonlyArray<number | null>): Array<number | null> {
  const tested = pValues.map((p, i) => ({ p, i })).filter((x): x is { p: number; i: number } => x.p !== null && Number.isFinite(x.p));
  tested.sort((a, b) => a.p - b.p);
  const m = tested.length;
  const out: Array<number | null> = pValues.map(() => null);
  let running = 0;
  tested.forEach(({ p, i }, rank) => {
    // Monotone: an adjusted p-value is never below the one of a smaller raw p.
    running = Math.max(running, Math.min(1, (m - rank) * p));
    out[i] = running;
  });
  return out;
}
