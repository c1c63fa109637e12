import type { ManifestCell } from '../record/index.js';
import type { RequestRecord } from '../record/index.js';
import { cachedTokens, reasoningTokens } from '../record/index.js';

export const CHOICE_COLUMNS = [
  'cell',
  'model',
  'temperature',
  'top_p',
  'n',
  'row_id',
  'choice_index',
  'completion_id',
  'finish_reason',
  'content',
  'refusal',
  'tool_calls',
  'json_valid',
  'schema_valid',
  'schema_errors',
  'prompt_tokens',
  'completion_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'latency_ms',
  'attempts',
  'error',
  'request_id',
  'served_model',
  'tool_args_valid',
  'logprob_mean',
] as const;

export type ChoiceRow = Record<(typeof CHOICE_COLUMNS)[number], string | number | boolean | null>;

/**
 * Exactly `n` rows per request, whatever happened: a failed request, or a server that returned fewer choices than
 * asked, contributes `error` rows, so choices.csv always has rows × Σn lines. Row k is the choice with index k, never
 * the choice at position k; choices beyond n (kept in the record's extra_choices) are not rows. Usage is per request in the API, so
 * it goes on the request's first row only and the columns sum to the run's tokens.
 */
export function choiceRows(record: RequestRecord, cell: ManifestCell): ChoiceRow[] {
  const p = cell.params;
  const model = String(p['model']);
  const temperature = typeof p['temperature'] === 'number' ? p['temperature'] : null;
  const topP = typeof p['top_p'] === 'number' ? p['top_p'] : null;
  const rows: ChoiceRow[] = [];
  for (let i = 0; i < cell.n; i++) {
    // Choices are recorded in index order; look further only when they are not.
    let found = record.choices[i];
    if (found && found.index !== i) found = record.choices.find((x) => x.index === i);
    const first = i === 0;
    const error = found?.error
      ? found.error
      : found
        ? null
        : record.error
          ? `${record.error.status ?? record.error.kind}: ${record.error.message}`
          : `the server returned no choice with index ${i} (it returned ${record.choices.length ? `indexes ${record.choices.map((x) => x.index).join(', ')}` : 'no choices'})`;
    const c = error === null ? found : undefined;
    // One object literal with every key in column order: a single hidden class for all rows.
    rows.push({
      cell: cell.id,
      model,
      temperature,
      top_p: topP,
      n: cell.n,
      row_id: record.row_id,
      choice_index: i,
      completion_id: record.completion_id,
      finish_reason: c ? (c.finish_reason ?? 'unknown') : 'error',
      content: c ? c.content : null,
      refusal: c ? c.refusal : null,
      tool_calls: c?.tool_calls ? JSON.stringify(c.tool_calls) : null,
      json_valid: c ? c.json_valid : null,
      schema_valid: c ? c.schema_valid : null,
      schema_errors: c && c.schema_errors.length ? c.schema_errors.join('; ') : null,
      prompt_tokens: first ? (record.usage?.prompt_tokens ?? null) : null,
      completion_tokens: first ? (record.usage?.completion_tokens ?? null) : null,
      cached_tokens: first && record.usage ? cachedTokens(record.usage) : null,
      reasoning_tokens: first && record.usage ? reasoningTokens(record.usage) : null,
      latency_ms: record.latency_ms,
      // n_mode repeat: choice k is its own request (part k), with its own attempts; the record's are their sum.
      attempts: record.parts?.[i]?.attempts ?? record.attempts,
      error,
      request_id: record.request_id,
      served_model: record.model,
      tool_args_valid: c ? (c.tool_args_valid ?? null) : null,
      logprob_mean: c ? logprobMean(c.logprobs) : null,
    });
  }
  return rows;
}

/** The mean of the choice's token logprobs (`logprobs.content[].logprob`): how sure the model was of its answer. */
export function logprobMean(logprobs: unknown): number | null {
  const tokens = (logprobs as { content?: unknown } | null | undefined)?.content;
  if (!Array.isArray(tokens) || tokens.length === 0) return null;
  let sum = 0;
  let count = 0;
  for (const t of tokens) {
    const v = (t as { logprob?: unknown } | null)?.logprob;
    if (typeof v === 'number' && Number.isFinite(v)) {
      sum += v;
      count++;
    }
  }
  return count ? sum / count : null;
}
