import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { indexJournal, recordsInOrder } from '../record/index.js';
import { RECORDS, readManifest, type ManifestCell, type RunManifest } from '../record/index.js';
import { canonicalJson } from '../util/canonical-json.js';
import { DEFAULT_ALPHA, emptyEvaluation } from '../contracts/evaluation.js';
import { suggest } from '../util/suggest.js';
import { compareMetric, METHOD_NOTE, type CompareOptions, type ComparisonItem, type ComparisonRow, type RowValues } from '../stats/index.js';
import type { CellAccumulator, LatencySamples } from './cell-stats.js';
import { defaultCompareMetrics, findMetric, metricsFor, suggestMetric, type MetricDef } from '../stats/index.js';
import { ReportCollector } from './collector.js';
import { scoredCheckNames } from '../contracts/checks.js';
import { rounded } from './comparison.js';
import { field, type CellStats, type ComparisonSection } from '../contracts/summary.js';

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
  /** One label per compared pair: the id when both runs have it, else `A_CELL → B_CELL` (as in rows' `cell`). */
  cells: string[];
  /** Which cell of A is compared with which cell of B, and why: same id, `--map`, or equal parameters. */
  pairs: CellPair[];
  /** When cells were paired on parameters: the settings that are constant in each run and differ between them. */
  differing: Array<{ key: string; a: unknown; b: unknown }>;
  only_in_a: string[];
  only_in_b: string[];
}

export interface CellPair {
  a: string;
  b: string;
  matched_by: 'id' | 'map' | 'params';
}

/** `A_CELL=B_CELL`; cell ids may hold `=` themselves (`seed=1`), so every split is tried against the real ids. */
function parseMap(spec: string, idsA: readonly string[], idsB: readonly string[]): [string, string] {
  const splits: Array<[string, string]> = [];
  for (let i = spec.indexOf('='); i !== -1; i = spec.indexOf('=', i + 1)) splits.push([spec.slice(0, i), spec.slice(i + 1)]);
  const fits = splits.filter(([a, b]) => idsA.includes(a) && idsB.includes(b));
  if (fits.length === 1) return fits[0]!;
  if (fits.length > 1) throw new UsageError(`--map ${spec}: can be read more than one way (${fits.map(([a, b]) => `${a} = ${b}`).join('; ')}); no cell ids should be this alike`);
  if (splits.length === 0) throw new UsageError(`--map ${spec}: write it as A_CELL=B_CELL, a cell id of run A, '=', a cell id of run B`);
  const [a, b] = splits.find(([x]) => idsA.includes(x)) ?? splits.find(([, y]) => idsB.includes(y)) ?? splits[0]!;
  const problems: string[] = [];
  if (!idsA.includes(a)) problems.push(`run A has no cell '${a}'${hint(a, idsA)}`);
  if (!idsB.includes(b)) problems.push(`run B has no cell '${b}'${hint(b, idsB)}`);
  throw new UsageError(`--map ${spec}: ${problems.join('; ')}. Cells of A: ${idsA.join(', ')}. Cells of B: ${idsB.join(', ')}`);
}

const hint = (word: string, ids: readonly string[]) => {
  const h = suggest(word, ids);
  return h ? ` (did you mean '${h}'?)` : '';
};

/**
 * Which cells to compare: `--map` pairs first, then equal ids. When that pairs nothing and no --map was given,
 * cells are paired on their parameters: the settings that have one value throughout run A and another one
 * throughout run B (a model-A run against a model-B run) are set aside, and cells whose remaining parameters are
 * equal (each such set of parameters unique in its run) are compared.
 */
