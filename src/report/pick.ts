import { roundTo } from '../util/round.js';
import { compareMetric, findMetric, type RowValues } from '../stats/index.js';
import { paretoFrontier, type PickCost } from '../stats/index.js';
import { field, type CellStats, type PickRecommendation, type PickSection } from '../contracts/summary.js';
import { DEFAULT_PICK_MARGIN } from '../contracts/evaluation.js';
import { formatUsd } from './cost-summary.js';

/**
 * What `pick:` may resolve to when it says nothing, in order: the first check, the schema, valid JSON, stop_rate.
 * The report keeps per-row values for each of them, since which one applies is known only once cells are counted.
 */
export function defaultPickCandidates(checks: readonly string[]): string[] {
  return [...checks.slice(0, 1).map((c) => `${c}_pass_rate`), 'schema_valid_rate', 'json_valid_rate', 'stop_rate'];
}

/** The first of the default candidates that the run measured. */
export function defaultPickMetric(checks: readonly string[], cells: readonly CellStats[]): string {
  const measured = (m: string) =>
    m === 'schema_valid_rate' ? cells.some((c) => c.schema_checked > 0) : m === 'json_valid_rate' ? cells.some((c) => c.json_checked > 0) : true;
  return defaultPickCandidates(checks).find(measured)!;
}

/**
 * Adds `frontier` to every cell (stats.csv, summary.json) and returns the section. The costs (`cost_per_1k_rows`,
 * `tokens_per_1k_rows`, from cell-extras.ts) are per 1,000 dataset rows from all recorded usage, each answer priced
 * by how it was sent, so cells with different n or models compare on what a user would pay.
 */
export function applyPick(
  cells: CellStats[],
  spec: { metric: string | null; cost: string | null } | undefined,
  checks: readonly string[],
  scored: readonly string[] = [],
  human: readonly string[] = [],
): PickSection {
  const metric = spec?.metric ?? defaultPickMetric(checks, cells);
  const direction = findMetric(metric, checks, scored, human)?.direction === 'lower' ? 'lower' : 'higher';
  let cost = (spec?.cost ?? 'cost_per_1k_rows') as PickCost;
  let note: string | undefined;
  if (cost === 'cost_per_1k_rows') {
    const unpriced = [...new Set(cells.filter((c) => c.requests > 0 && c.cost_per_1k_rows === null).map((c) => c.model))];
    if (unpriced.length) {
      cost = 'tokens_per_1k_rows';
      note = `no price for ${unpriced.join(', ')}: cells are weighed by tokens per 1k rows instead of USD; add the model under 'pricing:' (USD per 1M tokens)`;
    }
  }
  const points = cells.map((c) => ({ id: c.cell, quality: num(field(c, metric)), cost: num(field(c, cost)) }));
  const measured = cells.some((c) => c.requests > 0);
  for (const [name, what] of [[cost, 'cost'], [metric, 'metric']] as const) {
    if (!measured || points.some((p) => (what === 'cost' ? p.cost : p.quality) !== null)) continue;
    // Batch API answers have no per-request latency: a latency pick cannot be placed, and must say so.
    const why = name.startsWith('latency_') && cells.some((c) => c.requests > 0 && c.latency_p50_ms === null)
      ? `no cell has a ${name}: Batch API answers carry no per-request latency, so the frontier cannot be drawn; pick by cost_per_1k_rows or tokens_per_1k_rows in batch mode`
      : `no cell has a value of ${name}, so the frontier cannot be drawn`;
    note = note ? `${note}; ${why}` : why;
  }
  const frontier = paretoFrontier(points, direction);
  const on = new Set(frontier);
  for (const c of cells) c.frontier = on.has(c.cell);
  const byId = new Map(points.map((p) => [p.id, p]));
  return {
    metric,
    direction,
    cost,
    ...(note ? { note } : {}),
    frontier,
    best_at_each_price: frontier.map((id) => ({ cell: id, metric: byId.get(id)!.quality!, cost: byId.get(id)!.cost! })),
    not_placed: points.filter((p) => p.quality === null || p.cost === null).map((p) => p.id),
  };
}

/**
 * The cell to pick: the best cell (highest metric, or lowest for a lower-is-better one; the cheapest of those tied)
 * is compared with every cheaper placed cell, paired over rows with the test and Holm correction `compare` uses. A
 * cheaper cell is recommended instead only when the rows show it is at most `margin` worse: its interval's far end
 * (the worst the rows allow) is within the margin. "Not significantly worse" is not enough: with few rows every cell
 * is that, and the frontier's cheap end is often a cell whose quality is only apparently close. Otherwise the best.
 */
