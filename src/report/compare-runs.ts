import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { indexJournal, recordsInOrder } from '../record/read-journal.js';
import { RECORDS, readManifest, type RunManifest } from '../record/manifest.js';
import { DEFAULT_ALPHA, emptyEvaluation } from '../record/evaluation.js';
import { suggest } from '../config/locate.js';
import { compareMetric, METHOD_NOTE, type ComparisonItem } from '../stats/compare.js';
import { defaultCompareMetrics, findMetric, metricsFor, suggestMetric, type MetricDef } from '../stats/metrics.js';
import { CellAccumulator } from './cell-stats.js';
import { choiceRows } from './choice-rows.js';
import { ReportCollector } from './collector.js';
import { rounded, type ComparisonSection } from './comparison.js';
import { field, extendCellStats } from './cell-extras.js';

/** A compared run, and whether every planned request of it is recorded. */
export interface ComparedRun {
  dir: string;
  name: string;
  status: RunManifest['status'];
  complete: boolean;
  recorded_requests: number;
  planned_requests: number;
}

export interface RunComparison extends ComparisonSection {
  run_a: ComparedRun;
  run_b: ComparedRun;
  /** What makes the comparison weaker than it looks (an incomplete run), for the user. */
  warnings: string[];
  /** Dataset rows (by row_id) both runs have: the pairs of a paired comparison. */
  common_rows: number;
  cells: string[];
  only_in_a: string[];
  only_in_b: string[];
}

interface ScannedRun {
  manifest: RunManifest;
  recorded: number;
  collector: ReportCollector;
  stats: CellAccumulator[];
}

/** One pass over a run's records, gathering per-row values of `metrics` and per-cell counts. */
async function scanRun(dir: string, metrics: string[]): Promise<ScannedRun> {
  const manifest = await readManifest(dir);
  const evaluation = manifest.evaluation ?? emptyEvaluation();
  const collector = new ReportCollector({ ...manifest, evaluation: { ...evaluation, compare: { ...evaluation.compare, metrics } } });
  const cells = manifest.plan.cells;
  const stats = cells.map((c) => new CellAccumulator(c));
  const index = await indexJournal(join(dir, RECORDS), manifest.plan.requests);
  for await (const record of recordsInOrder(join(dir, RECORDS), index)) {
    const cellIndex = record.seq % cells.length;
    const rows = choiceRows(record, cells[cellIndex]!);
    collector.add(record, cellIndex, rows);
    const acc = stats[cellIndex]!;
    acc.addRequest({ attempts: record.attempts, latency_ms: record.latency_ms, failed: record.error !== null, prompt_tokens: 0, completion_tokens: 0 });
    for (const row of rows) acc.addChoice({ finish_reason: String(row.finish_reason), json_valid: row.json_valid as boolean | null, schema_valid: row.schema_valid as boolean | null });
  }
  return { manifest, recorded: index.count, collector, stats };
}

/** The checks both runs graded: only those can be compared. */
async function commonChecks(dirA: string, dirB: string): Promise<string[]> {
  const [a, b] = await Promise.all([readManifest(dirA), readManifest(dirB)]);
  const inB = new Set((b.evaluation?.checks ?? []).map((c) => c.name));
  return (a.evaluation?.checks ?? []).map((c) => c.name).filter((c) => inB.has(c));
}

/**
 * Run B against run A, cell by cell (matched by id), paired over the dataset rows both have (matched by row_id);
 * when they share no rows, the unpaired fallback. Holm across the matched cells, per metric.
 */
