import type { ComparisonRow } from '../stats/compare.js';
import type { CellStats } from './cell-stats.js';
import { formatUsd } from './cost-summary.js';
import { field } from './cell-extras.js';
import type { Summary } from './write-reports.js';
import { shardRowsText } from '../plan/shard.js';

const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '–');
/** Markdown table cells: pipes and newlines would break the row; `<` would be read as HTML by GitHub. */
export const mdCell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/\r?\n/g, ' ');

const MAX_GATE_LINES = 30;

/** ▲ / ▼ when the cell is significantly better / worse than the baseline on that metric; ◆ changed (no direction). */
export function marker(row: ComparisonRow | undefined): string {
  if (!row?.significant) return '';
  return row.change === 'better' ? ' ▲' : row.change === 'worse' ? ' ▼' : ' ◆';
}

/** How a partial merge is described on the console, in summary.md, junit.xml and report.html alike. */
export function partialNote(s: Pick<Summary, 'partial' | 'recorded' | 'plan'>): string {
  const p = s.partial ?? { missing: [], unfinished: [] };
  const parts = [
    ...(p.missing.length ? [`shard${p.missing.length > 1 ? 's' : ''} ${p.missing.join(', ')} missing`] : []),
    ...(p.unfinished.length ? [`shard${p.unfinished.length > 1 ? 's' : ''} ${p.unfinished.join(', ')} unfinished`] : []),
  ];
  return `PARTIAL merge: ${parts.join(', ')}; ${s.recorded.requests} of ${s.plan.requests} requests recorded`;
}

/** summary.md: the run in a few lines and one compact table, for a PR comment or a GitHub step summary. */
export function summaryMarkdown(summary: Summary): string {
  const checks = summary.checks ?? [];
  const cmp = summary.comparison;
  const find = (cell: string, metric: string) => cmp?.rows.find((r) => r.cell === cell && r.metric === metric);
  const hasJson = summary.cells.some((c) => c.json_checked > 0);
  const hasSchema = summary.cells.some((c) => c.schema_checked > 0);
  type Column = [string, (c: CellStats) => string];
  const rateColumn = (header: string, metric: string): Column => [header, (c) => pct(field(c, metric)) + marker(find(c.cell, metric))];
  const columns: Column[] = [
    ['choices', (c) => String(c.choices)],
    ...(hasSchema ? [rateColumn('schema ok', 'schema_valid_rate')] : []),
    ...(hasJson ? [rateColumn('json ok', 'json_valid_rate')] : []),
    ...checks.map((name) => rateColumn(name, `${name}_pass_rate`)),
    ['length', (c) => pct(c.length_rate) + marker(find(c.cell, 'length_rate'))],
    ['error', (c) => pct(c.error_rate) + marker(find(c.cell, 'error_rate'))],
    ...(summary.cells.some((c) => c.other > 0) ? [['other', (c: CellStats) => pct(c.other_rate)] as Column] : []),
    ...(summary.cells.some((c) => (c.refusal ?? 0) > 0) ? [['refusal', (c: CellStats) => pct(c.refusal_rate)] as Column] : []),
    ['p50 ms', (c) => (c.latency_p50_ms === null ? '–' : String(Math.round(c.latency_p50_ms)))],
    ['cost', (c) => formatUsd(c.cost_usd ?? null)],
  ];
  const gates = summary.gates;
  const verdict = !gates || gates.results.length === 0 ? '' : gates.failed === 0 ? ` — ✅ all ${gates.results.length} gate checks passed` : ` — ❌ ${gates.failed} of ${gates.results.length} gate checks failed`;
  const cost = summary.cost;
  const lines = [
    `## evalrun: ${mdCell(summary.name)}${verdict}`,
    '',
    `${summary.plan.cells} cells × ${summary.plan.rows} rows = ${summary.recorded.requests}/${summary.plan.requests} requests, ${summary.recorded.choices} choices · status **${summary.status}**` +
      (summary.recorded.failed_requests ? ` · ${summary.recorded.failed_requests} failed requests` : '') +
      (summary.totals?.cached ? ` · ${summary.totals.cached} answered from the cache` : '') +
      (cost ? ` · cost ${formatUsd(cost.cost_usd)}${cost.simulated ? ' (simulator: not billed)' : ''}` : ''),
    ...(summary.partial ? ['', `> ⚠️ **${partialNote(summary)}**: these results are not the whole run.`] : []),
    ...(summary.shard ? ['', `Shard ${summary.shard.index}/${summary.shard.count}: ${shardRowsText(summary.shard.rows, summary.plan.rows)}, ${summary.shard.requests} requests; join the shards with \`evalrun merge\`.`] : []),
    '',
    `| cell | ${columns.map(([h]) => h).join(' | ')} |`,
    `|:--|${columns.map(() => '--:').join('|')}|`,
    ...summary.cells.map((c) => `| ${mdCell(c.cell)}${cmp && c.cell === cmp.baseline ? ' *(baseline)*' : ''} | ${columns.map(([, f]) => f(c)).join(' | ')} |`),
  ];
  if (cmp) lines.push('', `▲ ▼ significantly better / worse than the baseline \`${mdCell(cmp.baseline)}\` (paired over rows, Holm-adjusted, α = ${cmp.alpha}).`);
  if (gates && gates.results.length > 0) {
    const shown = gates.results.filter((r) => !r.passed || gates.results.length <= MAX_GATE_LINES);
    lines.push('', '### Gates', '', '| | gate | cell | detail |', '|:-:|:--|:--|:--|');
    for (const r of shown) lines.push(`| ${r.passed ? '✅' : '❌'} | ${mdCell(r.gate)} | ${mdCell(r.cell)} | ${mdCell(r.message)} |`);
    if (shown.length < gates.results.length) lines.push('', `${gates.results.length - shown.length} passing gate checks not listed.`);
  }
  return `${lines.join('\n')}\n`;
}
