import { describe, expect, it } from 'vitest';
import { pairCells } from '../../../src/report/compare-runs.js';
import { makeCell } from '../../helpers/records.js';

const grid = (model: string, extra: Record<string, unknown> = {}) => [
  makeCell(`${model}/t0/seed=1`, { model, temperature: 0, seed: 1, ...extra }),
  makeCell(`${model}/t1/seed=1`, { model, temperature: 1, seed: 1, ...extra }),
];

describe('pairCells', () => {
  it('pairs on the parameters left when the run-wide settings that differ are set aside', () => {
    const r = pairCells(grid('gpt-4o-mini', { max_tokens: 50 }), grid('gpt-4.1-mini', { max_tokens: 80 }));
    expect(r.pairs).toEqual([
      { a: 'gpt-4o-mini/t0/seed=1', b: 'gpt-4.1-mini/t0/seed=1', matched_by: 'params' },
      { a: 'gpt-4o-mini/t1/seed=1', b: 'gpt-4.1-mini/t1/seed=1', matched_by: 'params' },
    ]);
    expect(r.differing).toEqual([
      { key: 'model', a: 'gpt-4o-mini', b: 'gpt-4.1-mini' },
      { key: 'max_tokens', a: 50, b: 80 },
    ]);
  });

  it('pairs nothing when a setting that varies within a run differs, or when the match would be a guess', () => {
    const b = [makeCell('m2/t0.5', { model: 'm2', temperature: 0.5 }), makeCell('m2/t2', { model: 'm2', temperature: 2 })];
    expect(pairCells(grid('m1'), b).pairs).toEqual([]);
    // Two cells of B with the same remaining parameters: which one A's cell meets is not ours to guess.
    const twins = [makeCell('m2/a', { model: 'm2', temperature: 0, seed: 1 }), makeCell('m2/b', { model: 'm2', temperature: 0, seed: 1 })];
    expect(pairCells([grid('m1')[0]!], twins).pairs).toEqual([]);
  });

  it('reads --map with = inside cell ids, and prefers ids and maps over parameters', () => {
    const a = grid('m1');
    const r = pairCells(a, a, ['m1/t0/seed=1=m1/t1/seed=1']);
    expect(r.pairs).toEqual([
      { a: 'm1/t0/seed=1', b: 'm1/t1/seed=1', matched_by: 'map' },
    ]);
    expect(() => pairCells(a, a, ['m1/t0/seed=1=m1/t9'])).toThrow(/run B has no cell 'm1\/t9'/);
    expect(() => pairCells(a, a, ['m1/t0/seed=1=m1/t1/seed=1', 'm1/t0/seed=1=m1/t0/seed=1'])).toThrow(/already mapped/);
  });
});
