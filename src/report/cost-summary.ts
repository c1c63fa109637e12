import { BATCH_PRICE_FACTOR, PRICES_AS_OF, costUsd, priceFor, type Price } from '../contracts/prices.js';
import type { CellStats, CostSection } from '../contracts/summary.js';
import { roundTo } from '../util/round.js';

export function costSection(cells: readonly CellStats[], billed: ReadonlyArray<{ prompt: number; completion: number }>, prices: Readonly<Record<string, Price>>, simulated: boolean, batch = false): CostSection {
  const byModel = new Map<string, { prompt: number; completion: number }>();
  cells.forEach((c, i) => {
    const m = byModel.get(c.model) ?? { prompt: 0, completion: 0 };
    m.prompt += billed[i]?.prompt ?? 0;
    m.completion += billed[i]?.completion ?? 0;
    byModel.set(c.model, m);
  });
  const rows = [...byModel].map(([model, t]) => {
    const price = priceFor(model, prices);
    const cost = costUsd(price, t.prompt, t.completion, batch ? BATCH_PRICE_FACTOR : 1);
    return { model, prompt_tokens: t.prompt, completion_tokens: t.completion, input_per_1m: price?.input ?? null, output_per_1m: price?.output ?? null, cost_usd: cost === null ? null : roundTo(cost, 6) };
  });
  const unknown = rows.filter((r) => r.cost_usd === null && r.prompt_tokens + r.completion_tokens > 0).map((r) => r.model);
  const known = roundTo(rows.reduce((s, r) => s + (r.cost_usd ?? 0), 0), 6);
  return {
    currency: 'USD',
    prices_as_of: PRICES_AS_OF,
    billed_prompt_tokens: rows.reduce((s, r) => s + r.prompt_tokens, 0),
    billed_completion_tokens: rows.reduce((s, r) => s + r.completion_tokens, 0),
    cost_usd: unknown.length ? null : known,
    known_cost_usd: known,
    unknown_models: unknown,
    by_model: rows,
    simulated,
    ...(batch ? { batch: true } : {}),
  };
}

/** `$0.0123`, with enough digits for small runs; "unknown" rather than a misleading $0. */
export function formatUsd(v: number | null): string {
  if (v === null) return 'unknown';
  if (v === 0) return '$0';
  return v >= 1 ? `$${v.toFixed(2)}` : `$${v.toPrecision(3)}`;
}