export async function compareRuns(dirA: string, dirB: string, options: { metrics?: string[] | undefined; alpha?: number | undefined } = {}): Promise<RunComparison> {
  const checks = await commonChecks(dirA, dirB);
  const known = metricsFor(checks).filter((m) => m.comparable).map((m) => m.name);
  for (const m of options.metrics ?? []) {
    if (!known.includes(m)) {
      const hint = suggestMetric(m, known, suggest);
      throw new UsageError(`--metric ${m}: not a metric both runs have${hint ? ` (did you mean '${hint}'?)` : ''}; choose from ${known.join(', ')}`);
    }
  }
  const wanted = options.metrics?.length ? options.metrics : defaultCompareMetrics(checks);
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const [a, b] = await Promise.all([scanRun(dirA, wanted), scanRun(dirB, wanted)]);
  const idsA = a.manifest.plan.cells.map((c) => c.id);
  const idsB = b.manifest.plan.cells.map((c) => c.id);
  const cells = idsB.filter((id) => idsA.includes(id));
  const rowOfA = new Map<string, number>();
  a.collector.rowValues.rowIds.forEach((id, i) => id !== undefined && rowOfA.set(id, i));
  const rowsB = b.collector.rowValues.rowIds;
  const common = rowsB.filter((id) => id !== undefined && rowOfA.has(id)).length;
  const cellStats = (run: ScannedRun) => run.stats.map((s, i) => extendCellStats(s.result(), run.collector.checkCounts[i]!, s.latencies.moments(), { prompt: 0, completion: 0 }, {}));
  const [statsA, statsB] = [cellStats(a), cellStats(b)];
  const metrics = wanted.map((m) => findMetric(m, checks)).filter((m): m is MetricDef => m !== undefined);
  const rows: ComparisonSection['rows'] = [];
  const used: string[] = [];
  for (const metric of metrics) {
    const items: ComparisonItem[] = cells.map((id) => {
      const ia = idsA.indexOf(id);
      const ib = idsB.indexOf(id);
      const seriesA = a.collector.rowValues.series(ia, metric.name);
      const seriesB = b.collector.rowValues.series(ib, metric.name);
      // A's values in B's row order, so index i of both is the same dataset row.
      const aligned = seriesA ? Float64Array.from(rowsB, (rid) => (rid !== undefined && rowOfA.has(rid) ? seriesA[rowOfA.get(rid)!]! : NaN)) : undefined;
      const sa = statsA[ia]!;
      const sb = statsB[ib]!;
      const count = (s: typeof sa) => (metric.kind === 'rate' ? { k: Number(field(s, metric.count!) ?? 0), n: Number(field(s, metric.of!) ?? 0) } : undefined);
      return {
        cell: id,
        baseline: id,
        a: { values: aligned, count: count(sa), moments: a.stats[ia]!.latencies.moments() },
        b: { values: seriesB, count: count(sb), moments: b.stats[ib]!.latencies.moments() },
        paired: common > 0,
      };
    });
    const result = compareMetric(metric, items, alpha);
    if (result.every((r) => r.baseline_value === null && r.value === null)) continue;
    used.push(metric.name);
    rows.push(...result.map(rounded));
  }
  const described = (dir: string, run: ScannedRun): ComparedRun => ({
    dir,
    name: run.manifest.name,
    status: run.manifest.status,
    complete: run.recorded === run.manifest.plan.requests,
    recorded_requests: run.recorded,
    planned_requests: run.manifest.plan.requests,
  });
  const runA = described(dirA, a);
  const runB = described(dirB, b);
  const warnings = (
    [
      ['A', runA],
      ['B', runB],
    ] as const
  )
    .filter(([, r]) => !r.complete)
    .map(
      ([which, r]) =>
        `Warning: run ${which} (${r.dir}) is incomplete: ${r.recorded_requests} of ${r.planned_requests} requests recorded (status ${r.status}); ` +
        `the comparison pairs only the ${common} dataset rows both runs have.`,
    );
  return {
    baseline: a.manifest.name,
    alpha,
    metrics: used,
    method: METHOD_NOTE,
    rows,
    run_a: runA,
    run_b: runB,
    warnings,
    common_rows: common,
    cells,
    only_in_a: idsA.filter((id) => !idsB.includes(id)),
    only_in_b: idsB.filter((id) => !idsA.includes(id)),
  };
}
