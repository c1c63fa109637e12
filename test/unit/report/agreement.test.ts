/**
 * The agreement table from records alone: a scored check on a 1..5 scale (as a judge's `scale` will be) (its verdict the score, its label
 * the recorded check_human) gets quadratically weighted κ; labelled choices without a verdict are counted apart.
 */
import { describe, expect, it } from 'vitest';
import { ReportCollector } from '../../../src/report/collector.js';
import { emptyEvaluation } from '../../../src/contracts/evaluation.js';
import { makeCell, makeChoice, makeManifest, makeRecord } from '../../helpers/records.js';

const cell = makeCell('judge/t0', { model: 'gpt-4o-mini', temperature: 0, n: 1 });

describe('agreement with people in the report', () => {
  it('a rating scale: verdict = the score, label = check_human, both on 1..5; κ_w = 28/31 (see test/unit/stats/kappa.test.ts)', () => {
    const evaluation = { ...emptyEvaluation(), checks: [{ name: 'j', type: 'script', scale: '1-5' as const, human: { column: 'rating' } }] };
    const c = new ReportCollector(makeManifest([cell], 10, { evaluation }));
    const pairs: Array<[number | null, number | null]> = [[1, 1], [2, 2], [3, 2], [4, 5], [5, 5], [3, 3], [2, 1], [4, 4], [null, 3], [2, null]];
    pairs.forEach(([label, verdict], seq) => {
      const score = verdict === null ? null : (verdict - 1) / 4;
      const choice = makeChoice(0, {
        checks: { j: verdict === null ? null : verdict >= 3 },
        check_scores: { j: score },
        check_human: { j: label === null ? null : (label - 1) / 4 },
      });
      const rows = c.add(makeRecord(seq, { cell: cell.id, row_id: `r${seq}`, choices: [choice] }));
      expect(rows[0]!['j_human']).toBe(label === null ? null : (label - 1) / 4);
    });
    expect(c.checkColumns()).toEqual(['check_j', 'j_score', 'j_reason', 'j_human']);
    const [stats] = c.cellStats();
    expect(stats!['j_kappa']).toBeCloseTo(28 / 31, 4);
    expect(stats!['j_kappa_n']).toBe(8);
    // [2, null]: labelled, no verdict. [null, 3]: unlabelled, not counted at all.
    expect(stats!['j_kappa_unscored']).toBe(1);
    expect(stats!['j_agreement']).toBe(0.625);
    expect(c.agreement()['j']).toMatchObject({ scale: '1-5', weights: 'quadratic', kappa_n: 8, kappa_unscored: 1 });
  });
});
