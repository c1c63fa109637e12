import { PRICES_AS_OF, addBilled, billedCostUsd, emptyBilled, priceFor, type BilledTokens, type Price } from '../contracts/prices.js';
import type { CellStats, CostSection } from '../contracts/summary.js';
import { roundTo } from '../util/round.js';
import type { JudgeTokens } from './cell-stats.js';

/**
 * The run's bill by model. Answers from the Batch API are priced at half the list price, the others at the list
 * price: a run resumed in the other mode holds both. `batch` says the run itself is in batch mode.
 */
export function costSection(cells: readonly CellStats[], billed: readonly BilledTokens[], prices: Readonly<Record<string, Price>>, simulated: boolean, batch = false, judges: ReadonlyArray<ReadonlyMap<string, JudgeTokens>> = []): CostSection {
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
    ...(judges.some((j) => j.size > 0) ? { judges: judgeCost(judges, prices) } : {}),
    ...(batch || batchPrompt + batchCompletion > 0 ? { batch: true, batch_prompt_tokens: batchPrompt, batch_completion_tokens: batchCompletion } : {}),
  };
}

/** `$0.0123`, with enough digits for small runs; "unknown" rather than a misleading $0. */
export function formatUsd(v: number | null): string {
  if (v === null) return 'unknown';
  if (v === 0) return '$0';
  return v >= 1 ? `$${v.toFixed(2)}` : `$${v.toPrecision(3)}`;
}

/** The judge calls' bill, apart from the answers': by judge model, summed over the cells they judged. */
function judgeCost(perCell: ReadonlyArray<ReadonlyMap<string, JudgeTokens>>, prices: Readonly<Record<string, Price>>): NonNullable<CostSection['judges']> {
  const byModel = new Map<string, { calls: number; cached: number; billed: BilledTokens }>();
  for (const cell of perCell) {
    for (const [model, t] of cell) {
      const m = byModel.get(model) ?? { calls: 0, cached: 0, billed: emptyBilled() };
      m.calls += t.calls;
      m.cached += t.cached;
      addBilled(m.billed, t.billed.prompt - t.billed.batch.prompt, t.billed.cached - t.billed.batch.cached, t.billed.completion - t.billed.batch.completion, false);
      addBilled(m.billed, t.billed.batch.prompt, t.billed.batch.cached, t.billed.batch.completion, true);
      byModel.set(model, m);
    }
  }
  const rows = [...byModel].map(([model, m]) => {
    const cost = billedCostUsd(priceFor(model, prices), m.billed);
    return { model, calls: m.calls, cached_calls: m.cached, prompt_tokens: m.billed.prompt, completion_tokens: m.billed.completion, cost_usd: cost === null ? null : roundTo(cost, 6) };
  });
  const unknown = rows.some((r) => r.cost_usd === null && r.prompt_tokens + r.completion_tokens > 0);
  return {
    calls: rows.reduce((s, r) => s + r.calls, 0),
    cached_calls: rows.reduce((s, r) => s + r.cached_calls, 0),
    billed_prompt_tokens: rows.reduce((s, r) => s + r.prompt_tokens, 0),
    billed_completion_tokens: rows.reduce((s, r) => s + r.completion_tokens, 0),
    cost_usd: unknown ? null : roundTo(rows.reduce((s, r) => s + (r.cost_usd ?? 0), 0), 6),
    by_model: rows,
  };
}