export function pairCells(cellsA: readonly ManifestCell[], cellsB: readonly ManifestCell[], maps: readonly string[] = []): { pairs: CellPair[]; differing: RunComparison['differing'] } {
  const idsA = cellsA.map((c) => c.id);
  const idsB = cellsB.map((c) => c.id);
  const pairs: CellPair[] = [];
  const usedA = new Set<string>();
  const usedB = new Set<string>();
  for (const spec of maps) {
    const [a, b] = parseMap(spec, idsA, idsB);
    if (usedA.has(a)) throw new UsageError(`--map ${spec}: run A's cell '${a}' is already mapped; each cell can be compared once`);
    if (usedB.has(b)) throw new UsageError(`--map ${spec}: run B's cell '${b}' is already mapped; each cell can be compared once`);
    pairs.push({ a, b, matched_by: 'map' });
    usedA.add(a);
    usedB.add(b);
  }
  for (const id of idsB) {
    if (usedB.has(id) || usedA.has(id) || !idsA.includes(id)) continue;
    pairs.push({ a: id, b: id, matched_by: 'id' });
    usedA.add(id);
    usedB.add(id);
  }
  if (pairs.length > 0 || maps.length > 0) return { pairs, differing: [] };
  const constant = (cells: readonly ManifestCell[], key: string) => {
    const values = new Set(cells.map((c) => canonicalJson(paramsOf(c)[key] ?? null)));
    return values.size === 1 ? [...values][0]! : undefined;
  };
  const keys = new Set([...cellsA, ...cellsB].flatMap((c) => Object.keys(paramsOf(c))));
  const differing = [...keys].filter((k) => {
    const a = constant(cellsA, k);
    const b = constant(cellsB, k);
    return a !== undefined && b !== undefined && a !== b;
  });
  if (differing.length === 0) return { pairs, differing: [] };
  const rest = (c: ManifestCell) => canonicalJson(Object.fromEntries(Object.entries(paramsOf(c)).filter(([k]) => !differing.includes(k))));
  const byRest = (cells: readonly ManifestCell[]) => {
    const m = new Map<string, ManifestCell[]>();
    for (const c of cells) m.set(rest(c), [...(m.get(rest(c)) ?? []), c]);
    return m;
  };
  const restA = byRest(cellsA);
  for (const [key, bs] of byRest(cellsB)) {
    const as = restA.get(key);
    if (as?.length === 1 && bs.length === 1) pairs.push({ a: as[0]!.id, b: bs[0]!.id, matched_by: 'params' });
  }
  const valueOf = (cells: readonly ManifestCell[], k: string) => (cells[0] ? paramsOf(cells[0])[k] : undefined) ?? null;
  return { pairs, differing: pairs.length ? differing.map((key) => ({ key, a: valueOf(cellsA, key), b: valueOf(cellsB, key) })) : [] };
}

/** A cell's settings for pairing by parameters: its prompt variant counts as one (two runs of different prompts). */
function paramsOf(c: ManifestCell): Record<string, unknown> {
  return c.prompt === undefined ? c.params : { ...c.params, prompt: c.prompt };
}

interface ScannedRun {
  manifest: RunManifest;
  recorded: number;
  collector: ReportCollector;
}

/** One pass over a run's records, gathering per-row values of `metrics` and per-cell counts, as its reports do. */
async function scanRun(dir: string, metrics: string[]): Promise<ScannedRun> {
  const manifest = await readManifest(dir);
  const evaluation = manifest.evaluation ?? emptyEvaluation();
  const collector = new ReportCollector({ ...manifest, evaluation: { ...evaluation, compare: { ...evaluation.compare, metrics } } });
  const index = await indexJournal(join(dir, RECORDS), manifest.plan.requests);
  for await (const record of recordsInOrder(join(dir, RECORDS), index)) collector.add(record);
  return { manifest, recorded: index.count, collector };
}

/** What a comparison between runs needs of one run: its per-row values, its cells' figures, its latency moments. */
export interface RunSide {
  rowValues: RowValues;
  /** In plan order (the manifest's cells). */
  cells: readonly CellStats[];
  /**
   * The moments of the cell at this plan index for the unpaired test: per-request latency, or a score's per-choice
   * scores.
   */
  moments?: ((cell: number, metric: MetricDef) => ReturnType<LatencySamples['moments']> | undefined) | undefined;
}

