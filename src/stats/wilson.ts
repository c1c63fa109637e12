import { Z95 } from './distributions.js';

export interface Interval {
  low: number;
  high: number;
}

/**
 * Wilson score interval for k successes in n trials. Chosen over the textbook Wald interval (p ± z·√(p(1−p)/n)),
 * which collapses to [0, 0] at 0/n and [1, 1] at n/n and undercovers for small n — exactly the cells people gate
 * on ("0 of 40 truncated"). null when n is 0: there is no rate to bound.
 */
export function wilson(k: number, n: number, z = Z95): Interval | null {
  if (!(n > 0)) return null;
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // Clamp away floating-point dust so 0/n gives exactly 0 and n/n exactly 1.
  return { low: k === 0 ? 0 : Math.max(0, centre - half), high: k === n ? 1 : Math.min(1, centre + half) };
}
