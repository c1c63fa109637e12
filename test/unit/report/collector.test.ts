import { describe, expect, it } from 'vitest';
import { MAX_FAILING, ReportCollector } from '../../../src/report/collector.js';
import { emptyEvaluation } from '../../../src/contracts/evaluation.js';
import type { ManifestCell } from '../../../src/record/manifest.js';
import { failedRecord, makeCell, makeChoice, makeManifest, makeRecord } from '../../helpers/records.js';

const cells = [
  makeCell('mini/t0/n2', { model: 'gpt-4o-mini', temperature: 0, n: 2 }, { json_mode: true }),
  makeCell('mini/t1/n2', { model: 'gpt-4o-mini', temperature: 1, n: 2 }, { json_mode: true }),
];

function collectorFor(cs: ManifestCell[], rows: number, checks = ['label']): ReportCollector {
  const evaluation = { ...emptyEvaluation(), checks: checks.map((name) => ({ name, type: 'equals' })) };
  return new ReportCollector(makeManifest(cs, rows, { evaluation }));
}

const good = (index: number, label: boolean | null) => makeChoice(index, { content: '{"label":"a"}', json_valid: true, schema_valid: true, checks: { label } });

describe('ReportCollector', () => {
  it('names a choices.csv column per check', () => {
    expect(collectorFor(cells, 1, ['label', 'has_reason']).checkColumns()).toEqual(['check_label', 'check_has_reason']);
    expect(collectorFor(cells, 1, []).checkColumns()).toEqual([]);
  });

  it('fills the check columns from each choice by its index, and counts graded and passed per cell', () => {
    const c = collectorFor(cells, 2);
    // Choices out of order: the row of choice 0 must get choice 0's result.
    const rows = c.add(makeRecord(0, { cell: cells[0]!.id, row_id: 'A', choices: [good(1, false), good(0, true)] }));
    expect(rows.map((r) => r['check_label'])).toEqual([true, false]);
    c.add(makeRecord(1, { cell: cells[1]!.id, row_id: 'A', choices: [good(0, null), good(1, true)] }));
    const failed = c.add(failedRecord(2, { cell: cells[0]!.id, row_id: 'B' }));
    expect(failed.map((r) => r['check_label'])).toEqual([null, null]);
    expect(c.cells.map((x) => x.checks)).toEqual([{ label: { checked: 2, pass: 1 } }, { label: { checked: 1, pass: 1 } }]);
  });

  it('sums billed tokens per cell, leaving out cached answers and the cached parts of an n_mode repeat record', () => {
    const c = collectorFor(cells, 3);
    const usage = (prompt: number, completion: number) => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });
    c.add(makeRecord(0, { cell: cells[0]!.id, choices: [good(0, true), good(1, true)], usage: usage(10, 4) }));
    c.add(makeRecord(2, { cell: cells[0]!.id, choices: [good(0, true), good(1, true)], usage: usage(1000, 1000), cached: true }));
    const part = (u: ReturnType<typeof usage>, cached: boolean) => ({ attempts: 1, latency_ms: 5, http_status: 200, request_id: null, completion_id: null, cached, usage: u, error: null });
    c.add(makeRecord(1, { cell: cells[1]!.id, choices: [good(0, true), good(1, true)], usage: usage(30, 9), parts: [part(usage(20, 6), false), part(usage(10, 3), true)] }));
    const none = { prompt: 0, cached: 0, completion: 0 };
    expect(c.cells.map((x) => x.billed)).toEqual([{ prompt: 10, cached: 0, completion: 4, batch: none }, { prompt: 20, cached: 0, completion: 6, batch: none }]);
  });

  it('lists failing choices with every reason, the content and the most useful detail', () => {
    const c = collectorFor(cells, 2);
    c.add(makeRecord(0, {
      cell: cells[0]!.id,
      row_id: 'A',
      choices: [
        makeChoice(0, { finish_reason: 'length', content: '{"label":', json_valid: false, schema_valid: false, schema_errors: ['(not valid JSON)'], checks: { label: false } }),
        good(1, true),
      ],
    }));
    c.add(failedRecord(1, { cell: cells[1]!.id, row_id: 'A' }));
    c.add(makeRecord(2, { cell: cells[0]!.id, row_id: 'B', choices: [makeChoice(0, { content: null, refusal: 'I cannot help with that.', json_valid: null, schema_valid: null }), good(1, true)] }));
    expect(c.failing).toEqual([
      { cell: 'mini/t0/n2', seq: 0, row_id: 'A', choice_index: 0, finish_reason: 'length', failed: ['finish_reason length', 'json_valid', 'schema_valid', 'label'], content: '{"label":', detail: '(not valid JSON)', input: null, expected: [] },
      { cell: 'mini/t1/n2', seq: 1, row_id: 'A', choice_index: 0, finish_reason: 'error', failed: ['finish_reason error'], content: null, detail: '500: The server had an error', input: null, expected: [] },
      { cell: 'mini/t1/n2', seq: 1, row_id: 'A', choice_index: 1, finish_reason: 'error', failed: ['finish_reason error'], content: null, detail: '500: The server had an error', input: null, expected: [] },
    ]);
    // A refusal that stopped normally is not a failure here (it has its own rate).
    expect(c.failing.some((f) => f.row_id === 'B')).toBe(false);
    expect(c.failingPerCell).toEqual([1, 2]);
  });

  it('shortens long content to 2000 characters and an ellipsis', () => {
    const c = collectorFor(cells, 1);
    c.add(makeRecord(0, { cell: cells[0]!.id, choices: [makeChoice(0, { finish_reason: 'length', content: 'x'.repeat(5000) }), good(1, true)] }));
    expect(c.failing[0]!.content).toBe(`${'x'.repeat(2000)}…`);
  });

  it('caps the list per cell, so later cells are shown too, while still counting every failure', () => {
    const many = Array.from({ length: 50 }, (_, i) => makeCell(`c${i}`, { model: 'gpt-4o-mini', temperature: i / 10 }));
    const c = collectorFor(many, 20, []);
    // 200 / 50 cells = 4 per cell, but never fewer than 5.
    for (let row = 0; row < 20; row++) {
      for (const i of [0, 49]) c.add(makeRecord(row * many.length + i, { cell: many[i]!.id, row_id: `r${row}`, choices: [makeChoice(0, { finish_reason: 'length' })] }));
    }
    expect(c.failingPerCell[0]).toBe(20);
    expect(c.failingPerCell[49]).toBe(20);
    expect(c.failing.filter((f) => f.cell === 'c0')).toHaveLength(5);
    expect(c.failing.filter((f) => f.cell === 'c49')).toHaveLength(5);
  });

  it(`never lists more than ${MAX_FAILING} failing choices in all`, () => {
    const one = [makeCell('only', { model: 'gpt-4o-mini' })];
    const c = collectorFor(one, 300, []);
    for (let row = 0; row < 300; row++) c.add(makeRecord(row, { cell: 'only', row_id: `r${row}`, choices: [makeChoice(0, { finish_reason: 'content_filter' })] }));
    expect(c.failing).toHaveLength(MAX_FAILING);
    expect(c.failingPerCell).toEqual([300]);
    expect(c.failing.at(-1)!.row_id).toBe(`r${MAX_FAILING - 1}`);
  });

  it('keeps per-row values for the comparison: the mean over the row\'s choices, by dataset row', () => {
    const c = collectorFor(cells, 3);
    c.add(makeRecord(0, { cell: cells[0]!.id, row_id: 'A', latency_ms: 40, choices: [good(0, true), good(1, false)] }));
    c.add(makeRecord(4, { cell: cells[0]!.id, row_id: 'C', latency_ms: 60, choices: [good(0, true), good(1, true)] }));
    c.add(failedRecord(1, { cell: cells[1]!.id, row_id: 'A' }));
    expect(c.compareMetrics.map((m) => m.name)).toEqual(['schema_valid_rate', 'json_valid_rate', 'label_pass_rate', 'length_rate', 'error_rate']);
    expect(c.rowValues.rowIds).toEqual(['A', undefined, 'C']);
    expect(Array.from(c.rowValues.series(0, 'label_pass_rate')!)).toEqual([0.5, NaN, 1]);
    expect(Array.from(c.rowValues.series(1, 'error_rate')!)).toEqual([1, NaN, NaN]);
    // Nothing was graded on a failed request: no value, not a zero.
    expect(Array.from(c.rowValues.series(1, 'label_pass_rate')!)).toEqual([NaN, NaN, NaN]);
  });

  it('compares the metrics run.json names, dropping unknown and non-comparable ones', () => {
    const evaluation = { ...emptyEvaluation(), checks: [{ name: 'label', type: 'equals' }], compare: { baseline: null, metrics: ['label_pass_rate', 'latency_p95_ms', 'nonsense', 'latency_mean_ms'], alpha: 0.05 } };
    const c = new ReportCollector(makeManifest(cells, 1, { evaluation }));
    expect(c.compareMetrics.map((m) => m.name)).toEqual(['label_pass_rate', 'latency_mean_ms']);
  });
});