/**
 * Run B against run A on each metric, cell pair by cell pair, paired over the dataset rows both have (matched by
 * row_id) unless `paired` is false; Holm across the pairs, per metric. `compare` and `history` both judge here.
 */
export function compareSides(a: RunSide, b: RunSide, pairs: readonly CellPair[], metrics: readonly MetricDef[], alpha: number, paired = true, options: CompareOptions = {}): { rows: ComparisonRow[]; metrics: string[]; commonRows: number } {
  const idsA = a.cells.map((c) => c.cell);
  const idsB = b.cells.map((c) => c.cell);
  const label = (p: CellPair) => (p.a === p.b ? p.a : `${p.a} → ${p.b}`);
  const rowOfA = new Map<string, number>();
  a.rowValues.rowIds.forEach((id, i) => id !== undefined && rowOfA.set(id, i));
  const rowsB = b.rowValues.rowIds;
  const common = paired ? rowsB.filter((id) => id !== undefined && rowOfA.has(id)).length : 0;
  // B's row i is A's row fromA[i] (−1: A has no such row), worked out once for every metric and cell.
  const fromA = Int32Array.from(rowsB, (rid) => (rid !== undefined ? (rowOfA.get(rid) ?? -1) : -1));
  const rows: ComparisonRow[] = [];
  const used: string[] = [];
  for (const metric of metrics) {
    const items: ComparisonItem[] = pairs.map((pair) => {
      const ia = idsA.indexOf(pair.a);
      const ib = idsB.indexOf(pair.b);
      const seriesA = a.rowValues.series(ia, metric.name);
      const seriesB = b.rowValues.series(ib, metric.name);
      // A's values in B's row order, so index i of both is the same dataset row.
      let aligned: Float64Array | undefined;
      if (seriesA && common > 0) {
        aligned = new Float64Array(fromA.length);
        for (let i = 0; i < fromA.length; i++) aligned[i] = fromA[i]! >= 0 ? seriesA[fromA[i]!]! : NaN;
      }
      const sa = a.cells[ia]!;
      const sb = b.cells[ib]!;
      const count = (s: CellStats) => (metric.kind === 'rate' ? { k: Number(field(s, metric.count!) ?? 0), n: Number(field(s, metric.of!) ?? 0) } : undefined);
      return {
        cell: label(pair),
        baseline: pair.a,
        a: { values: aligned, count: count(sa), moments: a.moments?.(ia, metric) },
        b: { values: seriesB, count: count(sb), moments: b.moments?.(ib, metric) },
        paired: common > 0,
      };
    });
    const result = compareMetric(metric, items, alpha, options);
    if (result.every((r) => r.baseline_value === null && r.value === null)) continue;
    used.push(metric.name);
    rows.push(...result.map(rounded));
  }
  return { rows, metrics: used, commonRows: common };
}

/** A score's unpaired fallback works on the scores' moments, latency on the requests'. */
export function momentsOf(collector: ReportCollector, cell: number, metric: MetricDef): ReturnType<LatencySamples['moments']> | undefined {
  return cellMoments(collector.cells[cell]!, metric);
}

export function cellMoments(c: CellAccumulator, metric: MetricDef): ReturnType<LatencySamples['moments']> {
  return metric.kind === 'score' ? c.scoreMoments(metric.name.slice(0, -'_score_mean'.length)) : c.latencies.moments();
}

/** Why no cell of A pairs with one of B, what each run has, and how to pair them by hand. */
function nothingPairs(a: RunManifest, b: RunManifest): string {
  const ids = (m: RunManifest) => m.plan.cells.map((c) => c.id);
  const example = `--map '${ids(a)[0]}=${ids(b)[0]}'`;
  return [
    'Nothing to compare: no cell of run A pairs with a cell of run B. They share no cell ids, and their cells do not',
    'differ only in settings that are constant within each run (such as the model), so they cannot be paired on parameters.',
    `Run A (${a.name}) has: ${ids(a).join(', ')}`,
    `Run B (${b.name}) has: ${ids(b).join(', ')}`,
    `Pair cells by hand with --map A_CELL=B_CELL (repeatable), e.g. ${example}`,
  ].join('\n');
}

