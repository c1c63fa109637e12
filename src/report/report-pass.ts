import { join } from 'node:path';
import { stringify } from 'csv-stringify';
import { stringify as stringifySync } from 'csv-stringify/sync';
import type { RunManifest } from '../record/index.js';
import { BATCH_RESULT_LOST } from '../record/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CHOICE_COLUMNS } from './choice-rows.js';
import { CSV_CAST } from './csv-cell.js';
import type { Anomaly, RequestRecord } from '../record/index.js';
import { ReportCollector } from './collector.js';
import { extraStatsColumns } from './cell-extras.js';
import { JUDGE_STATS_COLUMNS } from './cell-stats.js';
import { axisValues, gridAxes, type AxisValue, type GridAxis } from './axes.js';
import { cellReports, evaluateRun, writeExtraReports } from './evaluate-run.js';
import type { AnomalySection, Summary } from '../contracts/summary.js';
import { formatUsd } from './cost-summary.js';

export const STATS_COLUMNS = [
  'cell', 'model', 'temperature', 'top_p', 'n', 'requests', 'choices',
  'stop', 'length', 'content_filter', 'tool_calls', 'error', 'other',
  'stop_rate', 'length_rate', 'content_filter_rate', 'tool_calls_rate', 'error_rate',
  'json_valid', 'json_valid_rate', 'schema_valid', 'schema_valid_rate',
  'latency_p50_ms', 'latency_p95_ms', 'latency_mean_ms', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'reasoning_tokens',
  'failed_requests', 'retries', 'json_checked', 'schema_checked',
  'tool_args_checked', 'tool_args_valid', 'tool_args_valid_rate',
  'other_rate', 'refusal', 'refusal_rate', 'logprob_mean', 'cached',
] as const;

const MAX_ANOMALY_EXAMPLES = 10;

const csvOptions = {
  header: true,
  // Model output is data: text starting with = + - @ tab or CR is prefixed with ' so spreadsheets don't run it;
  // numbers (a row id `-2`) are written as they are (csv-cell.ts).
  cast: CSV_CAST,
} as const;

/**
 * Rows per choices.csv chunk: few enough that a batch's rows are gone before the next scavenge. At 512 a batch
 * outlived scavenges and its rows were promoted to the old generation (33 MB of them in the report of a
 * 200,000-request run, against 5 MB at 64, which is no slower; test/bench/RESULTS.md, third session).
 */
const CSV_BATCH_ROWS = 64;

/**
 * Everything the reports need from the records, taken one record at a time in plan order: the per-cell statistics
 * and the comparison's row values (ReportCollector), the anomalies, and choices.csv's text in batches, from any
 * source of records in plan order.
 */
/** Odd batch result lines, from run.json's parts: they belong to no record. */
function batchLines(m: RunManifest): Pick<AnomalySection, 'batch_lines' | 'batch_line_examples'> | undefined {
  const parts = (m.batch?.parts ?? []).filter((p) => p.line_anomalies && p.line_anomalies.count > 0);
  if (parts.length === 0) return undefined;
  return {
    batch_lines: parts.reduce((n, p) => n + p.line_anomalies!.count, 0),
    batch_line_examples: parts.flatMap((p) => p.line_anomalies!.examples.map((e) => `batch ${p.batch_id}: ${e}`)).slice(0, 5),
  };
}

export class ReportPass {
  readonly columns: string[];
  requests = 0;
  choices = 0;
  failedChoices = 0;
  resultsLost = 0;
  private readonly anomalies: AnomalySection = { requests: 0, extra_choice: 0, duplicate_index: 0, no_index: 0, bad_usage: 0, examples: [] };
  private readonly cells: RunManifest['plan']['cells'];
  private readonly collector: ReportCollector;
  /** Grid axes without a column of their own until now (max_tokens, seed, stop, …): appended to every report. */
  private readonly axes: GridAxis[];
  private readonly axisColumns: string[];
  private readonly axisValues: Array<Record<string, AxisValue>>;
  private batch: unknown[][] = [];
  private header = true;

