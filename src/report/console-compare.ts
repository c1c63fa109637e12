import type { RunComparison } from './compare-runs.js';
import { formatChange } from './console-evaluation.js';
import { mdCell } from './markdown.js';
import { textTable, type TableColumn } from '../util/text-table.js';

const COMPARE_COLUMNS: TableColumn[] = [
  { header: 'metric', align: 'left' },
  { header: 'cell', align: 'left' },
  { header: 'A', align: 'right' },
  { header: 'B', align: 'right' },
  { header: 'change', align: 'right' },
  { header: 'interval (Holm level)', align: 'right' },
  { header: 'p (Holm)', align: 'right' },
  { header: 'verdict', align: 'left' },
];

const value = (metric: string, v: number | null) => (v === null ? '–' : metric.endsWith('_ms') ? `${v.toFixed(1)}ms` : `${(v * 100).toFixed(1)}%`);
const interval = (metric: string, lo: number | null, hi: number | null) => {
  if (lo === null || hi === null) return '';
  const f = (v: number) => (metric.endsWith('_ms') ? v.toFixed(1) : (v * 100).toFixed(1));
  return `[${f(lo)}, ${f(hi)}]`;
};

/** "12 cells matched by id", "3 cell pairs (2 by id, 1 by --map)". */
function pairing(r: RunComparison): string {
  const pairs = r.pairs;
  const by = (how: string) => pairs.filter((p) => p.matched_by === how).length;
  const parts = [['id', 'by id'], ['map', 'by --map'], ['params', 'on parameters']].filter(([k]) => by(k!) > 0).map(([k, text]) => `${by(k!)} ${text}`);
  const n = pairs.length;
  if (parts.length === 1) return `${n} ${n === 1 ? 'cell' : 'cells'} matched ${parts[0]!.replace(/^\d+ /, '')}`;
  return `${n} cell ${n === 1 ? 'pair' : 'pairs'} (${parts.join(', ')})`;
}

/** `evalrun compare` on the terminal: one line per metric × cell, regressions easy to spot. */
export function formatRunComparison(r: RunComparison): string {
  const how = r.common_rows > 0 ? `paired over ${r.common_rows} dataset rows both runs have` : 'unpaired (the runs share no row ids): two-proportion z-test / Welch t-test';
  const lines = textTable(
    COMPARE_COLUMNS,
    r.rows.map((row) => [
      row.metric, row.cell, value(row.metric, row.baseline_value), value(row.metric, row.value), formatChange(row),
      interval(row.metric, row.diff_low, row.diff_high), row.p_adjusted === null ? '–' : String(row.p_adjusted),
      row.significant ? row.change : '',
    ]),
  );
  const worse = r.rows.filter((x) => x.change === 'worse').length;
  const better = r.rows.filter((x) => x.change === 'better').length;
  return [
    `A: ${r.run_a.dir} (${r.run_a.name})${r.run_a.complete ? '' : ` INCOMPLETE: ${r.run_a.recorded_requests} of ${r.run_a.planned_requests} requests`}`,
    `B: ${r.run_b.dir} (${r.run_b.name})${r.run_b.complete ? '' : ` INCOMPLETE: ${r.run_b.recorded_requests} of ${r.run_b.planned_requests} requests`}`,
    `${pairing(r)}, ${how}; Holm-adjusted across cells, α = ${r.alpha}. CI in percentage points (ms for latency).`,
    ...(r.differing.length ? [`Paired on parameters, setting aside what differs between the runs: ${r.differing.map((d) => `${d.key} ${JSON.stringify(d.a)} (A) vs ${JSON.stringify(d.b)} (B)`).join(', ')}`] : []),
    ...(r.only_in_a.length ? [`Only in A (not compared): ${r.only_in_a.join(', ')}`] : []),
    ...(r.only_in_b.length ? [`Only in B (not compared): ${r.only_in_b.join(', ')}`] : []),
    '',
    ...lines,
    '',
    worse || better ? `${worse} significantly worse, ${better} significantly better.` : 'No significant changes.',
  ].join('\n');
}

/** The regressions and improvements as markdown, for $GITHUB_STEP_SUMMARY. */
export function runComparisonMarkdown(r: RunComparison): string {
  const changed = r.rows.filter((x) => x.significant);
  const lines = [`## evalrun compare: ${mdCell(r.run_a.name)} → ${mdCell(r.run_b.name)}`, '', `${pairing(r)}, ${r.common_rows} paired rows, α = ${r.alpha} (Holm).`, ''];
  for (const w of r.warnings) lines.push(`> ⚠️ ${mdCell(w)}`, '');
  if (changed.length === 0) lines.push('No significant changes.');
  else {
    lines.push('| | metric | cell | A | B | change |', '|:-:|:--|:--|--:|--:|--:|');
    for (const x of changed) lines.push(`| ${x.change === 'worse' ? '❌' : x.change === 'better' ? '✅' : '◆'} | ${x.metric} | ${mdCell(x.cell)} | ${value(x.metric, x.baseline_value)} | ${value(x.metric, x.value)} | ${formatChange(x)} |`);
  }
  return `${lines.join('\n')}\n`;
}
