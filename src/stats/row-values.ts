import type { MetricDef } from './metrics.js';

/** The part of a choices.csv row a per-row mean needs. */
export interface ChoiceOutcome {
  finish_reason: unknown;
  json_valid: unknown;
  schema_valid: unknown;
  [column: string]: unknown;
}

/** How one choice counts towards a rate: true/false, or null when it is not in the denominator. */
export function outcomeOf(metric: MetricDef): (row: ChoiceOutcome) => boolean | null {
  const count = metric.count!;
  // Over all choices, like stats.csv's refusal_rate: refusals overlap the finish reasons.
  if (count === 'refusal') return (row) => typeof row['refusal'] === 'string' && row['refusal'] !== '';
  if (metric.of === 'choices') return (row) => row.finish_reason === count;
  // A scored check's unscored share, over the choices that got an answer (a failed request is error_rate's).
  if (count.endsWith('_unscored')) {
    const check = `check_${count.slice(0, -'_unscored'.length)}`;
    return (row) => (row.finish_reason === 'error' ? null : row[check] === null);
  }
  const column = count.endsWith('_pass') ? `check_${count.slice(0, -'_pass'.length)}` : count;
  return (row) => (typeof row[column] === 'boolean' ? (row[column] as boolean) : null);
}

/**
 * Per (cell, metric), each dataset row's mean over its choices: the unit the paired tests work on. A row's n
 * choices share a prompt and are not independent samples, so they are averaged into one number per row instead of
 * being counted n times. NaN marks "no value" (failed request, nothing checked). Float64, not float32: a row rate
 * like 2/3 stored in float32 is off its lattice by ~1e-8, and the exact lattice test would miss it and fall back to
 * Monte Carlo (whose p-value floor Holm then multiplies).
 */
export class RowValues {
  readonly rows: number;
  readonly metrics: readonly MetricDef[];
  readonly rowIds: Array<string | undefined>;
  private readonly data: Float64Array[];
  private readonly outcomes: Array<((row: ChoiceOutcome) => boolean | null) | undefined>;
  private readonly scoreColumns: Array<string | undefined>;

  constructor(rows: number, cells: number, metrics: readonly MetricDef[]) {
    this.rows = rows;
    this.metrics = metrics;
    this.rowIds = new Array<string | undefined>(rows);
    this.data = Array.from({ length: cells * metrics.length }, () => new Float64Array(rows).fill(NaN));
    this.outcomes = metrics.map((m) => (m.kind === 'rate' ? outcomeOf(m) : undefined));
    this.scoreColumns = metrics.map((m) => (m.kind === 'score' ? m.column : undefined));
  }

  add(row: number, cell: number, rowId: string, choices: readonly ChoiceOutcome[], latencyMs: number | null): void {
    if (row < 0 || row >= this.rows) return;
    this.rowIds[row] = rowId;
    this.metrics.forEach((metric, m) => {
      const outcome = this.outcomes[m];
      let value = NaN;
      const column = this.scoreColumns[m];
      if (column !== undefined) {
        // A score: the mean of the row's scored choices (unscored ones have no score and are left out).
        let sum = 0;
        let n = 0;
        for (const c of choices) {
          const v = c[column];
          if (typeof v !== 'number') continue;
          sum += v;
          n++;
        }
        if (n > 0) value = sum / n;
      } else if (!outcome) value = latencyMs ?? NaN;
      else {
        let k = 0;
        let n = 0;
        for (const c of choices) {
          const o = outcome(c);
          if (o === null) continue;
          n++;
          if (o) k++;
        }
        if (n > 0) value = k / n;
      }
      this.data[cell * this.metrics.length + m]![row] = value;
    });
  }

  series(cell: number, metric: string): Float64Array | undefined {
    const m = this.metrics.findIndex((x) => x.name === metric);
    return m === -1 ? undefined : this.data[cell * this.metrics.length + m];
  }
}
