import type { FailingChoice } from '../collector.js';
import type { LatencySamples } from '../cell-stats.js';
import { FINISH_REASONS } from '../cell-stats.js';
import { field, type CellStats, type Summary } from '../../contracts/summary.js';
import { metricsFor, type MetricDef } from '../../stats/index.js';
import { roundTo } from '../../util/round.js';
import { recommendationText } from '../pick.js';
import { agreementHeading, agreementRows, type AgreementRow } from '../agreement-text.js';
import { showsRate } from '../seen-rates.js';
import { VIEW_DEFAULT_PORT, VIEW_QUERY } from '../../contracts/view.js';

export interface HtmlCell {
  id: string;
  model: string;
  temperature: number | null;
  top_p: number | null;
  n: number;
  choices: number;
  reasons: Record<string, number>;
  /** Per-request latency quantiles (ms): 5th, 25th, 50th, 75th, 95th. */
  latency: Array<number | null>;
  /**
   * Per metric shown in the cells table and the heatmap: a rate's successes and denominator, or a score metric's
   * `mean` over its `n` scored choices (k is then 0); the 95% interval either way.
   */
  rates: Record<string, { k: number; n: number; mean?: number | null; low: number | null; high: number | null }>;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  cost_usd: number | null;
  /** The cell's value of each grid axis, as text (`default` when unset), by parameter name. */
  axes: Record<string, string>;
  /** Where the cell sits in the "which to pick" scatter: summary.pick's metric and cost (null: not placed). */
  pick: { metric: number | null; cost: number | null; frontier: boolean };
}

/** A grid axis the heatmap can put on x or y, or filter by: its values in display order. */
export interface HtmlAxis {
  param: string;
  values: string[];
}

/** Everything report.html shows, as one JSON document: the page's script renders it, and only as text. */
export interface HtmlData {
  summary: Omit<Summary, 'cells' | 'comparison' | 'gates'>;
  cells: HtmlCell[];
  axes: HtmlAxis[];
  metrics: Array<{ name: string; direction: string; kind: MetricDef['kind'] }>;
  comparison: Summary['comparison'] | null;
  gates: Summary['gates'] | null;
  failing: { total: number; shown: FailingChoice[] };
  /** Each human-labelled check's κ with people, over all cells (cell null) and per cell; empty without labels. */
  agreement: { heading: string; rows: AgreementRow[] };
  /** The pick's recommendation as the console says it; null without one. */
  recommendation: string | null;
  /** Why the latency chart is empty (no answer has a latency); null when it has something to draw. */
  latency_note: string | null;
  /** Where `evalrun view` listens by default and the query its page reads: cells and failing choices link there. */
  view: { port: number; query: typeof VIEW_QUERY };
  generated_at: string;
}

export function htmlData(summary: Summary, latencies: readonly LatencySamples[], failing: FailingChoice[], failingTotal: number): HtmlData {
  const { cells, comparison, gates, ...rest } = summary;
  // The rates, and a scored check's mean score and unscored rate after its pass rate (where both are shown).
  const metrics = metricsFor(summary.checks ?? [], summary.scored_checks ?? []).filter(
    (m) => m.kind !== 'latency' && cells.some((c) => ((field(c, m.of!) as number | undefined) ?? 0) > 0) && showsRate(m.name, cells),
  );
  const axes = summary.axes ?? [];
  const htmlCells = cells.map((c, i) => htmlCell(c, latencies[i], metrics, axes, summary.pick));
  return {
    summary: rest,
    cells: htmlCells,
    axes: axes.map((a) => ({ param: a.param, values: axisOrder(cells.map((c) => field(c, a.column))) })),
    metrics: metrics.map((m) => ({ name: m.name, direction: m.direction, kind: m.kind })),
    comparison: comparison ?? null,
    gates: gates ?? null,
    agreement: { heading: agreementHeading(summary), rows: agreementRows(summary) },
    failing: { total: failingTotal, shown: failing },
    recommendation: summary.pick ? (recommendationText(summary.pick) ?? null) : null,
    latency_note: htmlCells.some((c) => c.latency[2] !== null)
      ? null
      : summary.cost?.batch
        ? 'Nothing to draw: Batch API answers carry no per-request latency (batch mode).'
        : 'Nothing to draw: no request was answered, so there is no latency.',
    view: { port: VIEW_DEFAULT_PORT, query: VIEW_QUERY },
    generated_at: new Date().toISOString(),
  };
}

const label = (v: unknown): string => (v === null || v === undefined ? 'default' : String(v));

/** Numbers in numeric order (unset first), anything else in grid order (as the cells first show it). */
function axisOrder(values: unknown[]): string[] {
  const distinct = [...new Set(values.map((v) => (v === undefined ? null : v)))];
  if (distinct.every((v) => v === null || typeof v === 'number')) distinct.sort((a, b) => (a === null ? -Infinity : (a as number)) - (b === null ? -Infinity : (b as number)));
  return distinct.map(label);
}

function htmlCell(c: CellStats, latency: LatencySamples | undefined, metrics: readonly MetricDef[], axes: ReadonlyArray<{ param: string; column: string }>, pick: Summary['pick']): HtmlCell {
  const numeric = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const reasons: Record<string, number> = {};
  for (const r of [...FINISH_REASONS, 'other'] as const) reasons[r] = c[r];
  const rates: HtmlCell['rates'] = {};
  for (const def of metrics) {
    const name = def.name;
    rates[name] = {
      k: def.kind === 'score' ? 0 : ((field(c, def.count!) as number | undefined) ?? 0),
      n: (field(c, def.of!) as number | undefined) ?? 0,
      ...(def.kind === 'score' ? { mean: (field(c, name) as number | null | undefined) ?? null } : {}),
      low: (field(c, `${name}_low`) as number | null | undefined) ?? null,
      high: (field(c, `${name}_high`) as number | null | undefined) ?? null,
    };
  }
  const q = latency ? latency.percentiles([0.05, 0.25, 0.5, 0.75, 0.95]).map((v) => (v === null ? null : roundTo(v, 1))) : [null, null, null, null, null];
  return {
    id: c.cell,
    model: c.model,
    temperature: c.temperature,
    top_p: c.top_p,
    n: c.n,
    choices: c.choices,
    reasons,
    latency: q,
    rates,
    latency_p50_ms: c.latency_p50_ms,
    latency_p95_ms: c.latency_p95_ms,
    cost_usd: c.cost_usd ?? null,
    axes: Object.fromEntries(axes.map((a) => [a.param, label(field(c, a.column))])),
    pick: { metric: pick ? numeric(field(c, pick.metric)) : null, cost: pick ? numeric(field(c, pick.cost)) : null, frontier: c.frontier === true },
  };
}
