/** How a human label is read (the one function the dataset scan, the graders and judge checks share). */
import { describe, expect, it } from 'vitest';
import { makeHumanLabels, readHumanLabel, scaleCategory } from '../../../src/check/index.js';

describe('readHumanLabel', () => {
  it('pass/fail: pass, fail, true, false, 1, 0, yes, no in any case, and JSON booleans and 0/1', () => {
    for (const v of ['pass', 'PASS', ' True ', '1', 'yes', 'Yes', true, 1]) expect(readHumanLabel(v, 'pass_fail'), String(v)).toEqual({ ok: true, label: 1 });
    for (const v of ['fail', 'Fail', 'false', '0', 'no', 'NO', false, 0]) expect(readHumanLabel(v, 'pass_fail'), String(v)).toEqual({ ok: true, label: 0 });
  });

  it('an empty cell is unlabelled (null), not a fail', () => {
    for (const v of ['', '   ', null, undefined]) expect(readHumanLabel(v, 'pass_fail')).toEqual({ ok: true, label: null });
    expect(readHumanLabel('', '1-5')).toEqual({ ok: true, label: null });
  });

  it('a rating is a whole number on the scale, normalised to [0, 1]', () => {
    expect(readHumanLabel('1', '1-5')).toEqual({ ok: true, label: 0 });
    expect(readHumanLabel('3', '1-5')).toEqual({ ok: true, label: 0.5 });
    expect(readHumanLabel(5, '1-5')).toEqual({ ok: true, label: 1 });
    expect(readHumanLabel('4.0', '1-5')).toEqual({ ok: true, label: 0.75 });
    expect(readHumanLabel('10', '1-10')).toEqual({ ok: true, label: 1 });
    expect(readHumanLabel('4', '1-10')).toEqual({ ok: true, label: 3 / 9 });
  });

  it('anything else is an error naming the value and the accepted values', () => {
    const bad = readHumanLabel('maybe', 'pass_fail');
    expect(bad).toEqual({ ok: false, message: 'human label "maybe" is not pass, fail, true, false, 1, 0, yes or no (any case); leave the cell empty for a row nobody labelled' });
    for (const v of ['2', 0.5, 'passed', [1], {}]) expect(readHumanLabel(v, 'pass_fail').ok, String(v)).toBe(false);
    for (const v of ['0', '6', '3.5', 'three', -1, 2.5, true]) expect(readHumanLabel(v, '1-5').ok, String(v)).toBe(false);
    expect(readHumanLabel('11', '1-10')).toMatchObject({ ok: false, message: expect.stringContaining('a whole number from 1 to 10') });
  });

  it('scaleCategory maps a normalised value back to its category (the nearer one between two)', () => {
    expect(scaleCategory(0, 'pass_fail')).toBe(0);
    expect(scaleCategory(1, 'pass_fail')).toBe(1);
    expect(scaleCategory(0.75, '1-5')).toBe(3);
    expect(scaleCategory(0.7, '1-5')).toBe(3);
    expect(scaleCategory(1 / 9, '1-10')).toBe(1);
  });
});

describe('makeHumanLabels', () => {
  it("reads each labelled check's column (dotted for nested rows) on its scale; unlabelled checks are left out", () => {
    const labels = makeHumanLabels([
      { name: 'ok', type: 'similarity', human: { column: 'human_ok' } },
      { name: 'plain', type: 'equals' },
      { name: 'rated', type: 'script', scale: '1-5', human: { column: 'meta.rating' } },
    ])!;
    expect(labels({ human_ok: 'yes', meta: { rating: 4 } })).toEqual({ ok: 1, rated: 0.75 });
    expect(labels({ human_ok: '', meta: {} })).toEqual({ ok: null, rated: null });
    expect(makeHumanLabels([{ name: 'plain', type: 'equals' }])).toBeUndefined();
  });
});
