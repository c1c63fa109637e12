/**
 * A part's plan seqs as run.json records them: strided runs `[first, width, stride, count]`, i.e. `count` blocks of
 * `width` consecutive seqs, each block `stride` after the last. A batch file holds one model's requests, and a grid's
 * cells of one model sit at the same places in every row, so a 50,000-line part is one or two runs, not 25,000
 * ranges (run.json is rewritten on every status change).
 */
import type { SeqRun } from '../../record/manifest.js';

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

/** Membership in a list of runs (sorted, not overlapping: one part's), by binary search. */
export function runSet(runs: readonly SeqRun[]): (seq: number) => boolean {
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
    if (found < 0) return false;
    const [first, width, stride, count] = runs[found]!;
    const d = seq - first;
    const k = Math.floor(d / stride);
    return k < count && d - k * stride < width;
  };
}

/** Membership in any of several parts' runs. */
export function anyOf(sets: ReadonlyArray<(seq: number) => boolean>): (seq: number) => boolean {
  return (seq) => sets.some((f) => f(seq));
}

export function runsSize(runs: readonly SeqRun[]): number {
  return runs.reduce((n, r) => n + r[1] * r[3], 0);
}
