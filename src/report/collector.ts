import { failedParts, type GradedChoice } from '../contracts/failing.js';
import type { Price } from '../contracts/prices.js';
import type { CellStats } from '../contracts/summary.js';
import type { ManifestCell, RunManifest } from '../record/index.js';
import type { ChoiceRecord, RequestRecord } from '../record/index.js';
import { defaultCompareMetrics, findMetric, type MetricDef } from '../stats/index.js';
import { RowValues } from '../stats/index.js';
import { CellAccumulator, type AgreementCounts } from './cell-stats.js';
import { humanChecks, SCALE_POINTS, scoredCheckNames, type HumanCheck } from '../contracts/checks.js';
import { choiceRows, type ChoiceRow } from './choice-rows.js';
import { agreementFields } from './cell-extras.js';
import type { AgreementSection } from '../contracts/summary.js';
import { defaultPickCandidates } from './pick.js';

/** A choice that failed something, as the HTML report lists it. Content is data, shown as text. */
export interface FailingChoice {
  cell: string;
  /** The request's plan position: report.html links it into `evalrun view` (`?seq=`). */
  seq: number;
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

/**
 * A record's choices.csv rows with a `check_<name>` column per check (null: not graded), `<name>_score` and
 * `<name>_reason` per scored check, and `<name>_human` per check with human labels (null: unlabelled): what every
 * count reads.
 */
export function gradedRows(record: RequestRecord, cell: ManifestCell, checks: readonly string[], scored: readonly string[] = [], human: readonly string[] = []): Array<ChoiceRow & Record<string, unknown>> {
  const rows = choiceRows(record, cell) as Array<ChoiceRow & Record<string, unknown>>;
  const byIndex = new Map(record.choices.map((c) => [c.index, c]));
  for (const row of rows) {
    const choice = byIndex.get(Number(row.choice_index));
    const results = choice?.checks;
    for (const name of checks) {
      const v = results?.[name];
      row[`check_${name}`] = typeof v === 'boolean' ? v : null;
    }
    for (const name of scored) {
      const score = choice?.check_scores?.[name];
      row[`${name}_score`] = typeof score === 'number' ? score : null;
      row[`${name}_reason`] = choice?.check_reasons?.[name] ?? null;
    }
    for (const name of human) {
      const label = choice?.check_human?.[name];
      row[`${name}_human`] = typeof label === 'number' ? label : null;
    }
  }
  return rows;
}

export const MAX_FAILING = 200;
const MAX_CONTENT = 2000;

/**
 * The run's statistics, taken one record at a time in plan order: one CellAccumulator per cell (counts, latencies,
 * check counts, billed tokens), the per-row values paired comparisons need, and the failing choices (capped). The
 * report pass and `compare` both feed records here and keep no per-cell counts of their own.
 */
export class ReportCollector {
  readonly checks: string[];
  /** The checks that yield scores (SCORED_CHECK_TYPES). */
  readonly scored: string[];
  /** The checks compared with human labels (`human: { column }`), with the scale their labels are on. */
  readonly human: HumanCheck[];
  readonly compareMetrics: MetricDef[];
  readonly rowValues: RowValues;
  /** One accumulator per cell, in plan order. */
  readonly cells: CellAccumulator[];
  readonly failing: FailingChoice[] = [];
  readonly failingPerCell: number[];
  private readonly perCellCap: number;

  private readonly plan: readonly ManifestCell[];

