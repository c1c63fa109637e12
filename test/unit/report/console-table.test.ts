import { describe, expect, it } from 'vitest';
import { formatSummaryTable } from '../../../src/report/console-table.js';
import { CellAccumulator } from '../../../src/report/cell-stats.js';
import type { CellStats, Summary } from '../../../src/contracts/summary.js';
import { makeCell } from '../../helpers/records.js';

function cellStats(id: string, over: Partial<CellStats>): CellStats {
  return { ...new CellAccumulator(makeCell(id, { model: 'm' })).result(), ...over };
}

function summaryOf(cells: CellStats[]): Summary {
  return {
    name: 't',
    status: 'complete',
    complete: true,
    started_at: '',
    ended_at: null,
    provider: { kind: 'simulator', base_url: '' },
    plan: { rows: 1, requests: cells.length, choices: cells.length, cells: cells.length },
    recorded: { requests: cells.length, choices: cells.length, failed_requests: 0 },
    totals: { prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, reasoning_tokens: 0, retries: 0, cached: 0 },
    cells,
  };
}

const a = cellStats('m/t0', { choices: 10, stop_rate: 1, schema_valid_rate: 0.5, latency_p50_ms: 120.4, prompt_tokens: 100, completion_tokens: 20 });
const b = cellStats('m/t1.4/a-much-longer-id', { choices: 8, stop_rate: 0.75, schema_valid_rate: 0.875, latency_p50_ms: 80, prompt_tokens: 3, completion_tokens: 4 });
const c = cellStats('m/t0.7', { choices: 0 });

describe('formatSummaryTable', () => {
  it('prints a header and one aligned line per cell, with rates as percentages and - for none', () => {
    const lines = formatSummaryTable(summaryOf([a, b])).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]!.split(/\s+/)).toEqual(['cell', 'choices', 'stop', 'length', 'filter', 'tools', 'error', 'other', 'json_ok', 'schema_ok', 'p50_ms', 'p95_ms', 'tokens']);
    expect(lines[1]!.split(/\s+/)).toEqual(['m/t0', '10', '100.0%', '-', '-', '-', '-', '-', '-', '50.0%', '120', '-', '120']);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[1]!.startsWith('m/t0'.padEnd('m/t1.4/a-much-longer-id'.length))).toBe(true);
  });

  it('keeps the plan order by default', () => {
    const ids = formatSummaryTable(summaryOf([b, a, c])).split('\n').slice(1).map((l) => l.split(' ')[0]);
    expect(ids).toEqual(['m/t1.4/a-much-longer-id', 'm/t0', 'm/t0.7']);
  });

  it('sorts validity rates best first, with cells lacking the metric last', () => {
    const ids = formatSummaryTable(summaryOf([c, a, b]), 'schema_valid_rate').split('\n').slice(1).map((l) => l.split(' ')[0]);
    expect(ids).toEqual(['m/t1.4/a-much-longer-id', 'm/t0', 'm/t0.7']);
  });

  it('sorts latencies fastest first, with cells lacking the metric last', () => {
    const ids = formatSummaryTable(summaryOf([c, a, b]), 'latency_p50_ms').split('\n').slice(1).map((l) => l.split(' ')[0]);
    expect(ids).toEqual(['m/t1.4/a-much-longer-id', 'm/t0', 'm/t0.7']);
  });
});
