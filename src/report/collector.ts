import type { ManifestCell, RunManifest } from '../record/index.js';
import type { ChoiceRecord, RequestRecord } from '../record/index.js';
import { defaultCompareMetrics, findMetric, type MetricDef } from '../stats/index.js';
import { RowValues } from '../stats/index.js';
import type { ChoiceRow } from './choice-rows.js';

/** A choice that failed something, as the HTML report lists it. Content is data, shown as text. */
export interface FailingChoice {
  cell: string;
  row_id: string;
  choice_index: number;
  finish_reason: string;
  failed: string[];
  content: string | null;
  detail: string | null;
  /** The dataset row's values, when the record carries them (records written since they do). */
  input: Record<string, unknown> | null;
  /** Failed `equals` checks: what was expected and what the answer had (`got` absent: no value there). */
  expected: Array<{ check: string; expected: unknown; got?: unknown }>;
}

export const MAX_FAILING = 200;
const MAX_CONTENT = 2000;

/**
 * Everything the issue-4 reports need beyond cell-stats.ts, gathered in the same single pass over the records:
 * check columns and counts, per-row values for the paired comparison, failing choices (capped), billed tokens.
 */
export class ReportCollector {
  readonly checks: string[];
  readonly compareMetrics: MetricDef[];
  readonly rowValues: RowValues;
  readonly checkCounts: Array<Record<string, { checked: number; pass: number }>>;
  readonly billed: Array<{ prompt: number; completion: number }>;
  readonly failing: FailingChoice[] = [];
  readonly failingPerCell: number[];
  private readonly perCellCap: number;
  private readonly cells: readonly ManifestCell[];

  constructor(manifest: RunManifest) {
    this.cells = manifest.plan.cells;
    const evaluation = manifest.evaluation;
    this.checks = (evaluation?.checks ?? []).map((c) => c.name);
    const wanted = evaluation?.compare.metrics ?? defaultCompareMetrics(this.checks);
    this.compareMetrics = wanted.map((m) => findMetric(m, this.checks)).filter((m): m is MetricDef => m !== undefined && m.comparable);
    this.rowValues = new RowValues(manifest.plan.rows, this.cells.length, this.compareMetrics);
    this.checkCounts = this.cells.map(() => Object.fromEntries(this.checks.map((c) => [c, { checked: 0, pass: 0 }])));
    this.billed = this.cells.map(() => ({ prompt: 0, completion: 0 }));
    this.failingPerCell = this.cells.map(() => 0);
    // Spread over cells: plan order is row-major, so a plain "first 200" would show only the first rows.
    this.perCellCap = Math.max(5, Math.ceil(MAX_FAILING / Math.max(1, this.cells.length)));
  }

  /** Columns choices.csv gets for the checks. */
  checkColumns(): string[] {
    return this.checks.map((c) => `check_${c}`);
  }

  /** Called once per record with its choices.csv rows; adds the check columns to those rows. */
  add(record: RequestRecord, cellIndex: number, rows: ChoiceRow[]): void {
    const byIndex = new Map(record.choices.map((c) => [c.index, c]));
    const counts = this.checkCounts[cellIndex]!;
    const extended = rows as Array<ChoiceRow & Record<string, unknown>>;
    for (const row of extended) {
      const choice = byIndex.get(Number(row.choice_index));
      const results = choice?.checks;
      for (const name of this.checks) {
        const v = results?.[name];
        row[`check_${name}`] = typeof v === 'boolean' ? v : null;
        if (typeof v === 'boolean') {
          counts[name]!.checked++;
          if (v) counts[name]!.pass++;
        }
      }
      this.noteFailing(row, cellIndex, record, choice);
    }
    // An n_mode repeat record may mix cached and sent parts: only the sent ones were billed.
    const billedUsage = record.parts
      ? record.parts.filter((p) => !p.cached && p.usage).map((p) => p.usage!)
      : !record.cached && record.usage
        ? [record.usage]
        : [];
    for (const u of billedUsage) {
      this.billed[cellIndex]!.prompt += u.prompt_tokens;
      this.billed[cellIndex]!.completion += u.completion_tokens;
    }
    const row = Math.floor(record.seq / this.cells.length);
    this.rowValues.add(row, cellIndex, record.row_id, extended, record.error ? null : record.latency_ms);
  }

  private noteFailing(row: ChoiceRow & Record<string, unknown>, cellIndex: number, record: RequestRecord, choice: ChoiceRecord | undefined): void {
    const failed: string[] = [];
    const reason = String(row.finish_reason);
    if (reason !== 'stop' && reason !== 'tool_calls') failed.push(`finish_reason ${reason}`);
    if (row.json_valid === false) failed.push('json_valid');
    if (row.schema_valid === false) failed.push('schema_valid');
    if (row.tool_args_valid === false) failed.push('tool_args_valid');
    for (const name of this.checks) if (row[`check_${name}`] === false) failed.push(name);
    if (failed.length === 0) return;
    this.failingPerCell[cellIndex]!++;
    if (this.failingPerCell[cellIndex]! > this.perCellCap || this.failing.length >= MAX_FAILING) return;
    const content = typeof row.content === 'string' ? row.content : null;
    this.failing.push({
      cell: String(row.cell),
      row_id: String(row.row_id),
      choice_index: Number(row.choice_index),
      finish_reason: reason,
      failed,
      content: content && content.length > MAX_CONTENT ? `${content.slice(0, MAX_CONTENT)}…` : content,
      detail: (row.error as string | null) ?? (row.schema_errors as string | null) ?? (row.refusal as string | null) ?? null,
      input: record.input ?? null,
      expected: failed.flatMap((name) => {
        const d = choice?.check_details?.[name];
        return d ? [{ check: name, ...d }] : [];
      }),
    });
  }
}