  constructor(manifest: RunManifest) {
    this.plan = manifest.plan.cells;
    const evaluation = manifest.evaluation;
    this.checks = (evaluation?.checks ?? []).map((c) => c.name);
    this.scored = scoredCheckNames(evaluation?.checks);
    this.human = humanChecks(evaluation?.checks);
    const wanted = evaluation?.compare.metrics ?? defaultCompareMetrics(this.checks, this.scored);
    this.compareMetrics = wanted.map((m) => findMetric(m, this.checks, this.scored)).filter((m): m is MetricDef => m !== undefined && m.comparable);
    // The pick metric is compared too (each cell against the best, for the recommendation): its per-row values are
    // kept even when `compare:` does not list it. Without `pick.metric` it is one of its default candidates.
    const pickNames = evaluation?.pick?.metric ? [evaluation.pick.metric] : defaultPickCandidates(this.checks);
    const pickMetrics = pickNames.map((m) => findMetric(m, this.checks, this.scored)).filter((m): m is MetricDef => m !== undefined && m.comparable && !this.compareMetrics.some((c) => c.name === m.name));
    this.rowValues = new RowValues(manifest.plan.rows, this.plan.length, [...this.compareMetrics, ...pickMetrics]);
    this.cells = this.plan.map((c) => new CellAccumulator(c, this.checks, this.scored, this.human));
    this.failingPerCell = this.plan.map(() => 0);
    // Spread over cells: plan order is row-major, so a plain "first 200" would show only the first rows.
    this.perCellCap = Math.max(5, Math.ceil(MAX_FAILING / Math.max(1, this.plan.length)));
  }

  /** Columns choices.csv gets for the checks: `check_<name>`, and for a scored check `<name>_score`, `<name>_reason`. */
  checkColumns(): string[] {
    const human = new Set(this.human.map((h) => h.name));
    return this.checks.flatMap((c) => [`check_${c}`, ...(this.scored.includes(c) ? [`${c}_score`, `${c}_reason`] : []), ...(human.has(c) ? [`${c}_human`] : [])]);
  }

  /** Names of the checks compared with human labels. */
  get humanNames(): string[] {
    return this.human.map((h) => h.name);
  }

  /** Each human-labelled check's agreement over all cells: their tables of counts added up, then one κ. */
  agreement(): AgreementSection {
    const out: AgreementSection = {};
    for (const h of this.human) {
      const k = SCALE_POINTS[h.scale];
      const pooled: AgreementCounts = { scale: h.scale, k, counts: new Array<number>(k * k).fill(0), unscored: 0 };
      for (const c of this.cells) {
        const a = c.agreement[h.name]!;
        a.counts.forEach((v, i) => (pooled.counts[i]! += v));
        pooled.unscored += a.unscored;
      }
      out[h.name] = { scale: h.scale, weights: h.scale === 'pass_fail' ? 'none' : 'quadratic', ...agreementFields(pooled) };
    }
    return out;
  }

  /** Which cell of the plan a record belongs to (plan order is row-major). */
  cellIndex(record: RequestRecord): number {
    return record.seq % this.plan.length;
  }

  /** Takes the next record; returns its choices.csv rows, check columns included. */
  add(record: RequestRecord): Array<ChoiceRow & Record<string, unknown>> {
    const cellIndex = this.cellIndex(record);
    const rows = gradedRows(record, this.plan[cellIndex]!, this.checks, this.scored, this.humanNames);
    for (const row of rows) this.noteFailing(row, cellIndex, record);
    this.cells[cellIndex]!.add(record, rows);
    const row = Math.floor(record.seq / this.plan.length);
    this.rowValues.add(row, cellIndex, record.row_id, rows, record.error ? null : record.latency_ms);
    return rows;
  }

  /** Every cell's stats.csv / summary.json figures, cost at `prices`. */
  cellStats(prices: Readonly<Record<string, Price>> = {}): CellStats[] {
    return this.cells.map((c) => c.result(prices));
  }

  private noteFailing(row: ChoiceRow & Record<string, unknown>, cellIndex: number, record: RequestRecord): void {
    const failed = failedParts(row as GradedChoice, this.checks, (name) => row[`check_${name}`]);
    if (failed.length === 0) return;
    this.failingPerCell[cellIndex]!++;
    if (this.failingPerCell[cellIndex]! > this.perCellCap || this.failing.length >= MAX_FAILING) return;
    const content = typeof row.content === 'string' ? row.content : null;
    const choice: ChoiceRecord | undefined = record.choices.find((c) => c.index === Number(row.choice_index));
    this.failing.push({
      cell: String(row.cell),
      seq: record.seq,
      row_id: String(row.row_id),
      choice_index: Number(row.choice_index),
      finish_reason: String(row.finish_reason),
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
