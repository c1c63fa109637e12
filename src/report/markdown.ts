import type { ComparisonRow } from '../stats/index.js';
import { agreementHeading, agreementRows } from './agreement-text.js';
import { field, type CellStats, type Summary } from '../contracts/summary.js';
import { formatUsd } from './cost-summary.js';
import { showsRate } from './seen-rates.js';
import { formatPickCost, formatPickMetric, pickHeading, recommendationText } from './pick.js';
import { plural } from '../util/plural.js';
import { shardRowsText } from '../util/shard-rows-text.js';

const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '–');
const score = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : '–');
/** A mean score and its 95% interval: `0.412 (0.401–0.423)`. */
const scoreText = (mean: unknown, low: unknown, high: unknown) => (typeof mean !== 'number' ? '–' : typeof low === 'number' && typeof high === 'number' ? `${score(mean)} (${score(low)}–${score(high)})` : score(mean));
/** Markdown table cells: pipes and newlines would break the row; `<` would be read as HTML by GitHub. */
export const mdCell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/\r?\n/g, ' ');

const MAX_GATE_LINES = 30;

/** ▲ / ▼ when the cell is significantly better / worse than the baseline on that metric; ◆ changed (no direction). */
export function marker(row: ComparisonRow | undefined): string {
  if (!row?.significant) return '';
  return row.change === 'better' ? ' ▲' : row.change === 'worse' ? ' ▼' : ' ◆';
}

/**
 * One line per failing gate × cell, and one line per gate for the cells where it passed: a 12-cell grid with three
 * passing gates is three lines, not 36, and a failure is never folded away (up to MAX_GATE_LINES of them; junit.xml
 * has every one).
 */
