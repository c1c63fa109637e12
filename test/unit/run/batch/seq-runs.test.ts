import { describe, expect, it } from 'vitest';
import { runIndex, runSet, runsSize, toRuns } from '../../../../src/run/batch/seq-runs.js';

/** Every seq up to `max`, in or out, as the runs say. */
const members = (runs: ReturnType<typeof toRuns>, max: number) => Array.from({ length: max }, (_, s) => s).filter(runSet(runs));

describe('seq runs (how run.json records a batch part)', () => {
  it('a model-major grid: one model of 3 with 2 cells per row is one run for any number of rows', () => {
    const seqs: number[] = [];
    for (let row = 0; row < 25_000; row++) seqs.push(row * 6 + 2, row * 6 + 3);
    const runs = toRuns(seqs);
    expect(runs).toEqual([[2, 2, 6, 25_000]]);
    expect(runsSize(runs)).toBe(50_000);
    expect(members(runs, 40)).toEqual(seqs.filter((s) => s < 40));
  });

  it('irregular seqs (a resume skipped some) round-trip exactly', () => {
    const seqs = [0, 1, 2, 5, 7, 9, 11, 12, 20, 21, 22, 23, 40, 41, 42, 43, 100];
    const runs = toRuns(seqs);
    expect(members(runs, 120)).toEqual(seqs);
    expect(runsSize(runs)).toBe(seqs.length);
  });

  it("runIndex gives each seq's place among the part's seqs, and -1 for a seq not in it", () => {
    let x = 3;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sets = [[2, 3, 8, 9, 14, 15], [0], [5, 6, 7, 40, 41, 42, 43, 100]];
    for (let t = 0; t < 30; t++) sets.push(Array.from({ length: 400 }, (_, s) => s).filter(() => rand() < 0.2 + (t % 4) * 0.2));
    for (const seqs of sets) {
      const place = runIndex(toRuns(seqs));
      const expected = Array.from({ length: 410 }, (_, s) => seqs.indexOf(s));
      expect(Array.from({ length: 410 }, (_, s) => place(s))).toEqual(expected);
    }
  });

  it('random increasing sets round-trip', () => {
    let x = 7;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let t = 0; t < 50; t++) {
      const seqs = Array.from({ length: 300 }, (_, s) => s).filter(() => rand() < 0.4 + (t % 5) * 0.1);
      expect(members(toRuns(seqs), 300)).toEqual(seqs);
    }
  });

  it('nothing is a member of no runs', () => {
    expect(members([], 10)).toEqual([]);
  });
});
