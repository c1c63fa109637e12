import { addBilled, type BilledTokens } from '../contracts/prices.js';
import type { RequestRecord } from './types.js';

type Usage = NonNullable<RequestRecord['usage']>;

const count = (v: unknown): number | undefined => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : undefined);
const detail = (o: unknown, key: string): unknown => (o && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined);

/**
 * The usage details every report reads: the prompt tokens the server reports as cached
 * (`prompt_tokens_details.cached_tokens`) and the completion tokens spent reasoning
 * (`completion_tokens_details.reasoning_tokens`). 0 when not sent; a value that is not an integer within its count
 * is `undefined` (the caller reports it).
 */
export function usageDetails(u: Usage | null | undefined): { cached: number | undefined; reasoning: number | undefined } {
  if (!u) return { cached: 0, reasoning: 0 };
  const rawCached = detail(u.prompt_tokens_details, 'cached_tokens');
  const rawReasoning = detail(u.completion_tokens_details, 'reasoning_tokens');
  const cached = rawCached === undefined || rawCached === null ? 0 : count(rawCached);
  const reasoning = rawReasoning === undefined || rawReasoning === null ? 0 : count(rawReasoning);
  return {
    cached: cached !== undefined && cached <= u.prompt_tokens ? cached : undefined,
    reasoning: reasoning !== undefined && reasoning <= u.completion_tokens ? reasoning : undefined,
  };
}

/** Cached prompt tokens as priced: an unusable count is priced as uncached (and reported as an anomaly when recorded). */
export function cachedTokens(u: Usage | null | undefined): number {
  return usageDetails(u).cached ?? 0;
}

export function reasoningTokens(u: Usage | null | undefined): number {
  return usageDetails(u).reasoning ?? 0;
}

/** The sum of two usages (an `n_mode: repeat` record's parts); the details when either part has them. */
export function addUsage(a: Usage, b: Usage): Usage {
  const sum: Usage = {
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    total_tokens: a.total_tokens + b.total_tokens,
  };
  if (a.prompt_tokens_details || b.prompt_tokens_details) sum.prompt_tokens_details = { cached_tokens: cachedTokens(a) + cachedTokens(b) };
  if (a.completion_tokens_details || b.completion_tokens_details) sum.completion_tokens_details = { reasoning_tokens: reasoningTokens(a) + reasoningTokens(b) };
  return sum;
}

/**
 * Adds what a record was billed for to `into`: its usage, under batch when a batch answered it; nothing for an answer
 * from the response cache, and for `n_mode: repeat` only its parts that were sent. Every cost figure (the reports,
 * the spend limit's spent figure) prices records through this one rule.
 */
export function addRecordBilled(into: BilledTokens, record: Pick<RequestRecord, 'usage' | 'cached' | 'parts' | 'batch_id'>): void {
  const batch = record.batch_id !== undefined;
  const price = (u: Usage) => addBilled(into, u.prompt_tokens, cachedTokens(u), u.completion_tokens, batch);
  if (record.parts) for (const p of record.parts) p.usage && !p.cached && price(p.usage);
  else if (!record.cached && record.usage) price(record.usage);
}
