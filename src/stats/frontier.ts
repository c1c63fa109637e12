/**
 * The quality-cost frontier ("which setting to pick"): the cells no other cell beats on both quality and cost.
 * Pure: the report glue (src/report/pick.ts) decides the metric and the cost and reads them from the stats.
 */

/** The costs a `pick:` may weigh quality against, by the names stats.csv and summary.json use. */
export const PICK_COSTS = ['cost_per_1k_rows', 'tokens_per_1k_rows', 'latency_p95_ms', 'latency_p50_ms', 'latency_mean_ms'] as const;
export type PickCost = (typeof PICK_COSTS)[number];

export interface FrontierPoint {
  id: string;
  /** null (nothing measured) or not finite: the cell cannot be placed, and is on no frontier. */
  quality: number | null;
  cost: number | null;
}

/**
 * Ids of the cells on the Pareto frontier, cheapest first: a cell is on it unless another is at least as good and
 * at most as costly, and strictly one of them. Two cells with the same quality and cost are both on it (neither
 * beats the other). `direction` 'lower' is for metrics where less is better (error_rate).
 */
export function paretoFrontier(points: readonly FrontierPoint[], direction: 'higher' | 'lower' = 'higher'): string[] {
  const sign = direction === 'higher' ? 1 : -1;
  const placed = points
    .map((p, order) => ({ id: p.id, q: p.quality === null ? NaN : sign * p.quality, c: p.cost ?? NaN, order }))
    .filter((p) => Number.isFinite(p.q) && Number.isFinite(p.c))
    // Cheapest first; at one cost the best first, so a worse cell at the same cost is seen after the one beating it.
    .sort((a, b) => a.c - b.c || b.q - a.q || a.order - b.order);
  const out: string[] = [];
  let best = -Infinity;
  let bestCost = NaN;
  for (const p of placed) {
    if (p.q > best) {
      best = p.q;
      bestCost = p.c;
      out.push(p.id);
    } else if (p.q === best && p.c === bestCost) {
      out.push(p.id);
    }
  }
  return out;
}
