import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { MetricDef } from '../../stats/index.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { plural } from '../../util/plural.js';
import { CSV_CAST } from '../csv-cell.js';
import { mdCell } from '../markdown.js';
import { historyHtml } from './html.js';
import type { Drift, HistoryChange, HistoryRunEntry, NoiseFloor, Transition } from './history.js';

export const HISTORY_FILES = ['history.csv', 'history.json', 'history.html', 'history.md'] as const;

/** history.json. */
export interface HistoryJson {
  format: 'evalrun-history/1';
  name: string;
  generated_at: string;
  alpha: number;
  metrics: Array<{ name: string; direction: MetricDef['direction'] }>;
  method: string;
  baseline: HistoryRunEntry | null;
  runs: HistoryRunEntry[];
  transitions: Array<Omit<Transition, 'rows'>>;
  noise_floor: NoiseFloor[];
  /** The newest run: whether it was judged, and its worse drifts (what --fail-on-drift exits 1 on). */
  latest: { index: number; judged: boolean; not_judged?: string; worse: Drift[] };
  warnings: string[];
}

export const HISTORY_COLUMNS = [
  'run', 'started_at', 'run_dir', 'status', 'judged', 'cell', 'metric', 'value', 'low', 'high', 'n',
  'requests', 'failed_requests', 'error_rate', 'latency_p50_ms', 'latency_p95_ms', 'latency_mean_ms',
  'prompt_tokens', 'completion_tokens', 'cost_usd', 'served_models', 'system_fingerprints',
  'vs_previous', 'vs_previous_diff', 'vs_previous_p_adjusted', 'vs_previous_test',
  'vs_baseline', 'vs_baseline_diff', 'vs_baseline_p_adjusted',
] as const;

/** One run's rows of history.csv: one per cell × metric, with its drift against the run before and the baseline. */
export function historyCsv(run: HistoryRunEntry, metrics: readonly MetricDef[], transitions: readonly Transition[], header: boolean): string {
  const prev = transitions.find((t) => t.against === 'previous');
  const base = transitions.find((t) => t.against === 'baseline');
  const find = (t: Transition | undefined, metric: string, cell: string) => t?.rows.find((r) => r.metric === metric && (r.cell === cell || r.cell.endsWith(` → ${cell}`)));
  const rows: unknown[][] = [];
  for (const c of run.cells) {
    for (const m of metrics) {
      const p = c.metrics[m.name]!;
      const vp = find(prev, m.name, c.cell);
      const vb = find(base, m.name, c.cell);
      rows.push([
        run.index, run.started_at, run.dir, run.status, run.judged, c.cell, m.name, p.value, p.low, p.high, p.n,
        c.requests, c.failed_requests, c.error_rate, c.latency_p50_ms, c.latency_p95_ms, c.latency_mean_ms,
        c.prompt_tokens, c.completion_tokens, c.cost_usd, c.served_models.join(' '), c.system_fingerprints.join(' '),
        vp?.change ?? null, vp?.diff ?? null, vp?.p_adjusted ?? null, vp ? (vp.pairs > 0 ? 'paired' : 'unpaired') : null,
        vb?.change ?? null, vb?.diff ?? null, vb?.p_adjusted ?? null,
      ]);
    }
  }
  return stringify(rows, { header, columns: [...HISTORY_COLUMNS], cast: CSV_CAST });
}

/** Writes the four files (each written whole, then renamed); returns history.md's text. */
export async function writeHistoryFiles(out: string, history: HistoryJson, csv: string): Promise<string> {
  await mkdir(out, { recursive: true });
  const markdown = historyMarkdown(history);
  const html = await historyHtml(history);
  await Promise.all([
    writeFileAtomic(join(out, 'history.csv'), csv),
    writeFileAtomic(join(out, 'history.json'), `${JSON.stringify(history, null, 2)}\n`),
    writeFileAtomic(join(out, 'history.md'), markdown),
    writeFileAtomic(join(out, 'history.html'), html),
  ]);
  return markdown;
}

