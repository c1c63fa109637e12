import { roundTo } from '../../util/round.js';
import { canonicalJson } from '../../util/canonical-json.js';
import { field, type CellStats } from '../../contracts/summary.js';
import type { ComparisonRow, MetricDef } from '../../stats/index.js';
import { compareSides, pairCells } from '../compare-runs.js';
import type { HistoryRun } from './scan.js';

/** One metric of one cell of one run: history.csv's row and history.json's point. */
export interface HistoryPoint {
  value: number | null;
  low: number | null;
  high: number | null;
  /** The denominator of a rate (choices checked), or the requests with a latency. */
  n: number | null;
}

export interface HistoryCell {
  cell: string;
  requests: number;
  failed_requests: number;
  error_rate: number | null;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  latency_mean_ms: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number | null;
  served_models: string[];
  system_fingerprints: string[];
  metrics: Record<string, HistoryPoint>;
}

export interface HistoryRunEntry {
  /** Position in time order, from 0. */
  index: number;
  dir: string;
  name: string;
  started_at: string;
  ended_at: string | null;
  status: string;
  judged: boolean;
  not_judged?: string;
  recorded_requests: number;
  planned_requests: number;
  config_hash: string;
  dataset_hash: string;
  prompt_hash: string | null;
  plan_fingerprint: string | null;
  evalrun_version: string;
  cost_usd: number | null;
  cells: HistoryCell[];
}

/** Something that differs between two runs, and what it says about who changed what. */
export interface HistoryChange {
  /** config, prompt and dataset: yours; evalrun: the tool's version; served_model and system_fingerprint: the provider's. */
  what: 'config' | 'prompt' | 'dataset' | 'evalrun' | 'served_model' | 'system_fingerprint';
  detail: string;
  /** For the provider's changes: the cells whose served model or fingerprint changed. */
  cells?: string[];
}

export type Attribution = 'config' | 'dataset' | 'evalrun' | 'provider' | 'nothing_visible';

export interface Drift {
  metric: string;
  cell: string;
  /** worse / better (the metric's gate direction), or changed for a metric without one. */
  change: 'worse' | 'better' | 'changed';
  from_value: number | null;
  to_value: number | null;
  diff: number | null;
  diff_low: number | null;
  diff_high: number | null;
  p_value: number | null;
  p_adjusted: number | null;
  /** The test's family: paired over dataset rows (same dataset), or unpaired (the dataset changed). */
  test: 'paired' | 'unpaired';
  method: string;
  attributed_to: Attribution;
  /** The attribution in words: "you changed the prompt text", "the provider changed the model (…)", … */
  because: string;
}

export interface Transition {
  /** Indexes into `runs`. */
  from: number;
  to: number;
  against: 'previous' | 'baseline';
  test: 'paired' | 'unpaired';
  /** Why the test is unpaired, when it is. */
  test_note?: string;
  changes: HistoryChange[];
  /** Metric × cell comparisons made (the Holm family is each metric's cells). */
  compared: number;
  drifts: Drift[];
  /** Every comparison row (for history.csv's drift columns); not in history.json. */
  rows: ComparisonRow[];
}

export interface NoiseFloor {
  metric: string;
  /** Consecutive judged runs with identical requests and nothing else changed. */
  transitions: number;
  comparisons: number;
  mean_abs_diff: number | null;
  max_abs_diff: number | null;
  /**
   * Median half-width of the unadjusted (1 − alpha) interval of a difference, over the counted transitions among the
   * last NOISE_WINDOW runs: a change smaller than this is rarely told from noise.
   */
  median_half_width: number | null;
}

/** A run's entry: its cells' figures on the history's metrics, cost, tokens, errors, latency and served models. */
export function runEntry(index: number, run: HistoryRun, metrics: readonly MetricDef[], dir = run.dir): HistoryRunEntry {
  const m = run.manifest;
  const cost = run.cells.reduce<number | null>((s, c) => (s === null || c.cost_usd === null || c.cost_usd === undefined ? null : s + c.cost_usd), 0);
  return {
    index,
    dir,
    name: m.name,
    started_at: m.started_at,
    ended_at: m.ended_at,
    status: m.status,
    judged: run.judged,
    ...(run.not_judged ? { not_judged: run.not_judged } : {}),
    recorded_requests: run.recorded,
    planned_requests: m.plan.requests,
    config_hash: m.config_hash,
    dataset_hash: m.dataset_hash,
    prompt_hash: m.prompt_hash ?? null,
    plan_fingerprint: m.plan_fingerprint ?? null,
    evalrun_version: m.versions.evalrun,
    cost_usd: cost,
    cells: run.cells.map((c) => ({
      cell: c.cell,
      requests: c.requests,
      failed_requests: c.failed_requests,
      error_rate: c.error_rate,
      latency_p50_ms: c.latency_p50_ms,
      latency_p95_ms: c.latency_p95_ms,
      latency_mean_ms: c.latency_mean_ms,
      prompt_tokens: c.prompt_tokens,
      completion_tokens: c.completion_tokens,
      cost_usd: c.cost_usd ?? null,
      served_models: servedModels(c),
      system_fingerprints: servedFingerprints(c),
      metrics: Object.fromEntries(metrics.map((metric) => [metric.name, point(c, metric)])),
    })),
  };
}

