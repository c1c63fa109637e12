/**
 * Built-in list prices, USD per 1M tokens (standard tier, no cache or batch discount), for the common OpenAI chat
 * models. Prices change: the config's `pricing:` overrides any entry, and a model not listed is "unknown", never 0.
 */
export const PRICES_AS_OF = '2025-08-15';

export interface Price {
  input: number;
  output: number;
}

export const PRICES: Readonly<Record<string, Price>> = {
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  o3: { input: 2, output: 8 },
  'o3-mini': { input: 1.1, output: 4.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  o1: { input: 15, output: 60 },
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-4': { input: 30, output: 60 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
};

/**
 * The price of a model: the config's entry, else the table's, trying the name without a snapshot date
 * (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`). Never by prefix: `gpt-4o-mini` is not `gpt-4o`.
 */
export function priceFor(model: string, overrides: Readonly<Record<string, Price>> = {}): Price | undefined {
  const base = model.replace(/-\d{4}-\d{2}-\d{2}$/, '');
  return overrides[model] ?? overrides[base] ?? PRICES[model] ?? PRICES[base];
}

export function costUsd(price: Price | undefined, promptTokens: number, completionTokens: number, factor = 1): number | null {
  if (!price) return null;
  return ((promptTokens * price.input + completionTokens * price.output) / 1e6) * factor;
}

/** The Batch API's price: half the list price, input and output alike. */
export const BATCH_PRICE_FACTOR = 0.5;

/** Billed tokens, and the part of them answered through the Batch API (billed at BATCH_PRICE_FACTOR). */
export interface BilledTokens {
  prompt: number;
  completion: number;
  batch: { prompt: number; completion: number };
}

export function emptyBilled(): BilledTokens {
  return { prompt: 0, completion: 0, batch: { prompt: 0, completion: 0 } };
}

/**
 * What billed tokens cost: the synchronous ones at the list price, the batch ones at half. A run resumed in the
 * other mode holds both.
 */
export function billedCostUsd(price: Price | undefined, billed: BilledTokens): number | null {
  const sync = costUsd(price, billed.prompt - billed.batch.prompt, billed.completion - billed.batch.completion);
  const batch = costUsd(price, billed.batch.prompt, billed.batch.completion, BATCH_PRICE_FACTOR);
  return sync === null || batch === null ? null : sync + batch;
}
