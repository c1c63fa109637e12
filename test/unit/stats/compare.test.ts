import { describe, expect, it } from 'vitest';
import { compareMetric } from '../../../src/stats/compare.js';
import { findMetric } from '../../../src/stats/metrics.js';
import { RowValues } from '../../../src/stats/row-values.js';

const metric = (name: string) => findMetric(name, ['category'])!;

describe('compareMetric', () => {
  it('marks a significant drop of a higher-is-better rate as worse, and a rise of a lower-is-better one as worse too', () => {
    const base = new Array<number>(12).fill(1);
    const bad = new Array<number>(12).fill(0);
    const [schema] = compareMetric(metric('schema_valid_rate'), [{ cell: 'b', baseline: 'a', a: { values: base }, b: { values: bad }, paired: true }], 0.05);
    expect(schema!.significant).toBe(true);
    expect(schema!.change).toBe('worse');
    expect(schema!.diff).toBe(-1);
    const [length] = compareMetric(metric('length_rate'), [{ cell: 'b', baseline: 'a', a: { values: bad }, b: { values: base }, paired: true }], 0.05);
    expect(length!.change).toBe('worse');
    const [tools] = compareMetric(metric('tool_calls_rate'), [{ cell: 'b', baseline: 'a', a: { values: bad }, b: { values: base }, paired: true }], 0.05);
    expect(tools!.change).toBe('changed');
  });

  it('applies Holm across the cells of one metric', () => {
    // 5 of 5 rows better: raw p = 1/16 each → Holm over 2 cells = 0.125, never significant.
    const a = new Array<number>(5).fill(0);
    const b = new Array<number>(5).fill(1);
    const rows = compareMetric(metric('category_pass_rate'), [
      { cell: 'x', baseline: 'a', a: { values: a }, b: { values: b }, paired: true },
      { cell: 'y', baseline: 'a', a: { values: a }, b: { values: b }, paired: true },
    ], 0.05);
    expect(rows.map((r) => r.p_value)).toEqual([0.0625, 0.0625]);
    expect(rows.map((r) => r.p_adjusted)).toEqual([0.125, 0.125]);
    expect(rows.every((r) => !r.significant && r.change === 'same')).toBe(true);
  });

  it('falls back to the two-proportion test when rows cannot be paired', () => {
    const [r] = compareMetric(metric('json_valid_rate'), [{ cell: 'b', baseline: 'a', a: { count: { k: 56, n: 70 } }, b: { count: { k: 48, n: 80 } }, paired: false }], 0.05);
    expect(r!.method).toBe('two-proportion-z');
    expect(r!.diff).toBeCloseTo(-0.2, 10);
    // The inverted score test (Farrington–Manning), which at 0 is the pooled z-test the verdict uses.
    expect(r!.diff_low).toBeCloseTo(-0.3377, 3);
    expect(r!.diff_high!).toBeLessThan(0);
    expect(r!.significant).toBe(true);
    expect(r!.pairs).toBe(0);
  });
});

describe('RowValues', () => {
  it('averages each row over its choices, leaving failed rows out', () => {
    const v = new RowValues(2, 1, [metric('schema_valid_rate'), metric('category_pass_rate'), metric('length_rate'), metric('latency_mean_ms')]);
    v.add(0, 0, 'r1', [
      { finish_reason: 'stop', json_valid: true, schema_valid: true, check_category: true },
      { finish_reason: 'length', json_valid: false, schema_valid: false, check_category: false },
      { finish_reason: 'stop', json_valid: true, schema_valid: null, check_category: null },
    ], 120);
    v.add(1, 0, 'r2', [{ finish_reason: 'error', json_valid: null, schema_valid: null }], null);
    expect(v.series(0, 'schema_valid_rate')![0]).toBeCloseTo(0.5);
    expect(v.series(0, 'category_pass_rate')![0]).toBeCloseTo(0.5);
    expect(v.series(0, 'length_rate')![0]).toBeCloseTo(1 / 3);
    expect(v.series(0, 'latency_mean_ms')![0]).toBe(120);
    expect(Number.isNaN(v.series(0, 'schema_valid_rate')![1]!)).toBe(true);
    expect(v.series(0, 'length_rate')![1]).toBe(0);
    expect(v.rowIds).toEqual(['r1', 'r2']);
  });
});
