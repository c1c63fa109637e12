import { describe, expect, it } from 'vitest';
import { paretoFrontier, type FrontierPoint } from '../../../src/stats/frontier.js';
import { applyPick, formatPick, recommendationText, recommendPick } from '../../../src/report/pick.js';
import { htmlData } from '../../../src/report/html/data.js';
import { findMetric } from '../../../src/stats/metrics.js';
import { RowValues } from '../../../src/stats/row-values.js';
import type { CellStats, Summary } from '../../../src/contracts/summary.js';
import { extendCellStats } from '../../../src/report/cell-extras.js';
import { emptyBilled } from '../../../src/contracts/prices.js';

const p = (id: string, quality: number | null, cost: number | null): FrontierPoint => ({ id, quality, cost });

describe('paretoFrontier', () => {
  it('keeps the cells no other cell beats on both quality and cost, cheapest first', () => {
    const cells = [
      p('mid', 0.8, 2),
      p('dominated', 0.7, 3), // mid is better and cheaper
      p('cheap', 0.5, 1),
      p('best', 0.95, 5),
      p('worse-and-dearer', 0.9, 6), // best beats it on both
      p('same-quality-dearer', 0.8, 2.5), // mid: as good, cheaper
    ];
    expect(paretoFrontier(cells)).toEqual(['cheap', 'mid', 'best']);
  });

  it('puts exact ties (same quality, same cost) both on the frontier, in cell order', () => {
    expect(paretoFrontier([p('b', 0.9, 1), p('a', 0.9, 1), p('c', 0.5, 0.5)])).toEqual(['c', 'b', 'a']);
  });

  it('at one cost keeps only the best; at one quality only the cheapest', () => {
    expect(paretoFrontier([p('worse', 0.6, 1), p('better', 0.7, 1)])).toEqual(['better']);
    expect(paretoFrontier([p('dear', 0.7, 2), p('cheap', 0.7, 1)])).toEqual(['cheap']);
  });

  it('a cell that is both best and cheapest is the whole frontier', () => {
    expect(paretoFrontier([p('x', 0.5, 3), p('star', 0.99, 0.1), p('y', 0.9, 2), p('z', 0.99, 0.2)])).toEqual(['star']);
  });

  it('leaves out cells with no quality or no cost (nothing measured) instead of treating them as 0', () => {
    expect(paretoFrontier([p('no-cost', 1, null), p('no-quality', null, 0), p('nan', NaN, 1), p('ok', 0.5, 1)])).toEqual(['ok']);
    expect(paretoFrontier([])).toEqual([]);
  });

  it("minimises a 'lower' metric (error_rate)", () => {
    expect(paretoFrontier([p('few-errors-dear', 0.01, 5), p('many-errors-cheap', 0.2, 1), p('dominated', 0.3, 2)], 'lower')).toEqual(['many-errors-cheap', 'few-errors-dear']);
  });
});

describe('applyPick', () => {
  const cell = (id: string, model: string, pass: number, promptTokens: number): CellStats => {
    const base = { cell: id, model, requests: 10, prompt_tokens: promptTokens, completion_tokens: 0, schema_checked: 10, json_checked: 10, ok_pass_rate: pass, ok_checked: 10 } as unknown as CellStats;
    const priced = { ...emptyBilled(), prompt: promptTokens };
    return extendCellStats(base, {}, { n: 0, mean: 0, variance: 0 }, priced, priced, {});
  };

  it('costs cells per 1,000 rows from their usage and prices, marks the frontier, and defaults to the first check', () => {
    const cells = [cell('a', 'gpt-4o-mini', 0.5, 1000), cell('b', 'gpt-4o', 0.9, 1000), cell('c', 'gpt-4o', 0.4, 1000)];
    const section = applyPick(cells, undefined, ['ok']);
    expect(section).toMatchObject({ metric: 'ok_pass_rate', direction: 'higher', cost: 'cost_per_1k_rows', frontier: ['a', 'b'] });
    // 100 prompt tokens per row at $0.15 per 1M: $0.015 per 1,000 rows.
    expect(cells[0]!.cost_per_1k_rows).toBeCloseTo(0.015, 9);
    expect(cells.map((c) => c.frontier)).toEqual([true, true, false]);
    expect(section.best_at_each_price.map((s) => s.cell)).toEqual(['a', 'b']);
  });

  it('falls back to tokens per 1k rows, and says so, when a model has no price', () => {
    const cells = [cell('a', 'my-local-model', 0.5, 1000), cell('b', 'gpt-4o', 0.9, 3000)];
    const section = applyPick(cells, { metric: null, cost: null }, ['ok']);
    expect(section.cost).toBe('tokens_per_1k_rows');
    expect(section.note).toMatch(/no price for my-local-model/);
    expect(cells[0]!.cost_per_1k_rows).toBeNull();
    expect(section.frontier).toEqual(['a', 'b']);
  });
});

