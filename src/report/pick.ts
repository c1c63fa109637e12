import { costUsd, priceFor, type Price } from '../contracts/prices.js';
import { findMetric } from '../stats/index.js';
import { paretoFrontier, type PickCost } from '../stats/index.js';
import { field, type CellStats, type PickSection } from '../contracts/summary.js';
import { formatUsd } from './cost-summary.js';

/** What `pick:` resolves to when it says nothing: the first check, else the schema, else valid JSON, else stop_rate. */
export function defaultPickMetric(checks: readonly string[], cells: readonly CellStats[]): string {
  if (checks.length) return `${checks[0]}_pass_rate`;
  if (cells.some((c) => c.schema_checked > 0)) return 'schema_valid_rate';
  if (cells.some((c) => c.json_checked > 0)) return 'json_valid_rate';
  return 'stop_rate';
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * Adds `cost_per_1k_rows`, `tokens_per_1k_rows` and `frontier` to every cell (stats.csv, summary.json) and returns
 * the section. Costs are per 1,000 dataset rows from all recorded usage (cached answers included: what the
 * setting costs, not what this run paid), so cells with different n or models compare on what a user would pay.
 */
export function applyPick(
  cells: CellStats[],
  spec: { metric: string | null; cost: string | null } | undefined,
  checks: readonly string[],
  prices: Readonly<Record<string, Price>>,
  scored: readonly string[] = [],
): PickSection {
  for (const c of cells) {
    const cost = costUsd(priceFor(c.model, prices), c.prompt_tokens, c.completion_tokens);
    c.cost_per_1k_rows = cost === null || c.requests === 0 ? null : round((cost / c.requests) * 1000, 6);
    c.tokens_per_1k_rows = c.requests === 0 ? null : Math.round(((c.prompt_tokens + c.completion_tokens) / c.requests) * 1000);
  }
  const metric = spec?.metric ?? defaultPickMetric(checks, cells);
  const direction = findMetric(metric, checks, scored)?.direction === 'lower' ? 'lower' : 'higher';
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
  return metric.endsWith('_ms') ? `${Math.round(v)} ms` : `${(v * 100).toFixed(1)}%`;
}

/** The heading every report uses for the frontier. */
export function pickHeading(p: PickSection): string {
  const goal = p.direction === 'higher' ? p.metric : `${p.metric} (lower is better)`;
  return `Best at each price: ${goal} against ${COST_LABEL[p.cost]}; no other cell is both better and cheaper`;
}

/** Console lines: the heading, then one line per frontier cell, cheapest first. */
export function formatPick(summary: { pick?: PickSection | undefined }): string {
  const p = summary.pick;
  if (!p || p.frontier.length === 0) return '';
  const rows = p.best_at_each_price.map((s) => [formatPickCost(p.cost, s.cost), formatPickMetric(p.metric, s.metric), s.cell]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  return [
    `${pickHeading(p)}:`,
    ...rows.map((r) => `  ${r[0]!.padStart(w0)}  ${r[1]!.padStart(w1)}  ${r[2]}`),
    ...(p.note ? [`  note: ${p.note}`] : []),
    ...(p.not_placed.length ? [`  not placed (no ${p.metric} or cost measured): ${p.not_placed.join(', ')}`] : []),
  ].join('\n');
}