function point(c: CellStats, metric: MetricDef): HistoryPoint {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  // The interval's denominator: a rate's or a score's own count (`of`), else the answered requests.
  const n = metric.of !== undefined ? num(field(c, metric.of)) : c.requests - c.failed_requests;
  return { value: num(field(c, metric.name)), low: num(field(c, `${metric.name}_low`)), high: num(field(c, `${metric.name}_high`)), n };
}

const servedModels = (c: CellStats) => (c.served?.models ?? []).map((x) => x.model ?? '(none)');
const servedFingerprints = (c: CellStats) => (c.served?.system_fingerprints ?? []).map((x) => x.system_fingerprint ?? '(none)');

/** What differs between run A and run B, yours first, then evalrun's, then the provider's (per cell). */
export function changesBetween(a: HistoryRun, b: HistoryRun): HistoryChange[] {
  const ma = a.manifest;
  const mb = b.manifest;
  const out: HistoryChange[] = [];
  const promptA = ma.prompt_hash ?? (ma.prompts ? canonicalJson(ma.prompts) : undefined);
  const promptB = mb.prompt_hash ?? (mb.prompts ? canonicalJson(mb.prompts) : undefined);
  if (promptA !== undefined && promptB !== undefined && promptA !== promptB) out.push({ what: 'prompt', detail: 'you changed the prompt text' });
  if (ma.config_hash !== mb.config_hash) {
    const parts: string[] = [];
    const cells = (m: typeof ma) => canonicalJson(m.plan.cells.map((c) => [c.id, c.params, c.n]));
    if (cells(ma) !== cells(mb)) parts.push('the grid or request parameters');
    if (canonicalJson(ma.evaluation ?? null) !== canonicalJson(mb.evaluation ?? null)) parts.push('checks, gates or prices');
    if (out.length > 0) parts.unshift('the prompt text');
    out.push({ what: 'config', detail: `you changed the config (config hash ${ma.config_hash} → ${mb.config_hash}${parts.length ? `: ${parts.join(', ')}` : ''})` });
  }
  if (ma.dataset_hash !== mb.dataset_hash) out.push({ what: 'dataset', detail: `you changed the dataset (hash ${ma.dataset_hash} → ${mb.dataset_hash}; ${ma.plan.rows} → ${mb.plan.rows} rows)` });
  if (ma.versions.evalrun !== mb.versions.evalrun) out.push({ what: 'evalrun', detail: `evalrun ${ma.versions.evalrun} → ${mb.versions.evalrun}` });
  for (const [what, of] of [
    ['served_model', servedModels],
    ['system_fingerprint', servedFingerprints],
  ] as const) {
    const cells: string[] = [];
    const before = new Set<string>();
    const after = new Set<string>();
    for (const cb of b.cells) {
      const ca = a.cells.find((c) => c.cell === cb.cell);
      // A run made before evalrun kept what served it says nothing either way.
      if (!ca?.served || !cb.served) continue;
      const [x, y] = [of(ca), of(cb)];
      if (canonicalJson([...x].sort()) === canonicalJson([...y].sort())) continue;
      cells.push(cb.cell);
      for (const v of x) if (!y.includes(v)) before.add(v);
      for (const v of y) if (!x.includes(v)) after.add(v);
    }
    if (cells.length === 0) continue;
    const name = what === 'served_model' ? 'model' : 'system_fingerprint';
    out.push({ what, detail: `the provider changed the ${name} it serves (${[...before].join(', ') || '–'} → ${[...after].join(', ') || '–'})`, cells });
  }
  return out;
}

/** Who a drift of `cell` is attributed to: your changes first, then evalrun's, then the provider's for that cell. */
export function attribute(changes: readonly HistoryChange[], cell: string): { attributed_to: Attribution; because: string } {
  const yours = changes.filter((c) => c.what === 'prompt' || c.what === 'config' || c.what === 'dataset');
  if (yours.length) return { attributed_to: yours.some((c) => c.what !== 'dataset') ? 'config' : 'dataset', because: yours.map((c) => c.detail).join('; ') };
  const tool = changes.find((c) => c.what === 'evalrun');
  if (tool) return { attributed_to: 'evalrun', because: tool.detail };
  const cellOf = (c: HistoryChange) => c.cells?.some((x) => x === cell || cell.endsWith(` → ${x}`));
  const provider = changes.filter((c) => (c.what === 'served_model' || c.what === 'system_fingerprint') && cellOf(c));
  if (provider.length) return { attributed_to: 'provider', because: provider.map((c) => c.detail).join('; ') };
  return { attributed_to: 'nothing_visible', because: 'nothing changed that we can see: same config, dataset, evalrun version and served model' };
}

