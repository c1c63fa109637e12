import { describe, expect, it } from 'vitest';
import { textTable, type TableColumn } from '../../../src/util/text-table.js';

const columns: TableColumn[] = [
  { header: 'cell', align: 'left' },
  { header: 'n', align: 'right' },
  { header: 'rate', align: 'right' },
];

describe('textTable', () => {
  it('sizes each column to its widest cell, header included, two spaces apart', () => {
    expect(textTable(columns, [['a/long-cell-id', '3', '97.2%'], ['b', '120', '-']])).toEqual([
      'cell              n   rate',
      'a/long-cell-id    3  97.2%',
      'b               120      -',
    ]);
  });

  it('pads left-aligned columns on the right and right-aligned ones on the left', () => {
    const lines = textTable([{ header: 'x', align: 'right' }, { header: 'y', align: 'left' }, { header: 'z', align: 'right' }], [['1', 'ab', '7'], ['100', 'a', '77']]);
    expect(lines).toEqual(['  x  y    z', '  1  ab   7', '100  a   77']);
  });

  it('leaves no trailing spaces when the last column is left-aligned or empty', () => {
    const lines = textTable([{ header: 'metric', align: 'left' }, { header: 'verdict', align: 'left' }], [['stop_rate', 'worse'], ['error_rate', '']]);
    expect(lines).toEqual(['metric      verdict', 'stop_rate   worse', 'error_rate']);
  });

  it('prints the header alone when there are no rows, and treats a missing cell as empty', () => {
    expect(textTable(columns, [])).toEqual(['cell  n  rate']);
    expect(textTable(columns, [['c', '1']])).toEqual(['cell  n  rate', 'c     1']);
  });
});
