import { Readable } from 'node:stream';
import { join } from 'node:path';
import { stringify } from 'csv-stringify';
import { stringify as stringifySync } from 'csv-stringify/sync';
import { indexJournal, recordsInOrder } from '../record/read-journal.js';
import { RECORDS, readManifest, type RunManifest } from '../record/manifest.js';
import { streamToFileAtomic, writeFileAtomic } from '../util/atomic-write.js';
import { CellAccumulator, type CellStats } from './cell-stats.js';
import { CHOICE_COLUMNS, choiceRows, type ChoiceRow } from './choice-rows.js';
import { ReportCollector } from './collector.js';
import { extraStatsColumns } from './cell-extras.js';
import { cellReports, evaluateRun, writeExtraReports } from './evaluate-run.js';
import type { ComparisonSection } from './comparison.js';
import type { GateSection } from '../gate/gates.js';
import type { CostSection } from './cost-summary.js';

export const STATS_COLUMNS = [
  'cell', 'model', 'temperature', 'top_p', 'n', 'requests', 'choices',
  'stop', 'length', 'content_filter', 'tool_calls', 'error', 'other',
  'stop_rate', 'length_rate', 'content_filter_rate', 'tool_calls_rate', 'error_rate',
  'json_valid', 'json_valid_rate', 'schema_valid', 'schema_valid_rate',
  'latency_p50_ms', 'latency_p95_ms', 'latency_mean_ms', 'prompt_tokens', 'completion_tokens',
  'failed_requests', 'retries', 'json_checked', 'schema_checked',
] as const;

export interface Summary {
  name: string;
  status: RunManifest['status'];
  complete: boolean;
  started_at: string;
  ended_at: string | null;
  provider: RunManifest['provider'];
  plan: { rows: number; requests: number; choices: number; cells: number };
  recorded: { requests: number; choices: number; failed_requests: number };
  totals: { prompt_tokens: number; completion_tokens: number; retries: number };
  cells: CellStats[];
  /** Names of the configured checks (columns check_<name>, metrics <name>_pass_rate). */
  checks?: string[];
  /** Every cell against the baseline cell, paired over rows (absent with a single cell). */
  comparison?: ComparisonSection | undefined;
  gates?: GateSection;
  /** Billed tokens and their cost at the run's prices. */
  cost?: CostSection;
}

const csvOptions = {
  header: true,
  cast: { boolean: (v: boolean) => (v ? 'true' : 'false') },
  // Model output is data: a cell starting with = + - @ tab or CR is prefixed with ' so spreadsheets don't run it.
  escape_formulas: true,
} as const;

/**
 * Derives choices.csv, stats.csv and summary.json from run.json and records.jsonl alone, in one streaming pass in
 * plan order, so the same files come out after a crash, a resume, or from another executor's records.
 */
export async function writeReports(dir: string, manifest?: RunManifest): Promise<Summary> {
  const m = manifest ?? (await readManifest(dir));
  const cells = m.plan.cells;
  const stats = cells.map((c) => new CellAccumulator(c));
  const collector = new ReportCollector(m);
  const index = await indexJournal(join(dir, RECORDS), m.plan.requests);
  let choicesWritten = 0;

  const columns: string[] = [...CHOICE_COLUMNS, ...collector.checkColumns()];
  // Rows are turned into CSV text in batches with the synchronous stringifier: one stream chunk per batch, not per
  // row, keeps the report pass cheap next to the run (test/bench/RESULTS.md).
  async function* csvChunks(): AsyncGenerator<string> {
    let batch: unknown[][] = [];
    let header = true;
    const flush = () => {
      const text = stringifySync(batch, { ...csvOptions, header, columns });
      header = false;
      batch = [];
      return text;
    };
    for await (const row of rows()) {
      batch.push(columns.map((k) => (row as Record<string, unknown>)[k]));
      if (batch.length >= 512) yield flush();
    }
    if (batch.length > 0 || header) yield flush();
  }

  async function* rows(): AsyncGenerator<ChoiceRow> {
    for await (const record of recordsInOrder(join(dir, RECORDS), index)) {
      const cellIndex = record.seq % cells.length;
      const cell = cells[cellIndex]!;
      const acc = stats[cellIndex]!;
      const out = choiceRows(record, cell);
      collector.add(record, cellIndex, out);
      acc.addRequest({
        attempts: record.attempts,
        latency_ms: record.latency_ms,
        failed: record.error !== null,
        prompt_tokens: record.usage?.prompt_tokens ?? 0,
        completion_tokens: record.usage?.completion_tokens ?? 0,
      });
      for (const row of out) {
        acc.addChoice({ finish_reason: String(row.finish_reason), json_valid: row.json_valid as boolean | null, schema_valid: row.schema_valid as boolean | null });
        choicesWritten++;
        yield row;
      }
    }
  }

  await streamToFileAtomic(
    join(dir, 'choices.csv'),
    Readable.from(csvChunks(), { objectMode: false }),
  );
  const cellStats = cellReports(m, collector, stats);
  await writeFileAtomic(join(dir, 'stats.csv'), await csvText(cellStats, [...STATS_COLUMNS, ...extraStatsColumns(collector.checks)]));
  const summary: Summary = {
    name: m.name,
    status: m.status,
    complete: index.count === m.plan.requests,
    started_at: m.started_at,
    ended_at: m.ended_at,
    provider: m.provider,
    plan: { rows: m.plan.rows, requests: m.plan.requests, choices: m.plan.choices, cells: cells.length },
    recorded: {
      requests: index.count,
      choices: choicesWritten,
      failed_requests: cellStats.reduce((s, c) => s + c.failed_requests, 0),
    },
    totals: {
      prompt_tokens: cellStats.reduce((s, c) => s + c.prompt_tokens, 0),
      completion_tokens: cellStats.reduce((s, c) => s + c.completion_tokens, 0),
      retries: cellStats.reduce((s, c) => s + c.retries, 0),
    },
    cells: cellStats,
    ...evaluateRun(m, collector, cellStats),
  };
  await writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeExtraReports(dir, summary, collector, stats);
  return summary;
}

function csvText(records: object[], columns: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    stringify(records as Array<Record<string, unknown>>, { ...csvOptions, columns }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}