/**
 * Run B against run A with `compare`'s judging (compareSides): paired over rows when the dataset is the same,
 * unpaired when it changed; each drift attributed to what changed.
 */
export function transition(a: HistoryRun, b: HistoryRun, from: number, to: number, against: Transition['against'], metrics: readonly MetricDef[], alpha: number, options: { halfWidth?: boolean } = {}): Transition {
  const changes = changesBetween(a, b);
  const paired = a.manifest.dataset_hash === b.manifest.dataset_hash;
  const { pairs } = pairCells(a.manifest.plan.cells, b.manifest.plan.cells);
  const names = new Set(a.metrics.map((m) => m.name));
  const common = metrics.filter((m) => names.has(m.name) && b.metrics.some((x) => x.name === m.name));
  // Intervals are shown for the drifts only; the noise floor asks for its own, at one level (halfWidth).
  const { rows } = pairs.length ? compareSides(a.side, b.side, pairs, common, alpha, paired, { intervals: 'changes', halfWidth: options.halfWidth === true && NoiseFloorCounter.counts(changes, against, paired) }) : { rows: [] };
  const test = paired ? 'paired' : 'unpaired';
  const drifts: Drift[] = rows
    .filter((r) => r.change !== 'same')
    .map((r) => ({
      metric: r.metric,
      cell: r.cell,
      change: r.change as Drift['change'],
      from_value: r.baseline_value,
      to_value: r.value,
      diff: r.diff,
      diff_low: r.diff_low,
      diff_high: r.diff_high,
      p_value: r.p_value,
      p_adjusted: r.p_adjusted,
      test: r.pairs > 0 ? 'paired' : 'unpaired',
      method: r.method,
      ...attribute(changes, r.cell),
    }));
  return {
    from,
    to,
    against,
    test,
    ...(paired ? {} : { test_note: 'the dataset changed: the rows are not the same, so the runs are compared unpaired (pooled counts), which needs larger changes to find them' }),
    changes,
    compared: rows.length,
    drifts,
    rows,
  };
}

/**
 * The noise floor per metric: the differences between consecutive judged runs with identical requests (same config
 * and dataset) where nothing else changed either (evalrun version, served model and fingerprint), drifts left out.
 * Whatever moved there is the run-to-run noise of the provider's sampling.
 */
/** The noise floor's typical half-width is taken from the transitions among the newest this many runs. */
export const NOISE_WINDOW = 10;

export class NoiseFloorCounter {
  private readonly by = new Map<string, { transitions: number; diffs: number[]; halfWidths: number[] }>();
  /** Whether a transition with these changes is one the noise floor learns from. */
  static counts(changes: readonly HistoryChange[], against: Transition['against'], paired: boolean): boolean {
    return against === 'previous' && paired && changes.length === 0;
  }
  add(t: Transition): void {
    if (!NoiseFloorCounter.counts(t.changes, t.against, t.test === 'paired')) return;
    const seen = new Set<string>();
    for (const r of t.rows) {
      // A drift is what the floor is there to tell from noise: a silent change of the provider is not noise.
      if (r.diff === null || r.significant) continue;
      const e = this.by.get(r.metric) ?? { transitions: 0, diffs: [], halfWidths: [] };
      this.by.set(r.metric, e);
      if (!seen.has(r.metric)) e.transitions++;
      seen.add(r.metric);
      e.diffs.push(Math.abs(r.diff));
      if (r.half_width !== undefined && r.half_width !== null) e.halfWidths.push(r.half_width);
    }
  }
  result(metrics: readonly MetricDef[]): NoiseFloor[] {
    return metrics.map((m) => {
      const e = this.by.get(m.name);
      if (!e || e.diffs.length === 0) return { metric: m.name, transitions: 0, comparisons: 0, mean_abs_diff: null, max_abs_diff: null, median_half_width: null };
      const sorted = [...e.halfWidths].sort((x, y) => x - y);
      return {
        metric: m.name,
        transitions: e.transitions,
        comparisons: e.diffs.length,
        mean_abs_diff: roundTo(e.diffs.reduce((s, x) => s + x, 0) / e.diffs.length, 6),
        max_abs_diff: roundTo(Math.max(...e.diffs), 6),
        median_half_width: sorted.length ? roundTo(sorted[Math.floor((sorted.length - 1) / 2)]!, 6) : null,
      };
    });
  }
}