const signed = (metric: string, v: number | null) => {
  if (v === null) return '–';
  if (metric.endsWith('_ms')) return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(1)} ms`;
  return `${v >= 0 ? '+' : '−'}${(Math.abs(v) * 100).toFixed(1)}pp`;
};
const size = (metric: string, v: number | null) => (v === null ? '–' : metric.endsWith('_ms') ? `${v.toFixed(1)} ms` : `${(v * 100).toFixed(1)}pp`);

const MAX_DRIFT_LINES = 30;

const ATTRIBUTION: Record<Drift['attributed_to'], string> = {
  config: 'you changed the config',
  dataset: 'you changed the dataset',
  evalrun: 'evalrun changed',
  provider: 'the provider changed the model',
  nothing_visible: 'nothing changed that we can see',
};

/** history.md: the newest run's verdict, what changed, the drifts over the history, and the noise floor. */
export function historyMarkdown(h: HistoryJson): string {
  const runs = h.runs;
  const last = runs.at(-1)!;
  const label = (i: number) => (i < 0 ? 'baseline' : runs[i]!.started_at.slice(0, 19).replace('T', ' '));
  const out = [`## evalrun history: ${mdCell(h.name)}`, ''];
  const judged = runs.filter((r) => r.judged).length;
  out.push(`${plural(runs.length, 'run')} from ${label(0)} to ${label(last.index)} UTC (${judged} judged${h.baseline ? `; baseline ${h.baseline.started_at.slice(0, 19).replace('T', ' ')}` : ''}); α = ${h.alpha}, Holm across cells per metric.`, '');
  const worse = h.latest.worse;
  if (!last.judged) out.push(`**Newest run not judged:** ${mdCell(last.not_judged ?? '')}. It is shown, but drift is judged on complete runs only.`);
  else if (!h.transitions.some((t) => t.to === last.index)) out.push('**The newest run is the first judged run:** nothing to compare it with yet.');
  else if (worse.length) out.push(`**❌ The newest run drifted worse** on ${plural(new Set(worse.map((d) => `${d.metric} ${d.cell}`)).size, 'metric × cell')}.`);
  else out.push('**✅ No worse drift in the newest run.**');
  out.push('');
  const lastTransitions = h.transitions.filter((t) => t.to === last.index);
  for (const t of lastTransitions) {
    out.push(`Against ${t.against === 'previous' ? `the run before (${label(t.from)})` : 'the baseline'}: ${t.test}${t.test_note ? ` (${t.test_note})` : ''}; changed: ${changeText(t.changes)}.`);
  }
  if (lastTransitions.length) out.push('');
  const drifting = h.transitions.filter((t) => t.drifts.length > 0).reverse();
  let shown = 0;
  let hidden = 0;
  for (const t of drifting) {
    if (shown >= MAX_DRIFT_LINES) {
      hidden += t.drifts.length;
      continue;
    }
    out.push(`### ${label(t.to)} against ${t.against === 'previous' ? `the run before (${label(t.from)})` : 'the baseline'}`, '', `Changed: ${mdCell(changeText(t.changes))}.`, '', '| | metric | cell | change [95% interval] | p (Holm) | test | attributed to |', '|:-:|:--|:--|:--|--:|:--|:--|');
    for (const d of t.drifts) {
      if (shown++ >= MAX_DRIFT_LINES) {
        hidden++;
        continue;
      }
      out.push(`| ${d.change === 'worse' ? '▼' : d.change === 'better' ? '▲' : '◆'} | ${d.metric} | ${mdCell(d.cell)} | ${signed(d.metric, d.diff)} [${signed(d.metric, d.diff_low)}, ${signed(d.metric, d.diff_high)}] | ${d.p_adjusted?.toPrecision(2) ?? '–'} | ${d.test} | ${ATTRIBUTION[d.attributed_to]} |`);
    }
    out.push('');
  }
  if (hidden) out.push(`${plural(hidden, 'more drift')} in history.json and history.html.`, '');
  if (!drifting.length) out.push('No drift between any two judged runs.', '');
  const floors = h.noise_floor.filter((n) => n.comparisons > 0);
  if (floors.length) {
    out.push('Noise floor (consecutive runs with identical requests where nothing changed): how far a metric moves by chance.', '', `| metric | run pairs | mean \\|diff\\| | max \\|diff\\| | typical ${levelPercent(h.alpha)} half-width |`, '|:--|--:|--:|--:|--:|');
    for (const n of floors) out.push(`| ${n.metric} | ${n.transitions} | ${size(n.metric, n.mean_abs_diff)} | ${size(n.metric, n.max_abs_diff)} | ${size(n.metric, n.median_half_width)} |`);
  } else out.push('Noise floor: no two consecutive judged runs had identical requests with nothing else changed.');
  const notJudged = runs.filter((r) => !r.judged);
  if (notJudged.length) out.push('', `Shown, not judged: ${notJudged.map((r) => `${label(r.index)} (${mdCell(r.not_judged ?? '')})`).join('; ')}.`);
  return `${out.join('\n')}\n`;
}

export function changeText(changes: readonly HistoryChange[]): string {
  return changes.length ? changes.map((c) => c.detail).join('; ') : 'nothing that we can see';
}

/** The confidence level of a (1 − α) interval, as a header says it: 95%, 99%. */
export function levelPercent(alpha: number): string {
  return `${Math.round((1 - alpha) * 1000) / 10}%`;
}
