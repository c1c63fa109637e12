import { describe, expect, it } from 'vitest';
import { holm } from '../../../src/stats/holm.js';

describe('holm', () => {
  it('adjusts step-down and keeps the order monotone (hand-computed)', () => {
    // sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → raised to 0.06
    const adj = holm([0.01, 0.04, 0.03, 0.005]);
    expect(adj[0]).toBeCloseTo(0.03, 12);
    expect(adj[1]).toBeCloseTo(0.06, 12);
    expect(adj[2]).toBeCloseTo(0.06, 12);
    expect(adj[3]).toBeCloseTo(0.02, 12);
  });

  it('caps at 1, leaves nulls out of the family, and is the identity for one test', () => {
    expect(holm([0.6, 0.9])).toEqual([1, 1]);
    expect(holm([null, 0.01, 0.02])).toEqual([null, 0.02, 0.02]);
    expect(holm([0.03])).toEqual([0.03]);
  });
});
