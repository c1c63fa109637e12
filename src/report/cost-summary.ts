import { PRICES_AS_OF, addBilled, billedCostUsd, emptyBilled, priceFor, type BilledTokens, type Price } from '../contracts/prices.js';
import type { CellStats, CostSection } from '../contracts/summary.js';
import { roundTo } from '../util/round.js';

/**
 * The run's bill by model. Answers from the Batch API are priced at half the list price, the others at the list
 * price: a run resumed in the other mode holds both. `batch` says the run itself is in batch mode.
 */
export function costSection(cells: readonly CellStats[], billed: readonly BilledTokens[], prices: Readonly<Record<string, Price>>, simulated: boolean, batch = false): CostSection {
  const byModel = new Map<string, BilledTokens>();
  cells.forEach((c, i) => {
    const m = byModel.get(c.model) ?? emptyBilled();
    const b = billed[i] ?? emptyBilled();
    addBilled(m, b.prompt - b.batch.prompt, b.cached - b.batch.cached, b.completion - b.batch.completion, false);
    addBilled(m, b.batch.prompt, b.batch.cached, b.batch.completion, true);
    byModel.set(c.model, m);
  });
  const rows = [...byModel].map(([model, t]) => {
    const price = priceFor(model, prices);
    const cost = billedCostUsd(price, t);
    return {
      model,
      prompt_tokens: t.prompt,
      cached_tokens: t.cached,
      completion_tokens: t.completion,
      input_per_1m: price?.input ?? null,
      cached_input_per_1m: price ? (price.cached_input ?? price.input) : null,
      output_per_1m: price?.output ?? null,
      cost_usd: cost === null ? null : roundTo(cost, 6),
    };
  });
  const unknown = rows.filter((r) => r.cost_usd === null && r.prompt_tokens + r.completion_tokens > 0).map((r) => r.model);
  const known = roundTo(rows.reduce((s, r) => s + (r.cost_usd ?? 0), 0), 6);
  const batchPrompt = [...byModel.values()].reduce((s, t) => s + t.batch.prompt, 0);
  const batchCompletion = [...byModel.values()].reduce((s, t) => s + t.batch.completion, 0);
  return {
    currency: 'USD',
    prices_as_of: PRICES_AS_OF,
    billed_prompt_tokens: rows.reduce((s, r) => s + r.prompt_tokens, 0),
    billed_completion_tokens: rows.reduce((s, r) => s + r.completion_tokens, 0),
    billed_cached_tokens: rows.reduce((s, r) => s + r.cached_tokens, 0),
    cost_usd: unknown.length ? null : known,
    known_cost_usd: known,
    unknown_models: unknown,
    by_model: rows,
    simulated,
    ...(batch || batchPrompt + batchCompletion > 0 ? { batch: true, batch_prompt_tokens: batchPrompt, batch_completion_tokens: batchCompletion } : {}),
  };
}

/** `$0.0123`, with enough digits for small runs; "unknown" rather than a misleading $0. */
export function formatUsd(v: number | null): string {
  if (v === null) return 'unknown';
  if (v === 0) return '$0';
  return v >= 1 ? `$${v.toFixed(2)}` : `$${v.toPrecision(3)}`;
}
