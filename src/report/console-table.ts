import { field, type CellStats, type Summary } from '../contracts/summary.js';
import { textTable } from '../util/text-table.js';
import { showsRate } from './seen-rates.js';

const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);
const ms = (v: number | null) => (v === null ? '-' : `${Math.round(v)}`);

const COLUMNS: Array<[header: string, value: (c: CellStats) => string]> = [
  ['choices', (c) => String(c.choices)],
  ['stop', (c) => pct(c.stop_rate)],
  ['length', (c) => pct(c.length_rate)],
  ['filter', (c) => pct(c.content_filter_rate)],
  ['tools', (c) => pct(c.tool_calls_rate)],
  ['error', (c) => pct(c.error_rate)],
  // Any other finish_reason (function_call, a server's own): without it the rates would not add up to 100%.
  ['other', (c) => pct(c.other_rate ?? null)],
  ['json_ok', (c) => pct(c.json_valid_rate)],
  ['schema_ok', (c) => pct(c.schema_valid_rate)],
  ['p50_ms', (c) => ms(c.latency_p50_ms)],
  ['p95_ms', (c) => ms(c.latency_p95_ms)],
  ['tokens', (c) => String(c.prompt_tokens + c.completion_tokens)],
];

const REFUSAL: [string, (c: CellStats) => string] = ['refusal', (c) => pct(c.refusal_rate ?? null)];

const score = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : '-');
const rateOf = (c: CellStats, metric: string) => pct((field(c, metric) as number | null | undefined) ?? null);

/** A scored check's mean score and unscored rate (its pass rate is in the comparison below, with the others'). */
function scoreColumns(summary: Summary): Array<[string, (c: CellStats) => string]> {
  return (summary.scored_checks ?? []).flatMap((name): Array<[string, (c: CellStats) => string]> => [
    [`${name}_score`, (c) => score(field(c, `${name}_score_mean`))],
    [`${name}_unscored`, (c) => rateOf(c, `${name}_unscored_rate`)],
  ]);
}

/** What the server sent that did not fit the request, in one line for the console; undefined when nothing was odd. */
export function formatAnomalies(summary: Summary): string | undefined {
  const a = summary.anomalies;
  if (!a) return undefined;
  const count = (k: number, one: string, many: string) => (k ? `${k} ${k === 1 ? one : many}` : '');
  const parts = [
    count(a.extra_choice, 'choice beyond n', 'choices beyond n'),
    count(a.duplicate_index, 'repeated choice index', 'repeated choice indexes'),
    count(a.no_index, 'choice without an index', 'choices without an index'),
    count(a.bad_usage, 'request with unusable usage', 'requests with unusable usage').replace(/usage$/, 'usage (counted as absent)'),
  ].filter(Boolean);
  const lines = a.batch_lines ? `${a.batch_lines} batch result ${a.batch_lines === 1 ? 'line' : 'lines'} unreadable, for no request of their batch or repeated (not recorded; run.json's batch parts)` : '';
  if (a.requests === 0) return `anomalies: the server sent ${lines}; counted in summary.json${a.batch_line_examples?.[0] ? `\n  e.g. ${a.batch_line_examples[0]}` : ''}`;
  if (lines) parts.push(lines);
  const example = a.examples[0] ? `
  e.g. ${a.examples[0].cell} row ${a.examples[0].row_id}: ${a.examples[0].message}` : '';
  return `anomalies: the server sent ${parts.join(', ')} in ${a.requests} ${a.requests === 1 ? 'request' : 'requests'}; kept in records.jsonl ('anomalies', 'extra_choices'), counted in summary.json${example}`;
}

/** Metrics a table can be sorted by (`--sort`), best first where that has a meaning. */
export const SORT_KEYS = ['cell', 'schema_valid_rate', 'json_valid_rate', 'stop_rate', 'length_rate', 'error_rate', 'latency_p50_ms', 'latency_p95_ms'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/**
 * One line per cell, fixed-width columns separated by two spaces (textTable), so `sort -k` and `column -t` work on it too.
 */
export function formatSummaryTable(summary: Summary, sortBy: SortKey = 'cell'): string {
  const cells = [...summary.cells];
  if (sortBy !== 'cell') {
    const descending = sortBy.endsWith('valid_rate') || sortBy === 'stop_rate';
    cells.sort((a, b) => {
      const x = (a[sortBy] as number | null) ?? (descending ? -Infinity : Infinity);
      const y = (b[sortBy] as number | null) ?? (descending ? -Infinity : Infinity);
      return descending ? y - x : x - y;
    });
  }
  // Refusals overlap the finish reasons (a refusal ends with 'stop'): a column of their own, when there are any.
  const finish = showsRate('refusal_rate', summary.cells) ? [...COLUMNS.slice(0, 7), REFUSAL] : COLUMNS.slice(0, 7);
  // Scores after json_ok and schema_ok, the other judgments of the answers.
  const columns = [...finish, ...COLUMNS.slice(7, 9), ...scoreColumns(summary), ...COLUMNS.slice(9)];
  return textTable(
    [{ header: 'cell', align: 'left' }, ...columns.map(([header]) => ({ header, align: 'right' as const }))],
    cells.map((c) => [c.cell, ...columns.map(([, f]) => f(c))]),
  ).join('\n');
}
