import { describe, expect, it } from 'vitest';
import { roundOrNull, roundTo } from '../../../src/util/round.js';

describe('roundTo', () => {
  it('rounds to the given decimals, halves up', () => {
    expect(roundTo(12.345678, 1)).toBe(12.3);
    expect(roundTo(0.123456789, 4)).toBe(0.1235);
    expect(roundTo(0.0000125, 6)).toBe(0.000013);
    expect(roundTo(2.5, 0)).toBe(3);
    expect(roundTo(-2.5, 0)).toBe(-2);
  });
});

describe('roundOrNull', () => {
  it('rounds numbers and gives null for no value', () => {
    expect(roundOrNull(99.96, 1)).toBe(100);
    for (const v of [null, undefined, NaN, Infinity, -Infinity]) expect(roundOrNull(v, 4)).toBeNull();
  });
});
