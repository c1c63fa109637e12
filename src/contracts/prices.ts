/**
 * Built-in list prices, USD per 1M tokens (standard tier), for the common OpenAI chat models: input, cached input
 * (prompt tokens the server reports as `prompt_tokens_details.cached_tokens`) and output. Source: OpenAI's API
 * pricing page (openai.com/api/pricing, "Standard" tier), as of PRICES_AS_OF. Prices change: the config's
 * `pricing:` overrides any entry, and a model not listed is "unknown", never 0.
 */
export const PRICES_AS_OF = '2025-08-15';

export interface Price {
  input: number;
  output: number;
  /** Per 1M cached input tokens; absent: the model has no cache discount, cached tokens cost `input`. */
  cached_input?: number | undefined;
}

export const PRICES: Readonly<Record<string, Price>> = {
  'gpt-5': { input: 1.25, cached_input: 0.125, output: 10 },
  'gpt-5-mini': { input: 0.25, cached_input: 0.025, output: 2 },
  'gpt-5-nano': { input: 0.05, cached_input: 0.005, output: 0.4 },
  'gpt-4.1': { input: 2, cached_input: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cached_input: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cached_input: 0.025, output: 0.4 },
  'gpt-4o': { input: 2.5, cached_input: 1.25, output: 10 },
  'gpt-4o-mini': { input: 0.15, cached_input: 0.075, output: 0.6 },
  o3: { input: 2, cached_input: 0.5, output: 8 },
  'o3-mini': { input: 1.1, cached_input: 0.55, output: 4.4 },
  'o4-mini': { input: 1.1, cached_input: 0.275, output: 4.4 },
  o1: { input: 15, cached_input: 7.5, output: 60 },
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

/** `cachedTokens` of the prompt tokens are priced at the cached-input price (the input price when there is none). */
export function costUsd(price: Price | undefined, promptTokens: number, completionTokens: number, factor = 1, cachedTokens = 0): number | null {
  if (!price) return null;
  const cached = Math.min(cachedTokens, promptTokens);
  return (((promptTokens - cached) * price.input + cached * (price.cached_input ?? price.input) + completionTokens * price.output) / 1e6) * factor;
}

/**
 * The Batch API's price: half the list price, input, cached input and output alike. The two discounts multiply: a
 * cached prompt token answered through the Batch API costs half the cached-input price (OpenAI's pricing page lists
 * the Batch tier's cached-input prices at half the Standard tier's).
 */
export const BATCH_PRICE_FACTOR = 0.5;

/**
 * Tokens to price, and the part of them answered through the Batch API (priced at BATCH_PRICE_FACTOR); `cached` is
 * the part of `prompt` the server reported as cached (priced at the cached-input price).
 */
export interface BilledTokens {
  prompt: number;
  cached: number;
  completion: number;
  batch: { prompt: number; cached: number; completion: number };
}

export function emptyBilled(): BilledTokens {
  return { prompt: 0, cached: 0, completion: 0, batch: { prompt: 0, cached: 0, completion: 0 } };
}

/** Adds one request's usage to `into`, under batch when it was answered through the Batch API. */
export function addBilled(into: BilledTokens, prompt: number, cached: number, completion: number, batch: boolean): void {
  into.prompt += prompt;
  into.cached += cached;
  into.completion += completion;
  if (batch) {
    into.batch.prompt += prompt;
    into.batch.cached += cached;
    into.batch.completion += completion;
  }
}

/**
 * What tokens cost, each priced by how it was sent: synchronous ones at the list price, batch ones at half; cached
 * prompt tokens at the cached-input price. A run resumed in the other mode holds both.
 */
export function billedCostUsd(price: Price | undefined, billed: BilledTokens): number | null {
  const b = billed.batch;
  const sync = costUsd(price, billed.prompt - b.prompt, billed.completion - b.completion, 1, billed.cached - b.cached);
  const batch = costUsd(price, b.prompt, b.completion, BATCH_PRICE_FACTOR, b.cached);
  return sync === null || batch === null ? null : sync + batch;
}
