/**
 * A part's plan seqs as run.json records them: strided runs `[first, width, stride, count]`, i.e. `count` blocks of
 * `width` consecutive seqs, each block `stride` after the last. A batch file holds one model's requests, and a grid's
 * cells of one model sit at the same places in every row, so a 50,000-line part is one or two runs, not 25,000
 * ranges (run.json is rewritten on every status change).
 */
import type { SeqRun } from '../../record/index.js';

export type { SeqRun };

/** Increasing seqs as runs. */
export function toRuns(seqs: readonly number[]): SeqRun[] {
  const ranges: Array<[number, number]> = [];
  for (const s of seqs) {
    const last = ranges[ranges.length - 1];
    if (last && s === last[1] + 1) last[1] = s;
    else ranges.push([s, s]);
  }
  const runs: SeqRun[] = [];
  for (const [a, b] of ranges) {
    const width = b - a + 1;
    const run = runs[runs.length - 1];
    if (run && run[1] === width) {
      const lastStart = run[0] + (run[3] - 1) * run[2];
      if (run[3] === 1 && a > lastStart + width - 1) {
        run[2] = a - run[0];
        run[3] = 2;
        continue;
      }
      if (run[3] > 1 && a - lastStart === run[2]) {
        run[3]++;
        continue;
      }
    }
    runs.push([a, width, width, 1]);
  }
  return runs;
}

/**
 * A seq's place among the seqs of a list of runs (sorted, not overlapping: one part's), 0 for the first, or -1 when it
 * is not one of them; by binary search. A part's per-request data can then live in typed arrays of the part's size.
 */
export function runIndex(runs: readonly SeqRun[]): (seq: number) => number {
  const before: number[] = [];
  let total = 0;
  for (const r of runs) {
    before.push(total);
    total += r[1] * r[3];
  }
  return (seq) => {
    let lo = 0;
    let hi = runs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (runs[mid]![0] <= seq) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return -1;
    const [first, width, stride, count] = runs[found]!;
    const d = seq - first;
    const k = Math.floor(d / stride);
    const j = d - k * stride;
    return k < count && j < width ? before[found]! + k * width + j : -1;
  };
}

/** Membership in a list of runs (sorted, not overlapping: one part's). */
export function runSet(runs: readonly SeqRun[]): (seq: number) => boolean {
  const index = runIndex(runs);
  return (seq) => index(seq) >= 0;
}

/** Membership in any of several parts' runs. */
export function anyOf(sets: ReadonlyArray<(seq: number) => boolean>): (seq: number) => boolean {
  return (seq) => sets.some((f) => f(seq));
}

export function runsSize(runs: readonly SeqRun[]): number {
  return runs.reduce((n, r) => n + r[1] * r[3], 0);
}
