import type { ComparisonRow } from '../stats/index.js';
import { formatUsd } from './cost-summary.js';
import { formatPick } from './pick.js';
import { formatAgreement } from './agreement-text.js';
import type { Summary } from '../contracts/summary.js';
import { plural } from '../util/plural.js';
import { textTable } from '../util/text-table.js';

const sign = (v: number) => (v > 0 ? '+' : v < 0 ? '−' : '±');

/** A change in percentage points (rates) or ms, with its marker: "−17.6pp ▼". */
export function formatChange(r: ComparisonRow): string {
  if (r.diff === null) return 'n/a';
  const ms = r.metric.endsWith('_ms');
  const size = ms ? `${Math.abs(r.diff).toFixed(1)}ms` : `${(Math.abs(r.diff) * 100).toFixed(1)}pp`;
  const mark = !r.significant ? '' : r.change === 'better' ? ' ▲' : r.change === 'worse' ? ' ▼' : ' ◆';
  return `${sign(r.diff)}${size}${mark}`;
}

/** The comparison as a cells × metrics matrix of changes, one line per cell, like the summary table. */
export function formatComparison(summary: Summary): string {
  const cmp = summary.comparison;
  if (!cmp || cmp.rows.length === 0) return '';
  const cells = [...new Set(cmp.rows.map((r) => r.cell))];
  const lines = textTable(
    [{ header: 'cell', align: 'left' }, ...cmp.metrics.map((header) => ({ header, align: 'right' as const }))],
    cells.map((cell) => [cell, ...cmp.metrics.map((m) => {
      const r = cmp.rows.find((x) => x.cell === cell && x.metric === m);
      return r ? formatChange(r) : '';
    })]),
  );
  const significant = cmp.rows.filter((r) => r.significant).length;
  return [
    `Compared with ${cmp.baseline} (paired over rows, Holm-adjusted, α = ${cmp.alpha}; ▲ better ▼ worse; pp: percentage points):`,
    ...lines,
    significant ? `${significant} significant difference${significant === 1 ? '' : 's'}; intervals and p-values in comparison.csv.` : 'No significant differences from the baseline.',
  ].join('\n');
}

/**
 * One line per gate that held everywhere, and one line per cell where a gate failed, failures first: a long grid
 * does not bury the failures, and `grep FAIL` in a CI log says everything (junit.xml has every gate × cell).
 */
export function formatGates(summary: Summary): string {
  const g = summary.gates;
  if (g?.status === 'not_judged' && (g.not_judged?.length ?? 0) > 0) {
    const head = summary.shard
      ? `Gates: not judged in shard ${summary.shard.index}/${summary.shard.count}; gates are judged after \`evalrun merge\``
      : `Gates: not judged, the run is incomplete (${summary.recorded.requests} of ${summary.plan.requests} requests recorded)`;
    return [head, ...g.not_judged!.map((name) => `  not judged  ${name}`)].join('\n');
  }
  if (!g || g.results.length === 0) return '';
  const head = g.failed
    ? `Gates: ${g.failed} of ${plural(g.results.length, 'gate × cell check')} failed (exit code 1)`
    : g.results.length === 1 ? 'Gates: the 1 gate × cell check passed' : `Gates: all ${g.results.length} gate × cell checks passed`;
  const failures = g.results.filter((r) => !r.passed).map((r) => `  FAIL  ${r.gate}  ${r.cell}: ${r.message}`);
  const byGate = new Map<string, { passed: number; total: number }>();
  for (const r of g.results) {
    const e = byGate.get(r.gate) ?? { passed: 0, total: 0 };
    e.total++;
    if (r.passed) e.passed++;
    byGate.set(r.gate, e);
  }
  const passes = [...byGate].filter(([, e]) => e.passed === e.total).map(([gate, e]) => `  pass  ${gate}  (${e.total} cell${e.total === 1 ? '' : 's'})`);
  return [head, ...failures, ...passes].join('\n');
}

/** Tokens used and what they cost (or would have cost, on the simulator). */
export function formatCost(summary: Summary): string {
  const c = summary.cost;
  if (!c) return '';
  const n = (v: number) => v.toLocaleString('en-US');
  const unknown = c.unknown_models.length ? ` (no price for ${c.unknown_models.join(', ')}: add it under 'pricing:'; known part ${formatUsd(c.known_cost_usd)})` : '';
  const note = batchNote(c) + (c.simulated ? '; simulator: nothing was billed' : '');
  return `Tokens: ${n(c.billed_prompt_tokens)} prompt + ${n(c.billed_completion_tokens)} completion · cost ${formatUsd(c.cost_usd)}${unknown} at prices as of ${c.prices_as_of}${note}`;
}

/** What was billed at the Batch API's half price: all of it, or (a run resumed in the other mode) a part. */
function batchNote(c: NonNullable<Summary['cost']>): string {
  if (!c.batch) return '';
  const prompt = c.batch_prompt_tokens ?? c.billed_prompt_tokens;
  const completion = c.batch_completion_tokens ?? c.billed_completion_tokens;
  if (prompt === c.billed_prompt_tokens && completion === c.billed_completion_tokens) return '; Batch API: half the list price';
  const n = (v: number) => v.toLocaleString('en-US');
  return `; of these, ${n(prompt)} prompt + ${n(completion)} completion tokens through the Batch API at half the list price`;
}

/** The three blocks after the summary table, separated by blank lines. */
export function formatEvaluation(summary: Summary): string {
  return [formatComparison(summary), formatAgreement(summary), formatGates(summary), formatPick(summary), formatCost(summary), summary.incomplete ?? ''].filter(Boolean).join('\n\n');
}