export function recommendPick(
  section: PickSection,
  cells: readonly CellStats[],
  values: RowValues,
  checks: readonly string[],
  alpha: number,
  scored: readonly string[] = [],
  margin: number = DEFAULT_PICK_MARGIN,
): Pick<PickSection, 'recommended' | 'recommended_note'> {
  const def = findMetric(section.metric, checks, scored);
  const placed = cells
    .map((c, index) => ({ c, index, quality: num(field(c, section.metric)), cost: num(field(c, section.cost)) }))
    .filter((p): p is { c: CellStats; index: number; quality: number; cost: number } => p.quality !== null && p.cost !== null);
  if (placed.length === 0) return { recommended_note: section.frontier.length === 0 ? 'no cell has both a value of the metric and a cost, so there is nothing to recommend' : 'nothing to recommend' };
  if (!def?.comparable || !values.series(0, section.metric)) {
    return { recommended_note: `${section.metric} has no per-row values to test, so no cell is recommended; the frontier is listed` };
  }
  const sign = section.direction === 'higher' ? 1 : -1;
  const best = placed.reduce((b, p) => (sign * p.quality > sign * b.quality || (p.quality === b.quality && p.cost < b.cost) ? p : b));
  // Only a cell cheaper than the best can be recommended instead of it: those alone are tested (the Holm family), so
  // cells that could never be picked do not weaken the test.
  const others = placed.filter((p) => p !== best && p.cost < best.cost);
  // The metric's direction is the pick's: "worse" is a move away from the best.
  const metric = { ...def, direction: section.direction };
  const rows = compareMetric(
    metric,
    others.map((p) => ({ cell: p.c.cell, baseline: best.c.cell, a: { values: values.series(best.index, section.metric) }, b: { values: values.series(p.index, section.metric) }, paired: true })),
    alpha,
  );
  const byCell = new Map(rows.map((r) => [r.cell, r]));
  /** How much worse than the best the rows allow a cell to be: its interval's far end on the worse side. */
  const worseBy = (cell: string): number | null => {
    const r = byCell.get(cell);
    const far = r ? (section.direction === 'higher' ? r.diff_low : r.diff_high) : null;
    return far === null || far === undefined ? null : Math.max(0, -sign * far);
  };
  const within = (p: (typeof placed)[number]) => {
    const w = worseBy(p.c.cell);
    return w !== null && w <= margin + 1e-12;
  };
  const candidates = [best, ...others.filter(within)];
  const pick = candidates.reduce((b, p) => (p.cost < b.cost || (p.cost === b.cost && sign * p.quality > sign * b.quality) ? p : b));
  const r = byCell.get(pick.c.cell);
  // The best recommended although cheaper cells were compared: the one the rows came closest to clearing.
  const nearest =
    pick === best
      ? others
          .map((p) => ({ cell: p.c.cell, worse_by: worseBy(p.c.cell) }))
          .filter((n): n is { cell: string; worse_by: number } => n.worse_by !== null)
          .reduce<{ cell: string; worse_by: number } | undefined>((m, n) => (m === undefined || n.worse_by < m.worse_by ? n : m), undefined)
      : undefined;
  const recommended: PickRecommendation = {
    cell: pick.c.cell,
    metric: pick.quality,
    cost: pick.cost,
    best: { cell: best.c.cell, metric: best.quality, cost: best.cost },
    alpha,
    margin,
    compared: others.length,
    ...(r
      ? { test: { diff: rounded(r.diff), diff_low: rounded(r.diff_low), diff_high: rounded(r.diff_high), p_value: precise(r.p_value), p_adjusted: precise(r.p_adjusted), pairs: r.pairs, method: r.method } }
      : {}),
    ...(nearest ? { nearest: { cell: nearest.cell, worse_by: rounded(nearest.worse_by)! } } : {}),
  };
  return { recommended };
}

const rounded = (v: number | null) => (v === null ? null : roundTo(v, 4));
const precise = (v: number | null) => (v === null ? null : Number(v.toPrecision(4)));

