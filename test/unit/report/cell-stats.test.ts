import { describe, expect, it } from 'vitest';
import { CellAccumulator, LatencySamples } from '../../../src/report/cell-stats.js';
import { choiceRows } from '../../../src/report/choice-rows.js';
import type { RequestRecord } from '../../../src/record/types.js';
import { failedRecord, makeCell, makeChoice, makeRecord } from '../../helpers/records.js';

function samples(values: number[]): LatencySamples {
  const s = new LatencySamples();
  for (const v of values) s.push(v);
  return s;
}

describe('LatencySamples', () => {
  it('interpolates percentiles between closest ranks (NumPy linear), sorting numerically', () => {
    // sorted: 2, 4, 10, 33, 100 — a lexicographic sort would put 100 before 2
    const s = samples([10, 2, 100, 4, 33]);
    const [p0, p25, p50, p95, p100] = s.percentiles([0, 0.25, 0.5, 0.95, 1]);
    expect(p0).toBe(2);
    expect(p25).toBe(4); // h = 1
    expect(p50).toBe(10); // h = 2
    expect(p95).toBeCloseTo(33 + 0.8 * (100 - 33), 10); // h = 3.8 → 86.6
    expect(p100).toBe(100);
    expect(s.mean()).toBeCloseTo(149 / 5, 10);
  });

  it('interpolates in an even-sized sample', () => {
    const [p50, p90] = samples([1, 2, 3, 4]).percentiles([0.5, 0.9]);
    expect(p50).toBe(2.5); // h = 1.5
    expect(p90).toBeCloseTo(3.7, 10); // h = 2.7
  });

  it('returns the one value for every percentile of a single sample', () => {
    expect(samples([42]).percentiles([0, 0.5, 0.95])).toEqual([42, 42, 42]);
  });

  it('returns null for an empty sample', () => {
    const s = new LatencySamples();
    expect(s.percentiles([0.5, 0.95])).toEqual([null, null]);
    expect(s.mean()).toBeNull();
  });

  it('grows past its initial capacity without losing values', () => {
    const values = [...Array(1000).keys()].map((i) => (i * 37) % 1000); // a permutation of 0..999
    const s = samples(values);
    expect(s.size).toBe(1000);
    const [p50, p95] = s.percentiles([0.5, 0.95]);
    expect(p50).toBeCloseTo(499.5, 10);
    expect(p95).toBeCloseTo(949.05, 10);
    expect(s.mean()).toBeCloseTo(499.5, 10);
  });
});