  constructor(manifest: RunManifest) {
    this.cells = manifest.plan.cells;
    this.collector = new ReportCollector(manifest);
    const checkColumns = this.collector.checkColumns();
    const reserved = new Set<string>([...CHOICE_COLUMNS, ...checkColumns, ...STATS_COLUMNS, ...extraStatsColumns(this.collector.checks, this.collector.scored, this.collector.humanNames), ...(this.collector.judged ? JUDGE_STATS_COLUMNS : [])]);
    this.axes = gridAxes(this.cells, reserved);
    this.axisColumns = this.axes.filter((a) => !a.builtIn).map((a) => a.column);
    this.axisValues = axisValues(this.cells, this.axes);
    this.columns = [...CHOICE_COLUMNS, ...checkColumns, ...this.axisColumns];
  }

  /** Takes the next record in plan order; returns choices.csv text when a batch of rows is full. */
  add(record: RequestRecord): string | undefined {
    const cellIndex = this.collector.cellIndex(record);
    const out = this.collector.add(record);
    this.noteAnomalies(record, this.cells[cellIndex]!.n);
    this.requests++;
    if (record.error?.code === BATCH_RESULT_LOST) this.resultsLost++;
    const axes = this.axisValues[cellIndex]!;
    for (const row of out) {
      for (const column of this.axisColumns) row[column] = axes[column];
      this.choices++;
      if (row.error !== null) this.failedChoices++;
      this.batch.push(this.columns.map((k) => row[k]));
    }
    // Rows become CSV text in batches with the synchronous stringifier: one chunk per batch, not per row.
    return this.batch.length >= CSV_BATCH_ROWS ? this.csv() : undefined;
  }

  private noteAnomalies(record: RequestRecord, n: number): void {
    const anomalies = record.anomalies ?? legacyAnomalies(record, n);
    if (!anomalies.length) return;
    const a = this.anomalies;
    a.requests++;
    let badUsage = false;
    for (const x of anomalies) {
      if (x.kind === 'bad_usage') badUsage = true;
      else if (x.kind in a) a[x.kind]++;
      if (a.examples.length < MAX_ANOMALY_EXAMPLES) a.examples.push({ seq: record.seq, cell: record.cell, row_id: record.row_id, message: x.message });
    }
    if (badUsage) a.bad_usage++;
  }

  /** The CSV text not yet returned (the header alone when there were no records). */
  flush(): string | undefined {
    return this.batch.length > 0 || this.header ? this.csv() : undefined;
  }

