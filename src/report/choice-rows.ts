import type { ManifestCell } from '../record/manifest.js';
import type { RequestRecord } from '../record/types.js';

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
  'latency_ms',
  'attempts',
  'error',
  'request_id',
  'served_model',
  'tool_args_valid',
] as const;

export type ChoiceRow = Record<(typeof CHOICE_COLUMNS)[number], string | number | boolean | null>;

/**
 * Exactly `n` rows per request, whatever happened: a failed request, or a server that returned fewer choices than
 * asked, contributes `error` rows, so choices.csv always has rows × Σn lines. Usage is per request in the API, so
 * it goes on the request's first row only and the columns sum to the run's tokens.
 */
export function choiceRows(record: RequestRecord, cell: ManifestCell): ChoiceRow[] {
  const p = cell.params;
  const model = String(p['model']);
  const temperature = typeof p['temperature'] === 'number' ? p['temperature'] : null;
  const topP = typeof p['top_p'] === 'number' ? p['top_p'] : null;
  const rows: ChoiceRow[] = [];
  const count = Math.max(cell.n, record.choices.length);
  for (let i = 0; i < count; i++) {
    // Choices normally arrive in index order; look further only when they do not.
    let c = record.choices[i];
    if (c && c.index !== i) c = record.choices.find((x) => x.index === i) ?? c;
    const first = i === 0;
    const error = c
      ? null
      : record.error
        ? `${record.error.status ?? record.error.kind}: ${record.error.message}`
        : `the server returned ${record.choices.length} of ${cell.n} choices`;
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
      latency_ms: record.latency_ms,
      attempts: record.attempts,
      error,
      request_id: record.request_id,
      served_model: record.model,
      tool_args_valid: c ? (c.tool_args_valid ?? null) : null,
    });
  }
  return rows;
}