describe('CellAccumulator', () => {
  const cell = makeCell('c', { model: 'm', temperature: 0.5, n: 2 });
  /** A record taken the way the report pass takes it: with its choices.csv rows and their check columns. */
  const take = (acc: CellAccumulator, record: RequestRecord, checks: Record<number, Record<string, boolean | null>> = {}) => {
    const rows = choiceRows(record, cell).map((r, i) => ({ ...r, ...Object.fromEntries(Object.entries(checks[i] ?? {}).map(([k, v]) => [`check_${k}`, v])) }));
    acc.add(record, rows);
  };
  const usage = (prompt: number, completion: number) => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

  it('counts finish reasons, JSON checks, tokens and retries, and leaves failed requests out of latency', () => {
    const acc = new CellAccumulator(cell);
    take(acc, makeRecord(0, { latency_ms: 100, usage: usage(10, 4), choices: [makeChoice(0, { json_valid: true, schema_valid: true }), makeChoice(1, { json_valid: true, schema_valid: false })] }));
    take(acc, failedRecord(1, { latency_ms: 900, attempts: 3 }));
    take(acc, makeRecord(2, { latency_ms: 300, attempts: 2, usage: usage(12, 6), choices: [makeChoice(0, { finish_reason: 'length', json_valid: false, schema_valid: false }), makeChoice(1, { finish_reason: 'function_call' })] }));
    const s = acc.result();
    expect(s).toMatchObject({
      cell: 'c',
      model: 'm',
      temperature: 0.5,
      top_p: null,
      n: 2,
      requests: 3,
      failed_requests: 1,
      choices: 6,
      stop: 2,
      length: 1,
      error: 2,
      other: 1,
      content_filter: 0,
      json_checked: 3,
      json_valid: 2,
      schema_checked: 3,
      schema_valid: 1,
      prompt_tokens: 22,
      completion_tokens: 10,
      retries: 3,
      latency_p50_ms: 200,
      latency_mean_ms: 200,
    });
    expect(s.stop_rate).toBeCloseTo(2 / 6, 10);
    expect(s.json_valid_rate).toBeCloseTo(2 / 3, 10);
    expect(s.latency_p95_ms).toBe(290);
  });

  it('counts a request with a missing choice as failed, while its answer still has a latency', () => {
    const acc = new CellAccumulator(cell);
    take(acc, makeRecord(0, { latency_ms: 70, choices: [makeChoice(0)] }));
    expect(acc.result()).toMatchObject({ requests: 1, failed_requests: 1, choices: 2, stop: 1, error: 1, latency_mean_ms: 70 });
  });

  it('counts refusals, tool-argument checks, logprobs and the configured checks, with their rates and intervals', () => {
    const acc = new CellAccumulator(cell, ['label']);
    const logprobs = (v: number) => ({ content: [{ token: 'a', logprob: v, bytes: null, top_logprobs: [] }] });
    take(acc, makeRecord(0, { choices: [makeChoice(0, { content: null, refusal: 'I cannot help with that.', logprobs: logprobs(-1) }), makeChoice(1, { finish_reason: 'tool_calls', tool_args_valid: true, logprobs: logprobs(-3) })] }), { 0: { label: null }, 1: { label: true } });
    take(acc, makeRecord(1, { choices: [makeChoice(0, { finish_reason: 'tool_calls', tool_args_valid: false }), makeChoice(1)] }), { 0: { label: false }, 1: { label: true } });
    const s = acc.result();
    expect(s).toMatchObject({ refusal: 1, tool_args_checked: 2, tool_args_valid: 1, tool_args_valid_rate: 0.5, logprob_mean: -2, label_checked: 3, label_pass: 2 });
    expect(s.refusal_rate).toBe(0.25);
    expect(s['label_pass_rate']).toBeCloseTo(2 / 3, 10);
    // Wilson 95% interval of 2 of 3.
    expect(s['label_pass_rate_low']).toBe(0.2077);
    expect(s['label_pass_rate_high']).toBe(0.9385);
  });

  it('bills only what was sent: a cached answer and the cached parts of an n_mode repeat record cost nothing', () => {
    const acc = new CellAccumulator(cell);
    const part = (u: ReturnType<typeof usage>, cached: boolean) => ({ attempts: 1, latency_ms: 5, http_status: 200, request_id: null, completion_id: null, cached, usage: u, error: null });
    take(acc, makeRecord(0, { usage: usage(1000, 1000), cached: true, attempts: 0, choices: [makeChoice(0), makeChoice(1)] }));
    take(acc, makeRecord(1, { usage: usage(30, 9), parts: [part(usage(20, 6), false), part(usage(10, 3), true)], choices: [makeChoice(0), makeChoice(1)] }));
    expect(acc.billed).toEqual({ prompt: 20, cached: 0, completion: 6, batch: { prompt: 0, cached: 0, completion: 0 } });
    const s = acc.result({ m: { input: 1, output: 2 } });
    // Recorded usage counts everything; cost only what was billed (USD per 1M tokens).
    expect(s).toMatchObject({ prompt_tokens: 1030, completion_tokens: 1009, cached: 1, retries: 0, cost_usd: (20 * 1 + 6 * 2) / 1e6 });
  });

  it('bills a Batch API answer at half the list price, next to synchronous answers of the same cell (a resumed run)', () => {
    const acc = new CellAccumulator(cell);
    take(acc, makeRecord(0, { usage: usage(100, 10), choices: [makeChoice(0), makeChoice(1)] }));
    take(acc, makeRecord(1, { usage: usage(200, 20), batch_id: 'batch_1', latency_ms: null, choices: [makeChoice(0), makeChoice(1)] }));
    expect(acc.billed).toEqual({ prompt: 300, cached: 0, completion: 30, batch: { prompt: 200, cached: 0, completion: 20 } });
    // USD per 1M tokens: input 1, output 2; the batch answer at half.
    expect(acc.result({ m: { input: 1, output: 2 } }).cost_usd).toBeCloseTo((100 + 2 * 10 + (200 + 2 * 20) / 2) / 1e6, 12);
  });

  it('prices every answer by how it was sent in cost_per_1k_rows too: a batch answer at half, cached input at its price', () => {
    const detailed = (prompt: number, cached: number, completion: number) => ({ ...usage(prompt, completion), prompt_tokens_details: { cached_tokens: cached } });
    const sync = new CellAccumulator(cell);
    const batch = new CellAccumulator(cell);
    take(sync, makeRecord(0, { usage: detailed(1000, 400, 100), choices: [makeChoice(0), makeChoice(1)] }));
    take(batch, makeRecord(0, { usage: detailed(1000, 400, 100), batch_id: 'batch_1', latency_ms: null, choices: [makeChoice(0), makeChoice(1)] }));
    const price = { m: { input: 1, cached_input: 0.25, output: 2 } };
    // USD per 1M tokens: 600 uncached at 1, 400 cached at 0.25, 100 completion at 2, per row; × 1,000 rows.
    const listPrice = ((600 * 1 + 400 * 0.25 + 100 * 2) / 1e6) * 1000;
    expect(sync.result(price).cost_per_1k_rows).toBeCloseTo(listPrice, 6);
    expect(batch.result(price).cost_per_1k_rows).toBeCloseTo(listPrice / 2, 6);
    expect(batch.result(price).cost_usd).toBeCloseTo(listPrice / 2 / 1000, 9);
  });

  it('gives null rates for a cell with nothing recorded', () => {
    const s = new CellAccumulator(makeCell('c', { model: 'm' })).result();
    expect(s.stop_rate).toBeNull();
    expect(s.json_valid_rate).toBeNull();
    expect(s.latency_p50_ms).toBeNull();
  });
});
