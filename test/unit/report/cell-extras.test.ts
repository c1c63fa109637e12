import { describe, expect, it } from 'vitest';
import { extendCellStats } from '../../../src/report/cell-extras.js';
import type { CellStats } from '../../../src/contracts/summary.js';
import { emptyBilled } from '../../../src/contracts/prices.js';

describe('extendCellStats: the mean latency interval', () => {
  const base = { model: 'gpt-4o-mini' } as unknown as CellStats;
  const extend = (latency: { n: number; mean: number; variance: number }) => extendCellStats(base, {}, latency, emptyBilled(), emptyBilled(), {});

  it('is mean ± t·sd/√n', () => {
    const out = extend({ n: 4, mean: 100, variance: 16 });
    // t(0.975, 3) = 3.182; sd/√n = 2
    expect(out['latency_mean_ms_low']).toBeCloseTo(93.6, 1);
    expect(out['latency_mean_ms_high']).toBeCloseTo(106.4, 1);
  });

  it('never reports a negative low bound: mostly instant answers and one slow one', () => {
    const out = extend({ n: 3, mean: 10, variance: 300 });
    expect(out['latency_mean_ms_low']).toBe(0);
    expect(out['latency_mean_ms_high'] as number).toBeGreaterThan(10);
  });
});

describe('extendCellStats: the cell cost', () => {
  const base = { model: 'gpt-4o-mini' } as unknown as CellStats;
  const latency = { n: 0, mean: 0, variance: 0 };

  it('prices synchronous tokens at the list price and Batch API tokens at half (a run resumed in the other mode)', () => {
    // gpt-4o-mini: $0.15 input, $0.60 output per 1M.
    expect(extendCellStats(base, {}, latency, { prompt: 1e6, cached: 0, completion: 1e6, batch: { prompt: 0, cached: 0, completion: 0 } }, emptyBilled(), {}).cost_usd).toBeCloseTo(0.75, 9);
    expect(extendCellStats(base, {}, latency, { prompt: 1e6, cached: 0, completion: 1e6, batch: { prompt: 1e6, cached: 0, completion: 1e6 } }, emptyBilled(), {}).cost_usd).toBeCloseTo(0.375, 9);
    // Half of each through the Batch API: 0.375 at list + 0.1875 at half.
    expect(extendCellStats(base, {}, latency, { prompt: 2e6, cached: 0, completion: 2e6, batch: { prompt: 1e6, cached: 0, completion: 1e6 } }, emptyBilled(), {}).cost_usd).toBeCloseTo(1.125, 9);
  });
});