function gateLines(gates: NonNullable<Summary['gates']>): string[] {
  const out = ['| | gate | cell | detail |', '|:-:|:--|:--|:--|'];
  const byGate = new Map<string, typeof gates.results>();
  for (const r of gates.results) byGate.set(r.gate, [...(byGate.get(r.gate) ?? []), r]);
  let failuresShown = 0;
  for (const [gate, results] of byGate) {
    const passed = results.filter((r) => r.passed);
    for (const r of results) {
      if (r.passed || failuresShown++ >= MAX_GATE_LINES) continue;
      out.push(`| ❌ | ${mdCell(gate)} | ${mdCell(r.cell)} | ${mdCell(r.message)} |`);
    }
    if (passed.length === 1) out.push(`| ✅ | ${mdCell(gate)} | ${mdCell(passed[0]!.cell)} | ${mdCell(passed[0]!.message)} |`);
    else if (passed.length > 1) out.push(`| ✅ | ${mdCell(gate)} | ${passed.length === results.length ? 'all ' : ''}${plural(passed.length, 'cell')} | passed in every one${passed.length < results.length ? ' of these' : ''} |`);
  }
  if (failuresShown > MAX_GATE_LINES) out.push('', `${plural(failuresShown - MAX_GATE_LINES, 'more failing gate check')} not listed: see junit.xml.`);
  return out;
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
  const scored = new Set(summary.scored_checks ?? []);
  // A scored check's mean score with its 95% interval, and the share of its answers it could not score.
  const scoreColumns = (name: string): Column[] => [
    [`${name} score`, (c) => scoreText(field(c, `${name}_score_mean`), field(c, `${name}_score_mean_low`), field(c, `${name}_score_mean_high`)) + marker(find(c.cell, `${name}_score_mean`))],
    [`${name} unscored`, (c) => pct(field(c, `${name}_unscored_rate`))],
  ];
  const columns: Column[] = [
    ['choices', (c) => String(c.choices)],
    ...(hasSchema ? [rateColumn('schema ok', 'schema_valid_rate')] : []),
    ...(hasJson ? [rateColumn('json ok', 'json_valid_rate')] : []),
    ...checks.flatMap((name) => [rateColumn(name, `${name}_pass_rate`), ...(scored.has(name) ? scoreColumns(name) : [])]),
    ['length', (c) => pct(c.length_rate) + marker(find(c.cell, 'length_rate'))],
    // A tool-calling config answers in tool calls: without this column its choices would seem to vanish from the rates.
    ...(showsRate('tool_calls_rate', summary.cells) ? [rateColumn('tool calls', 'tool_calls_rate')] : []),
    ['error', (c) => pct(c.error_rate) + marker(find(c.cell, 'error_rate'))],
    ...(summary.cells.some((c) => c.other > 0) ? [['other', (c: CellStats) => pct(c.other_rate)] as Column] : []),
    ...(showsRate('refusal_rate', summary.cells) ? [['refusal', (c: CellStats) => pct(c.refusal_rate)] as Column] : []),
    ['p50 ms', (c) => (c.latency_p50_ms === null ? '–' : String(Math.round(c.latency_p50_ms)))],
    ['cost', (c) => formatUsd(c.cost_usd ?? null)],
  ];
  const gates = summary.gates;
  const verdict =
    gates?.status === 'not_judged' && (gates.not_judged?.length ?? 0) > 0
      ? summary.shard
        ? ' — gates not judged in a shard: gates are judged after `evalrun merge`'
        : ' — ⚠️ gates not judged (incomplete run)'
      : !gates || gates.results.length === 0
        ? ''
        : gates.failed > 0
          ? ` — ❌ ${gates.failed} of ${plural(gates.results.length, 'gate check')} failed`
          : gates.results.length === 1 ? ' — ✅ the 1 gate check passed' : ` — ✅ all ${gates.results.length} gate checks passed`;
  const cost = summary.cost;
  const lines = [
    `## evalrun: ${mdCell(summary.name)}${verdict}`,
    '',
    ...(summary.incomplete ? [`> ⚠️ **${mdCell(summary.incomplete)}**`, ''] : []),
    `${plural(summary.plan.cells, 'cell')} × ${plural(summary.plan.rows, 'row')} = ${summary.recorded.requests}/${summary.plan.requests} requests, ${summary.recorded.choices} choices · status **${summary.status}**` +
      (summary.recorded.failed_requests ? ` · ${plural(summary.recorded.failed_requests, 'failed request')}` : '') +
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
  const agreement = agreementRows(summary);
  if (agreement.length > 0) {
    lines.push(
      '',
      '### Agreement with people',
      '',
      `${mdCell(agreementHeading(summary))}.`,
      '',
      '| metric | cell | κ [95% interval] | n | labelled, unscored |',
      '|:--|:--|:--|--:|--:|',
      ...agreement.map((r) => `| ${r.check}_kappa | ${r.cell === null ? '**all cells**' : mdCell(r.cell)} | ${mdCell(r.text)} | ${r.n} | ${r.unscored} |`),
    );
  }
  if (gates?.status === 'not_judged' && (gates.not_judged?.length ?? 0) > 0) {
    const why = summary.shard ? 'a shard: gates are judged after `evalrun merge`.' : 'the run is incomplete.';
    lines.push('', '### Gates', '', `Not judged: ${why} ${gates.not_judged!.map((g) => `\`${mdCell(g)}\``).join(', ')}`);
  }
  if (gates && gates.results.length > 0) lines.push('', '### Gates', '', ...gateLines(gates));
  const pick = summary.pick;
  const recommendation = pick ? recommendationText(pick) : undefined;
  if (pick && pick.frontier.length === 0 && pick.note) lines.push('', '### Best at each price', '', `No cell placed. Note: ${mdCell(pick.note)}`);
  if (pick && pick.frontier.length > 0) {
    lines.push(
      '',
      '### Best at each price',
      '',
      `${mdCell(pickHeading(pick))}. Cheapest first; each buys more than the one before.`,
      '',
      `| ${mdCell(pick.cost)} | ${mdCell(pick.metric)} | cell |`,
      '|--:|--:|:--|',
      ...pick.best_at_each_price.map((s) => `| ${mdCell(formatPickCost(pick.cost, s.cost))} | ${formatPickMetric(pick.metric, s.metric)} | ${mdCell(s.cell)} |`),
      ...(pick.note ? ['', `Note: ${mdCell(pick.note)}`] : []),
      ...(recommendation ? ['', `**Recommended:** ${mdCell(recommendation.replace(/^Recommended: /, ''))}`] : []),
    );
  }
  return `${lines.join('\n')}\n`;
}
