/** What a script check's return value means, and the tolerant comparisons' edge cases (the e2e test has the rest). */
import { describe, expect, it } from 'vitest';
import { outcomeOfReturn, thrownReason } from '../../../src/check/script-result.js';
import { numberCheck, setEqualsCheck, similarityCheck } from '../../../src/check/tolerant.js';
import type { CheckSpec } from '../../../src/contracts/checks.js';

const spec = (extra: Partial<CheckSpec>): CheckSpec => ({ name: 'c', type: 'number', ...extra });

describe("a script check's return value", () => {
  it('a boolean is pass/fail with score 1/0; a number in [0, 1] is a score passing at min', () => {
    expect(outcomeOfReturn(true, 0.5)).toEqual({ pass: true, score: 1 });
    expect(outcomeOfReturn(false, 0.5)).toEqual({ pass: false, score: 0 });
    expect(outcomeOfReturn(0.5, 0.5)).toEqual({ pass: true, score: 0.5 });
    expect(outcomeOfReturn(0.49, 0.5)).toEqual({ pass: false, score: 0.49 });
  });

  it('{ pass, score, reason } in any combination; pass: null is undecided', () => {
    expect(outcomeOfReturn({ pass: false, reason: 'too long' }, 0.5)).toEqual({ pass: false, score: 0, reason: 'too long' });
    expect(outcomeOfReturn({ score: 0.9 }, 0.95)).toEqual({ pass: false, score: 0.9 });
    expect(outcomeOfReturn({ pass: true, score: 0.3 }, 0.5)).toEqual({ pass: true, score: 0.3 });
    expect(outcomeOfReturn({ pass: null, reason: 'no idea' }, 0.5)).toEqual({ pass: null, score: null, reason: 'no idea' });
  });

  it('anything else is unscored, saying what came back', () => {
    for (const v of [1.5, -0.1, Number.NaN, 'yes', null, undefined, [true], {}, { pass: 'yes' }, { score: 2 }, () => true]) {
      const o = outcomeOfReturn(v, 0.5);
      expect(o.pass, String(v)).toBeNull();
      expect(o.score).toBeNull();
      expect(o.reason).toMatch(/^returned .*: not a boolean, a number in \[0, 1\], or \{ pass, score, reason \}$/);
    }
    expect(thrownReason(new TypeError('x is undefined'))).toBe('threw TypeError: x is undefined');
    expect(thrownReason('plain')).toBe('threw "plain"');
  });

  it('keeps reasons short and on one line', () => {
    const o = outcomeOfReturn({ pass: false, reason: `a\n${'b'.repeat(500)}` }, 0.5);
    expect(o.reason!.length).toBeLessThanOrEqual(200);
    expect(o.reason).not.toContain('\n');
  });
});

describe('tolerant comparisons', () => {
  it('number: absolute or relative tolerance, either suffices; exact without one (float noise aside)', () => {
    expect(numberCheck(spec({ tolerance: { relative: 0.01 } }), 101, '100').pass).toBe(true);
    expect(numberCheck(spec({ tolerance: { relative: 0.01 } }), 102, 100)).toEqual({ pass: false, score: 0, reason: 'got 102, expected 100 (±1%)' });
    expect(numberCheck(spec({ tolerance: { absolute: 5, relative: 0.001 } }), 104, 100).pass).toBe(true);
    expect(numberCheck(spec({}), 0.1 + 0.2, 0.3).pass).toBe(true);
    expect(numberCheck(spec({}), 'twelve', 12)).toEqual({ pass: false, score: 0, reason: '"twelve" is not a number' });
  });

  it('set_equals: order and repeats do not matter; the score is the Jaccard overlap', () => {
    const s = spec({ type: 'set_equals' });
    expect(setEqualsCheck(s, ['b', 'a', 'a'], ['a', 'b'])).toEqual({ pass: true, score: 1 });
    expect(setEqualsCheck(s, [{ x: 1, y: 2 }], [{ y: 2, x: 1 }]).pass).toBe(true);
    expect(setEqualsCheck(s, ['a', 'c'], ['a', 'b'])).toEqual({ pass: false, score: 1 / 3, reason: 'missing "b"; extra "c"' });
    expect(setEqualsCheck(spec({ type: 'set_equals', ignoreCase: true }), ['A'], ['a']).pass).toBe(true);
    expect(setEqualsCheck(s, [], []).score).toBe(1);
  });

  it('similarity: token F1 counts shared words; levenshtein can ignore case', () => {
    const f1 = similarityCheck(spec({ type: 'similarity', method: 'token_f1', min: 0.5 }), 'The invoice was charged twice', 'invoice charged twice');
    // 3 shared words: precision 3/5, recall 3/3.
    expect(f1.score).toBeCloseTo((2 * 0.6 * 1) / 1.6, 6);
    expect(f1.pass).toBe(true);
    expect(similarityCheck(spec({ type: 'similarity', ignoreCase: true }), 'BILLING', 'billing').score).toBe(1);
    expect(similarityCheck(spec({ type: 'similarity' }), 'x', { column: 'y' }).pass).toBeNull();
  });
});