  /** Writes stats.csv, summary.json and the other reports; choices.csv is the caller's. */
  async finish(dir: string, m: RunManifest): Promise<Summary> {
    const { cells: reported, pick } = cellReports(m, this.collector);
    const cellStats = reported.map((c, i) => {
      const axes = this.axisValues[i]!;
      for (const column of this.axisColumns) (c as unknown as Record<string, unknown>)[column] = axes[column];
      return c;
    });
    // A shard is complete when its own share is recorded; a merge with shards missing never is.
    const complete = this.requests === (m.shard?.requests ?? m.plan.requests) && m.status !== 'partial';
    const stats = writeFileAtomic(join(dir, 'stats.csv'), await csvText(cellStats, [...STATS_COLUMNS, ...extraStatsColumns(this.collector.checks, this.collector.scored, this.collector.humanNames), ...(this.collector.judged ? JUDGE_STATS_COLUMNS : []), ...this.axisColumns]));
    const summary: Summary = {
      name: m.name,
      status: m.status,
      complete,
      incomplete: complete || m.status === 'partial' ? undefined : incompleteNote(m, this.requests),
      ...(m.shard ? { shard: { index: m.shard.index, count: m.shard.count, rows: m.shard.rows, requests: m.shard.requests } } : {}),
      ...(m.merged?.partial && m.status === 'partial' ? { partial: { missing: m.merged.missing, unfinished: m.merged.unfinished } } : {}),
      started_at: m.started_at,
      ended_at: m.ended_at,
      provider: m.provider,
      plan: { rows: m.plan.rows, requests: m.plan.requests, choices: m.plan.choices, cells: this.cells.length },
      recorded: {
        requests: this.requests,
        choices: this.choices,
        failed_requests: cellStats.reduce((s, c) => s + c.failed_requests, 0),
        failed_choices: this.failedChoices,
        ...(this.resultsLost ? { batch_results_lost: this.resultsLost } : {}),
      },
      ...(this.anomalies.requests || batchLines(m) ? { anomalies: { ...this.anomalies, ...batchLines(m) } } : {}),
      totals: {
        prompt_tokens: cellStats.reduce((s, c) => s + c.prompt_tokens, 0),
        completion_tokens: cellStats.reduce((s, c) => s + c.completion_tokens, 0),
        cached_tokens: cellStats.reduce((s, c) => s + c.cached_tokens, 0),
        reasoning_tokens: cellStats.reduce((s, c) => s + c.reasoning_tokens, 0),
        retries: cellStats.reduce((s, c) => s + c.retries, 0),
        cached: cellStats.reduce((s, c) => s + c.cached, 0),
      },
      axes: this.axes.map((a) => ({ param: a.param, column: a.column })),
      cells: cellStats,
      ...evaluateRun(m, this.collector, cellStats, pick, this.requests),
    };
    // Written side by side (see writeExtraReports).
    await Promise.all([stats, writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`), writeExtraReports(dir, summary, this.collector)]);
    return summary;
  }

  private csv(): string {
    const text = stringifySync(this.batch, { ...csvOptions, header: this.header, columns: this.columns });
    this.header = false;
    this.batch = [];
    return text;
  }
}

/**
 * Records written before choices were keyed at record time may hold choices beyond n or a repeated index: they are
 * not rows, so they are counted here rather than silently left out.
 */
function legacyAnomalies(record: RequestRecord, n: number): Anomaly[] {
  const out: Anomaly[] = [];
  const seen = new Set<number>();
  for (const c of record.choices) {
    if (!(c.index >= 0 && c.index < n)) out.push({ kind: 'extra_choice', message: `choice index ${c.index} is outside 0..${n - 1} (n = ${n}); not in choices.csv` });
    else if (seen.has(c.index)) out.push({ kind: 'duplicate_index', message: `choice index ${c.index} was returned more than once; the first is in choices.csv` });
    seen.add(c.index);
  }
  return out;
}

/** How an incomplete run ended, in the words its outputs use. */
const HOW_IT_ENDED: Record<RunManifest['status'], string> = {
  running: "run.json says 'running': its process is still running, or was killed (kill -9, a lost machine)",
  interrupted: 'it was interrupted',
  stopped: 'the API stopped it',
  failed: 'it failed',
  complete: "run.json says 'complete', yet requests are missing from records.jsonl",
  partial: 'a partial merge: shards are missing or unfinished',
};

/** The sentence every output of an incomplete run carries. */
export function incompleteNote(m: RunManifest, recorded: number): string {
  return (
    `Incomplete run: ${recorded} of ${m.shard?.requests ?? m.plan.requests} requests recorded (${m.status === 'stopped' && m.budget?.stopped ? `its budget of ${formatUsd(m.budget.limit_usd)} stopped it; resume with a higher --max-cost` : (HOW_IT_ENDED[m.status] ?? m.status)}). ` +
    `Statistics cover only the recorded requests and gates are not judged; resume it to complete it: evalrun run ${m.config_file}${m.shard ? ` --shard ${m.shard.index}/${m.shard.count}` : ''} --out DIR --resume (DIR: this run directory).`
  );
}

function csvText(records: object[], columns: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    stringify(records as Array<Record<string, unknown>>, { ...csvOptions, columns }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}
