import { describe, expect, it } from 'vitest';
import { CellAccumulator, LatencySamples } from '../../../src/report/cell-stats.js';
import { makeCell } from '../../helpers/records.js';

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
  it('counts finish reasons, JSON checks, tokens and retries, and leaves failed requests out of latency', () => {
    const acc = new CellAccumulator(makeCell('c', { model: 'm', temperature: 0.5, n: 2 }));
    acc.addRequest({ attempts: 1, latency_ms: 100, failed: false, prompt_tokens: 10, completion_tokens: 4 });
    acc.addRequest({ attempts: 3, latency_ms: 900, failed: true, prompt_tokens: 0, completion_tokens: 0 });
    acc.addRequest({ attempts: 2, latency_ms: 300, failed: false, prompt_tokens: 12, completion_tokens: 6 });
    for (const c of [
      { finish_reason: 'stop', json_valid: true, schema_valid: true },
      { finish_reason: 'stop', json_valid: true, schema_valid: false },
      { finish_reason: 'error', json_valid: null, schema_valid: null },
      { finish_reason: 'error', json_valid: null, schema_valid: null },
      { finish_reason: 'length', json_valid: false, schema_valid: false },
      { finish_reason: 'function_call', json_valid: null, schema_valid: null },
    ]) {
      acc.addChoice(c);
    }
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

  it('gives null rates for a cell with nothing recorded', () => {
    const s = new CellAccumulator(makeCell('c', { model: 'm' })).result();
    expect(s.stop_rate).toBeNull();
    expect(s.json_valid_rate).toBeNull();
    expect(s.latency_p50_ms).toBeNull();
  });
});
