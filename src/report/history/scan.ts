import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { indexJournal, recordsInOrder, scanJournal } from '../../record/index.js';
import { RECORDS, type RunManifest } from '../../record/index.js';
import { emptyEvaluation } from '../../contracts/evaluation.js';
import { findMetric, RowValues, type MetricDef } from '../../stats/index.js';
import { scoredCheckNames } from '../../contracts/checks.js';
import type { CellStats, Summary } from '../../contracts/summary.js';
import { gradedRows, ReportCollector } from '../collector.js';
import { cellReports } from '../evaluate-run.js';
import { cellMoments, momentsOf, type RunSide } from '../compare-runs.js';
import { CellAccumulator } from '../cell-stats.js';
import { readRowValuesFile } from './row-values-file.js';

/** One run as history sees it: what it is, whether it may be judged, its cells' figures and its per-row values. */
export interface HistoryRun {
  dir: string;
  manifest: RunManifest;
  /** Requests recorded in records.jsonl. */
  recorded: number;
  /** Every planned request recorded, status complete, not a partial merge: only such a run is judged. */
  judged: boolean;
  /** Why the run is shown but not judged. */
  not_judged?: string;
  /** In plan order, with intervals and the served models. */
  cells: CellStats[];
  /** The metrics of the history this run has (its checks decide which check rates it has). */
  metrics: MetricDef[];
  side: RunSide;
  /** Read from the run's own row-values.json: as cheap to read again as a kept copy, so none is kept. */
  ownValues?: boolean;
}

/**
 * Reads what history needs of a run: run.json, the cells' figures from summary.json, and the per-row values of the
 * history's metrics from records.jsonl (each record's choices graded as every report grades them), in one pass in
 * file order that keeps nothing of a record but one number per row, cell and metric. A summary.json that does not
 * describe the journal as it stands (a run killed before writing it, or resumed since) is not trusted: the cells'
 * figures are then computed from the records in plan order, as `evalrun report` would.
 */
export async function scanRun(dir: string, manifest: RunManifest, metricNames: readonly string[]): Promise<HistoryRun> {
  const checks = (manifest.evaluation?.checks ?? []).map((c) => c.name);
  const scored = scoredCheckNames(manifest.evaluation?.checks);
  const metrics = metricNames.map((m) => findMetric(m, checks, scored)).filter((m): m is MetricDef => m !== undefined && m.comparable);
  const journal = join(dir, RECORDS);
  const summary = await readSummary(dir);
  const plan = manifest.plan.cells;
  let recorded = -1;
  let rowValues: RowValues | undefined;
  let cells: CellStats[] | undefined;
  let moments: RunSide['moments'];
  const trusted = summary !== undefined && summary.status === manifest.status && summary.cells.length === plan.length && !(await writtenSince(journal, join(dir, 'summary.json')));
  // The run's own row-values.json, written with its summary from the same records: no journal to read at all.
  const written = trusted ? await readRowValuesFile(dir, summary.recorded.requests, manifest.plan.rows, plan.length, metrics) : undefined;
  if (trusted && written) {
    recorded = summary.recorded.requests;
    rowValues = written.rowValues;
    cells = summary.cells;
    moments = written.moments;
  } else if (trusted) {
    const values = new RowValues(manifest.plan.rows, plan.length, metrics);
    // The cells' figures are summary.json's; the accumulators give what it does not hold: the latency and score
    // moments the unpaired tests need (when the dataset changed between runs).
    const accumulators = plan.map((c) => new CellAccumulator(c, checks, scored));
    recorded = await scanJournal(journal, manifest.plan.requests, (record) => {
      const cell = record.seq % plan.length;
      const rows = gradedRows(record, plan[cell]!, checks, scored);
      values.add(Math.floor(record.seq / plan.length), cell, record.row_id, rows, record.error ? null : record.latency_ms);
      accumulators[cell]!.add(record, rows);
    });
    // summary.json describes the journal as it stands only if it counted as many requests.
    if (recorded === summary.recorded.requests) {
      rowValues = values;
      cells = summary.cells;
      moments = (i, metric) => cellMoments(accumulators[i]!, metric);
    }
  }
  if (!rowValues || !cells) {
    const evaluation = manifest.evaluation ?? emptyEvaluation();
    const collector = new ReportCollector({ ...manifest, evaluation: { ...evaluation, compare: { ...evaluation.compare, metrics: metrics.map((m) => m.name) } } });
    const index = await indexJournal(journal, manifest.plan.requests);
    for await (const record of recordsInOrder(journal, index)) collector.add(record);
    recorded = index.count;
    rowValues = collector.rowValues;
    cells = cellReports(manifest, collector).cells;
    moments = (i, metric) => momentsOf(collector, i, metric);
  }
  const notJudged = whyNotJudged(manifest, recorded);
  return {
    dir,
    manifest,
    recorded,
    judged: notJudged === undefined,
    ...(notJudged ? { not_judged: notJudged } : {}),
    cells,
    metrics,
    side: { rowValues, cells, moments },
    ...(written ? { ownValues: true } : {}),
  };
}

/**
 * Whether the journal was written after summary.json: a run resumed (or killed and resumed) since its summary. Such a
 * summary is not read on trust, so the journal is read once, in plan order, instead of being scanned first for a
 * count that would then disagree.
 */
async function writtenSince(journal: string, summary: string): Promise<boolean> {
  const [j, s] = await Promise.all([stat(journal).catch(() => undefined), stat(summary).catch(() => undefined)]);
  return j !== undefined && s !== undefined && j.mtimeMs > s.mtimeMs;
}

async function readSummary(dir: string): Promise<Summary | undefined> {
  try {
    const s = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Summary;
    return Array.isArray(s.cells) && typeof s.recorded?.requests === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** A run judged on part of its rows would report drift that is only a change of rows: it is shown, never judged. */
function whyNotJudged(m: RunManifest, recorded: number): string | undefined {
  if (m.shard) return `shard ${m.shard.index}/${m.shard.count} alone: its other shards were not given`;
  if (m.merged?.partial) return `a partial merge of shards (missing: ${[...m.merged.missing, ...m.merged.unfinished].join(', ') || 'some requests'})`;
  if (m.status !== 'complete') return `status ${m.status}: ${recorded} of ${m.plan.requests} requests recorded`;
  if (recorded !== m.plan.requests) return `${recorded} of ${m.plan.requests} requests recorded`;
  return undefined;
}
