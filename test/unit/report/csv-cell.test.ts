import { describe, expect, it } from 'vitest';
import { stringify } from 'csv-stringify/sync';
import { CSV_CAST, escapeFormula } from '../../../src/report/csv-cell.js';

describe('escapeFormula', () => {
  it('leaves text that reads as a finite number as it is', () => {
    for (const v of ['-2', '+3', '-1.5e3', '+.5', '-0', '12', '-7.']) expect(escapeFormula(v), v).toBe(v);
  });

  it('prefixes other text starting with = + - @ TAB or CR', () => {
    for (const v of ['=cmd', '+1 555 0100', '-x', '@SUM(A1)', '\tx', '\r1', '-Infinity', '-1e999', '--2', '-2+3']) expect(escapeFormula(v), JSON.stringify(v)).toBe(`'${v}`);
  });

  it('leaves ordinary text and the empty string alone', () => {
    for (const v of ['', 'hello', '2-3', ' =x']) expect(escapeFormula(v)).toBe(v);
  });

  it('is what the CSV writer applies to strings, and typed numbers are never prefixed', () => {
    expect(stringify([['-2', -2, '=1+1', true]], { cast: CSV_CAST })).toBe("-2,-2,'=1+1,true\n");
  });
});
