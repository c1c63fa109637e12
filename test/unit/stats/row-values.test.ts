import { describe, expect, it } from 'vitest';
import { compareMetric } from '../../../src/stats/compare.js';
import { findMetric } from '../../../src/stats/metrics.js';
import { RowValues } from '../../../src/stats/row-values.js';

const schema = findMetric('schema_valid_rate', [])!;
const answer = (valid: boolean) => ({ finish_reason: 'stop', json_valid: true, schema_valid: valid });

describe('RowValues keeps full precision', () => {
  it('so rates of n = 3 stay on their lattice and the paired test is exact, not a Monte Carlo floor that Holm multiplies', () => {
    const rows = 60;
    const values = new RowValues(rows, 2, [schema]);
    for (let r = 0; r < rows; r++) {
      values.add(r, 0, `r${r}`, [answer(true), answer(true), answer(true)], null);
      // 1 of 3 invalid on 30 rows (2/3 is not a float32), all valid on the rest.
      values.add(r, 1, `r${r}`, [answer(true), answer(r % 2 === 0), answer(true)], null);
    }
    expect(values.series(1, 'schema_valid_rate')![1]).toBe(2 / 3);
    const [row] = compareMetric(schema, [{ cell: 'b', baseline: 'a', a: { values: values.series(0, 'schema_valid_rate') }, b: { values: values.series(1, 'schema_valid_rate') }, paired: true }], 0.05);
    expect(row!.method).toBe('sign-flip-exact');
    // 30 rows all one way: exactly 2 / 2^30, far below the 1/10,001 a Monte Carlo p-value can reach.
    expect(row!.p_value).toBe(2 / 2 ** 30);
    expect(row!.change).toBe('worse');
  });
});