describe('recommendPick', () => {
  const metric = 'schema_valid_rate';
  const schema = findMetric(metric, [])!;
  const answer = (valid: boolean) => ({ finish_reason: 'stop', json_valid: true, schema_valid: valid });
  /** Cells by cost; `valid(cell, row)` says whether the row's one choice is schema-valid. */
  function run(costs: number[], valid: (cell: number, row: number) => boolean, rows = 40) {
    const values = new RowValues(rows, costs.length, [schema]);
    const cells = costs.map((cost, c) => {
      let k = 0;
      for (let r = 0; r < rows; r++) {
        values.add(r, c, `r${r}`, [answer(valid(c, r))], null);
        if (valid(c, r)) k++;
      }
      return { cell: `c${c}`, model: 'm', requests: rows, schema_checked: rows, schema_valid_rate: k / rows, cost_per_1k_rows: cost } as unknown as CellStats;
    });
    const section = applyPick(cells, { metric, cost: null }, []);
    return { section, cells, values, ...recommendPick(section, cells, values, [], 0.05) };
  }

  it('recommends the cheapest cell the rows show to be at most the margin worse than the best, not the cheapest frontier cell', () => {
    // 400 rows. c0: cheapest, fails half the rows; c1: 2 rows worse than the best, its interval's far end within
    // 5 points; c2: the best.
    const r = run([1, 2, 3], (c, row) => (c === 0 ? row % 2 === 0 : c === 1 ? row >= 2 : true), 400);
    expect(r.section.frontier).toEqual(['c0', 'c1', 'c2']);
    expect(r.recommended).toMatchObject({ cell: 'c1', best: { cell: 'c2', metric: 1 }, alpha: 0.05, margin: 0.05, compared: 2 });
    expect(r.recommended!.test).toMatchObject({ diff: -0.005, pairs: 400, method: 'sign-flip-exact' });
    expect(r.recommended!.test!.diff_low!).toBeGreaterThanOrEqual(-0.05);
    expect(r.recommended!.nearest).toBeUndefined();
    expect(recommendationText({ ...r.section, recommended: r.recommended! })).toMatch(
      /^Recommended: c1 .*the cheapest cell shown to be at most 5\.0pp worse than the best, c2 .*Holm-adjusted p [\d.]+ over 2 cells.*; the rows allow it to be up to [\d.]+pp worse$/,
    );
  });

  it('recommends the best when a cheaper cell is only not significantly worse: its interval allows more than the margin', () => {
    // 40 rows, c1 two rows worse: not significant, but the rows allow it to be over 5 points worse.
    const r = run([1, 2, 3], (c, row) => (c === 0 ? row % 2 === 0 : c === 1 ? row >= 2 : true));
    expect(r.recommended).toMatchObject({ cell: 'c2', best: { cell: 'c2' }, margin: 0.05, compared: 2, nearest: { cell: 'c1' } });
    expect(r.recommended!.nearest!.worse_by).toBeGreaterThan(0.05);
    expect(r.recommended!.test).toBeUndefined();
    expect(recommendationText({ ...r.section, recommended: r.recommended! })).toMatch(
      /^Recommended: c2 \(100\.0% at .*\): the best cell; no cheaper cell is shown to be within 5\.0pp of it \(pick\.margin\): the closest, c1, could be up to [\d.]+pp worse; more rows would narrow that$/,
    );
    // A margin the user widens past what the rows allow (pick: { margin: 0.2 }) takes c1.
    expect(r.recommended!.nearest!.worse_by).toBeLessThan(0.2);
    const wide = recommendPick(r.section, r.cells, r.values, [], 0.05, [], 0.2);
    expect(wide.recommended).toMatchObject({ cell: 'c1', margin: 0.2 });
  });

  it('recommends the best cell when every cheaper one is significantly worse', () => {
    const r = run([1, 2], (c, row) => c === 1 || row % 4 === 0);
    expect(r.recommended).toMatchObject({ cell: 'c1', best: { cell: 'c1' }, nearest: { cell: 'c0' } });
    expect(r.recommended!.test).toBeUndefined();
  });

  it('says so when no cell is cheaper than the best', () => {
    const r = run([1, 2], (c, row) => c === 0 || row % 4 === 0);
    expect(r.recommended).toMatchObject({ cell: 'c0', best: { cell: 'c0' }, compared: 0 });
    expect(recommendationText({ ...r.section, recommended: r.recommended! })).toMatch(/the best cell, and no cell is cheaper$/);
  });
});

describe('a pick or chart that cannot be drawn says why', () => {
  it('a latency pick in batch mode (no per-request latency) keeps a note, printed instead of vanishing', () => {
    const cells = ['a', 'b'].map((id) => ({ cell: id, model: 'm', requests: 10, ok_pass_rate: 0.5, ok_checked: 10, latency_p50_ms: null, latency_p95_ms: null, cost_per_1k_rows: 1 }) as unknown as CellStats);
    const section = applyPick(cells, { metric: null, cost: 'latency_p95_ms' }, ['ok']);
    expect(section.frontier).toEqual([]);
    expect(section.note).toMatch(/no cell has a latency_p95_ms: Batch API answers carry no per-request latency/);
    const text = formatPick({ pick: section });
    expect(text).toContain('no cell placed');
    expect(text).toContain('Batch API answers carry no per-request latency');
  });

  it("report.html's latency chart says there is nothing to draw, and why", () => {
    const summary = { name: 'x', cells: [], checks: [], cost: { batch: true } } as unknown as Summary;
    expect(htmlData(summary, [], [], 0).latency_note).toMatch(/Batch API answers carry no per-request latency/);
    const sync = { ...summary, cost: { batch: undefined } } as unknown as Summary;
    expect(htmlData(sync, [], [], 0).latency_note).toMatch(/no request was answered/);
  });
});
