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
] as const;

export type ChoiceRow = Record<(typeof CHOICE_COLUMNS)[number], string | number | boolean | null>;

/**
 * Exactly `n` rows per request, whatever happened: a failed request, or a server that returned fewer choices than
 * asked, contributes `error` rows, so choices.csv always has rows × Σn lines. Usage is per request in the API, so
 * it goes on the request's first row only and the columns sum to the run's tokens.
 */
export function choiceRows(record: RequestRecord, cell: ManifestCell): ChoiceRow[] {
  const p = cell.params;
  const base = {
    cell: cell.id,
    model: String(p['model']),
    temperature: typeof p['temperature'] === 'number' ? p['temperature'] : null,
    top_p: typeof p['top_p'] === 'number' ? p['top_p'] : null,
    n: cell.n,
    row_id: record.row_id,
    completion_id: record.completion_id,
    latency_ms: record.latency_ms,
    attempts: record.attempts,
    request_id: record.request_id,
    served_model: record.model,
  };
  const byIndex = new Map(record.choices.map((c) => [c.index, c]));
  const rows: ChoiceRow[] = [];
  const count = Math.max(cell.n, record.choices.length);
  for (let i = 0; i < count; i++) {
    const c = byIndex.get(i) ?? record.choices[i];
    const first = i === 0;
    const tokens = {
      prompt_tokens: first ? (record.usage?.prompt_tokens ?? null) : null,
      completion_tokens: first ? (record.usage?.completion_tokens ?? null) : null,
    };
    if (!c) {
      const error = record.error
        ? `${record.error.status ?? record.error.kind}: ${record.error.message}`
        : `the server returned ${record.choices.length} of ${cell.n} choices`;
      rows.push({
        ...base,
        ...tokens,
        choice_index: i,
        finish_reason: 'error',
        content: null,
        refusal: null,
        tool_calls: null,
        json_valid: null,
        schema_valid: null,
        schema_errors: null,
        error,
      });
      continue;
    }
    rows.push({
      ...base,
      ...tokens,
      choice_index: i,
      finish_reason: c.finish_reason ?? 'unknown',
      content: c.content,
      refusal: c.refusal,
      tool_calls: c.tool_calls ? JSON.stringify(c.tool_calls) : null,
      json_valid: c.json_valid,
      schema_valid: c.schema_valid,
      schema_errors: c.schema_errors.length ? c.schema_errors.join('; ') : null,
      error: null,
    });
  }
  return rows;
}
