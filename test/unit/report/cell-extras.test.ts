import { describe, expect, it } from 'vitest';
import { extendCellStats } from '../../../src/report/cell-extras.js';
import type { CellStats } from '../../../src/contracts/summary.js';

describe('extendCellStats: the mean latency interval', () => {
  const base = { model: 'gpt-4o-mini' } as unknown as CellStats;
  const extend = (latency: { n: number; mean: number; variance: number }) => extendCellStats(base, {}, latency, { prompt: 0, completion: 0 }, {});

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
