import { field, type CellStats, type GateResult, type GateSection } from '../contracts/summary.js';
import type { GateSpec } from '../contracts/evaluation.js';
import { globToRegExp } from '../util/glob.js';

export function describeGate(g: GateSpec): string {
  if (g.name) return g.name;
  const limits = [g.min !== undefined ? `>= ${g.min}` : '', g.max !== undefined ? `<= ${g.max}` : ''].filter(Boolean).join(' and ');
  return `${g.metric} ${limits}${g.cell ? ` [${g.cell}]` : ''}${g.bound !== 'point' ? ` (on the 95% ${g.bound} bound)` : ''}`;
}

const show = (v: number, metric: string) => (metric.endsWith('_ms') ? `${v.toFixed(1)} ms` : metric.endsWith('_rate') ? v.toFixed(4) : String(v));

/**
 * Every gate against every cell its glob matches. A cell with no value for the metric (nothing was checked, every
 * request failed) fails: a gate that cannot be shown to hold must not let CI through.
 */
export function evaluateGates(gates: readonly GateSpec[], cells: readonly CellStats[]): GateSection {
  const results: GateResult[] = [];
  for (const g of gates) {
    const re = g.cell === undefined ? undefined : globToRegExp(g.cell);
    for (const c of cells) {
      if (re && !re.test(c.cell)) continue;
      const raw = field(c, g.metric);
      const value = typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
      const boundRaw = g.bound === 'point' ? value : field(c, `${g.metric}_${g.bound}`);
      const judged = typeof boundRaw === 'number' && Number.isFinite(boundRaw) ? boundRaw : null;
      const what = g.bound === 'point' ? g.metric : `${g.metric} ${g.bound} bound`;
      let passed = judged !== null;
      let message: string;
      // A metric that can be undefined says why beside it (`<metric>_note`: κ when every human label is the same).
      const note = field(c, `${g.metric}_note`);
      if (judged === null) message = typeof note === 'string' ? `${g.metric} is undefined for this cell: ${note}` : `${g.metric} has no value for this cell (nothing to judge)`;
      else {
        const problems: string[] = [];
        if (g.min !== undefined && judged < g.min) problems.push(`${what} ${show(judged, g.metric)} is below the minimum ${g.min}`);
        if (g.max !== undefined && judged > g.max) problems.push(`${what} ${show(judged, g.metric)} is above the maximum ${g.max}`);
        passed = problems.length === 0;
        const point = g.bound === 'point' || value === null ? '' : ` (point ${show(value, g.metric)})`;
        message = passed ? `${what} ${show(judged, g.metric)}${point} is within limits` : `${problems.join('; ')}${point}`;
      }
      results.push({ gate: describeGate(g), metric: g.metric, cell: c.cell, value, judged, bound: g.bound, min: g.min ?? null, max: g.max ?? null, passed, message });
    }
  }
  const failed = results.filter((r) => !r.passed).length;
  return { status: 'judged', passed: results.length - failed, failed, results };
}

/** The gate section of an incomplete run: every gate listed as not judged, none passed or failed. */
export function gatesNotJudged(gates: readonly GateSpec[], recorded: number, planned: number, shard?: { index: number; count: number }): GateSection {
  return {
    status: 'not_judged',
    // A shard holds part of the rows by design, complete or not: its gates are the merged run's to judge.
    reason: shard
      ? `Gates not judged in shard ${shard.index}/${shard.count}: gates are judged after \`evalrun merge\` joins every shard.`
      : `Gates not judged: the run is incomplete (${recorded} of ${planned} requests recorded). Resume it to judge them.`,
    not_judged: gates.map(describeGate),
    passed: 0,
    failed: 0,
    results: [],
  };
}