/** One line for the console and summary.md: what to pick, and the evidence. */
export function recommendationText(p: PickSection): string | undefined {
  const r = p.recommended;
  if (!r) return p.recommended_note ? `Recommended: none (${p.recommended_note})` : undefined;
  const at = `${formatPickMetric(p.metric, r.metric)} at ${formatPickCost(p.cost, r.cost)}`;
  // Runs reported before the margin existed were recommended by the older rule; their figures read the same.
  const margin = r.margin ?? DEFAULT_PICK_MARGIN;
  const amount = (v: number) => (p.metric.endsWith('_ms') ? `${Math.round(v)} ms` : `${(v * 100).toFixed(1)}pp`);
  if (r.cell === r.best.cell) {
    if (r.compared === 0) return `Recommended: ${r.cell} (${at}): the best cell, and no cell is cheaper`;
    const near = r.nearest ? `: the closest, ${r.nearest.cell}, could be up to ${amount(r.nearest.worse_by)} worse; more rows would narrow that` : '';
    return `Recommended: ${r.cell} (${at}): the best cell; no cheaper cell is shown to be within ${amount(margin)} of it (pick.margin)${near}`;
  }
  const t = r.test!;
  const worst = p.direction === 'higher' ? t.diff_low : t.diff_high;
  return (
    `Recommended: ${r.cell} (${at}): the cheapest cell shown to be at most ${amount(margin)} worse than the best, ${r.best.cell} ` +
    `(${formatPickMetric(p.metric, r.best.metric)} at ${formatPickCost(p.cost, r.best.cost)}; difference ${signedMetric(p.metric, t.diff)}, ` +
    `interval ${signedMetric(p.metric, t.diff_low)}..${signedMetric(p.metric, t.diff_high)}, Holm-adjusted p ${t.p_adjusted ?? '–'} over ${r.compared} cells, α = ${r.alpha})` +
    (worst !== null && worst !== 0 ? `; the rows allow it to be up to ${amount(Math.abs(worst))} worse` : '')
  );
}

function signedMetric(metric: string, v: number | null): string {
  if (v === null) return '–';
  return metric.endsWith('_ms') ? `${v >= 0 ? '+' : ''}${Math.round(v)} ms` : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}pp`;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

const COST_LABEL: Record<PickCost, string> = {
  cost_per_1k_rows: 'cost per 1k rows',
  tokens_per_1k_rows: 'tokens per 1k rows',
  latency_p95_ms: 'p95 latency',
  latency_p50_ms: 'p50 latency',
  latency_mean_ms: 'mean latency',
};

/** A cost as people read it: `$0.0544 /1k rows`, `171,361 tok /1k rows`, `78 ms`. */
export function formatPickCost(cost: PickCost, v: number): string {
  if (cost === 'cost_per_1k_rows') return `${formatUsd(v)} /1k rows`;
  if (cost === 'tokens_per_1k_rows') return `${Math.round(v).toLocaleString('en-US')} tok /1k rows`;
  return `${Math.round(v)} ms`;
}

export function formatPickMetric(metric: string, v: number): string {
  // κ is not a share of anything: it reads as itself (-1..1), not as a percentage.
  return metric.endsWith('_ms') ? `${Math.round(v)} ms` : metric.endsWith('_kappa') ? `κ ${v.toFixed(3)}` : `${(v * 100).toFixed(1)}%`;
}

/** The heading every report uses for the frontier. */
export function pickHeading(p: PickSection): string {
  const goal = p.direction === 'higher' ? p.metric : `${p.metric} (lower is better)`;
  return `Best at each price: ${goal} against ${COST_LABEL[p.cost]}; no other cell is both better and cheaper`;
}

/** Console lines: the heading, then one line per frontier cell, cheapest first. */
export function formatPick(summary: { pick?: PickSection | undefined }): string {
  const p = summary.pick;
  if (!p) return '';
  // A frontier that cannot be drawn still says why, never disappears.
  if (p.frontier.length === 0) return [`${pickHeading(p)}: no cell placed`, ...(p.note ? [`  note: ${p.note}`] : []), ...(p.not_placed.length ? [`  not placed (no ${p.metric} or cost measured): ${p.not_placed.join(', ')}`] : [])].join('\n');
  const rows = p.best_at_each_price.map((s) => [formatPickCost(p.cost, s.cost), formatPickMetric(p.metric, s.metric), s.cell]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  const recommendation = recommendationText(p);
  return [
    `${pickHeading(p)}:`,
    ...rows.map((r) => `  ${r[0]!.padStart(w0)}  ${r[1]!.padStart(w1)}  ${r[2]}`),
    ...(p.note ? [`  note: ${p.note}`] : []),
    ...(p.not_placed.length ? [`  not placed (no ${p.metric} or cost measured): ${p.not_placed.join(', ')}`] : []),
    ...(recommendation ? [recommendation] : []),
  ].join('\n');
}