/** The checks both runs graded: only those can be compared. */
function commonChecks(a: RunManifest, b: RunManifest): string[] {
  const inB = new Set((b.evaluation?.checks ?? []).map((c) => c.name));
  return (a.evaluation?.checks ?? []).map((c) => c.name).filter((c) => inB.has(c));
}

/** Of those, the ones both runs scored. */
function commonScored(a: RunManifest, b: RunManifest): string[] {
  const inB = new Set(scoredCheckNames(b.evaluation?.checks));
  return scoredCheckNames(a.evaluation?.checks).filter((c) => inB.has(c));
}

/**
 * Run B against run A, cell by cell (matched by id), paired over the dataset rows both have (matched by row_id);
 * when they share no rows, the unpaired fallback. Holm across the matched cells, per metric.
 */
export async function compareRuns(
  dirA: string,
  dirB: string,
  options: { metrics?: string[] | undefined; alpha?: number | undefined; map?: string[] | undefined } = {},
): Promise<RunComparison> {
  const [manifestA, manifestB] = await Promise.all([readManifest(dirA), readManifest(dirB)]);
  // A shard holds part of the rows by design: a comparison would read as the whole run's, so it is refused.
  for (const [dir, m] of [[dirA, manifestA], [dirB, manifestB]] as const) {
    if (m.shard) {
      throw new UsageError(
        `${dir} is shard ${m.shard.index}/${m.shard.count} of a run, not a whole run: compare the merged run instead. Join the shards with evalrun merge SHARD_DIR… --out DIR, then evalrun compare on DIR.`,
      );
    }
  }
  // Pairing is decided before the records are read, so a wrong --map is reported at once.
  const { pairs, differing } = pairCells(manifestA.plan.cells, manifestB.plan.cells, options.map);
  if (pairs.length === 0) throw new UsageError(nothingPairs(manifestA, manifestB));
  const checks = commonChecks(manifestA, manifestB);
  const scored = commonScored(manifestA, manifestB);
  const known = metricsFor(checks, scored).filter((m) => m.comparable).map((m) => m.name);
  for (const m of options.metrics ?? []) {
    if (!known.includes(m)) {
      const hint = suggestMetric(m, known, suggest);
      throw new UsageError(`--metric ${m}: not a metric both runs have${hint ? ` (did you mean '${hint}'?)` : ''}; choose from ${known.join(', ')}`);
    }
  }
  const wanted = options.metrics?.length ? options.metrics : defaultCompareMetrics(checks, scored);
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const [a, b] = await Promise.all([scanRun(dirA, wanted), scanRun(dirB, wanted)]);
  const idsA = a.manifest.plan.cells.map((c) => c.id);
  const idsB = b.manifest.plan.cells.map((c) => c.id);
  const metrics = wanted.map((m) => findMetric(m, checks, scored)).filter((m): m is MetricDef => m !== undefined);
  const side = (run: ScannedRun): RunSide => ({ rowValues: run.collector.rowValues, cells: run.collector.cellStats(), moments: (i, metric) => momentsOf(run.collector, i, metric) });
  const { rows, metrics: used, commonRows: common } = compareSides(side(a), side(b), pairs, metrics, alpha);
  const described = (dir: string, run: ScannedRun): ComparedRun => ({
    dir,
    name: run.manifest.name,
    status: run.manifest.status,
    complete: run.recorded === run.manifest.plan.requests,
    recorded_requests: run.recorded,
    planned_requests: run.manifest.plan.requests,
  });
  const label = (p: CellPair) => (p.a === p.b ? p.a : `${p.a} → ${p.b}`);
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
    cells: pairs.map(label),
    pairs,
    differing,
    only_in_a: idsA.filter((id) => !pairs.some((p) => p.a === id)),
    only_in_b: idsB.filter((id) => !pairs.some((p) => p.b === id)),
  };
}
