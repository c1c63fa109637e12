import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GateResult, Summary } from '../../../src/contracts/summary.js';
import type { ComparisonRow } from '../../../src/stats/compare.js';
import { marker, mdCell, summaryMarkdown } from '../../../src/report/markdown.js';
import { writeReports } from '../../../src/report/write-reports.js';
import { emptyEvaluation } from '../../../src/contracts/evaluation.js';
import type { RequestRecord } from '../../../src/record/types.js';
import { makeCell, makeChoice, makeManifest, makeRecord, writeRunDir } from '../../helpers/records.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();
const ROWS = 30;
const cells = [
  makeCell('gpt-4o-mini/t0', { model: 'gpt-4o-mini', temperature: 0 }, { json_mode: true }),
  makeCell('gpt-4o-mini/t1', { model: 'gpt-4o-mini', temperature: 1 }, { json_mode: true }),
];

/** Cell t0 always fits the schema; t1 fits it on 1 row in 10, a change the paired comparison must call worse. */
function records(): RequestRecord[] {
  const out: RequestRecord[] = [];
  for (let row = 0; row < ROWS; row++) {
    cells.forEach((cell, c) => {
      const valid = c === 0 || row % 10 === 0;
      out.push(makeRecord(row * cells.length + c, {
        cell: cell.id,
        row_id: `T-${row}`,
        latency_ms: 100 + c * 50,
        choices: [makeChoice(0, { content: '{"a":1}', json_valid: true, schema_valid: valid, schema_errors: valid ? [] : ['/a must be string'] })],
      }));
    });
  }
  return out;
}

let summary: Summary;

beforeAll(async () => {
  const dir = join(await tempDir(), 'run');
  const evaluation = { ...emptyEvaluation(), gates: [{ metric: 'schema_valid_rate', min: 0.9, bound: 'point' as const }] };
  await writeRunDir(dir, makeManifest(cells, ROWS, { name: 'tickets | v2', evaluation }), records());
  summary = await writeReports(dir);
});

const tableRows = (md: string) => md.split('\n').filter((l) => l.startsWith('| '));
const header = (md: string) => tableRows(md)[0]!.split(' | ').map((h) => h.replace(/^\| |\s*\|$/g, ''));
const rowOf = (md: string, cell: string) => tableRows(md).find((l) => l.startsWith(`| ${cell}`))!;

describe('mdCell', () => {
  it('escapes what would break a table row or be read as HTML', () => {
    expect(mdCell('a|b')).toBe('a\\|b');
    expect(mdCell('<script>')).toBe('&lt;script>');
    expect(mdCell('line 1\r\nline 2\nline 3')).toBe('line 1 line 2 line 3');
    expect(mdCell('back\\slash|pipe')).toBe('back\\\\slash\\|pipe');
  });
});

describe('marker', () => {
  const row = (significant: boolean, change: ComparisonRow['change']) => ({ significant, change }) as ComparisonRow;
  it('is ▲ / ▼ / ◆ for a significant better / worse / undirected change, nothing otherwise', () => {
    expect(marker(row(true, 'better'))).toBe(' ▲');
    expect(marker(row(true, 'worse'))).toBe(' ▼');
    expect(marker(row(true, 'changed'))).toBe(' ◆');
    expect(marker(row(false, 'same'))).toBe('');
    expect(marker(undefined)).toBe('');
  });
});

describe('summaryMarkdown', () => {
  it('heads with the run name (escaped) and the gates verdict', () => {
    const md = summaryMarkdown(summary);
    expect(md.split('\n')[0]).toBe('## evalrun: tickets \\| v2 — ❌ 1 of 2 gate checks failed');
    expect(md.endsWith('\n')).toBe(true);
  });

  it('says what ran in one line: cells × rows, requests, choices and status', () => {
    const md = summaryMarkdown(summary);
    const line = md.split('\n')[2]!;
    expect(line.startsWith(`2 cells × ${ROWS} rows = ${ROWS * 2}/${ROWS * 2} requests, ${ROWS * 2} choices · status **complete** · cost $`)).toBe(true);
    // The manifest's provider is the simulator: what OpenAI would charge, marked as not billed.
    expect(line).toMatch(/ · cost \$\d+\.\d+ \(simulator: not billed\)$/);
    expect(line).not.toContain('failed requests');
  });

  it('has a column per measured rate, leaving out what no cell has', () => {
    const md = summaryMarkdown(summary);
    expect(header(md)).toEqual(['cell', 'choices', 'schema ok', 'json ok', 'length', 'error', 'p50 ms', 'cost']);
    const noJson = { ...summary, cells: summary.cells.map((c) => ({ ...c, json_checked: 0, schema_checked: 0, other: 1, other_rate: 1 / 30 })) };
    expect(header(summaryMarkdown(noJson))).toEqual(['cell', 'choices', 'length', 'error', 'other', 'p50 ms', 'cost']);
  });

  it('shows each cell with its rates, marking the baseline and a significant regression against it', () => {
    const md = summaryMarkdown(summary);
    expect(rowOf(md, 'gpt-4o-mini/t0')).toMatch(/^\| gpt-4o-mini\/t0 \*\(baseline\)\* \| 30 \| 100\.0% \| 100\.0% \| 0\.0% \| 0\.0% \| 100 \| \$\d+\.\d+ \|$/);
    const t1 = rowOf(md, 'gpt-4o-mini/t1');
    expect(t1).toMatch(/^\| gpt-4o-mini\/t1 \| 30 \| 10\.0% ▼ \| 100\.0% \| 0\.0% \| 0\.0% \| 150 \|/);
    expect(md).toContain('▲ ▼ significantly better / worse than the baseline `gpt-4o-mini/t0` (paired over rows, Holm-adjusted, α = 0.05).');
  });

  it('lists the gate checks, failed and passed, with an escaped detail', () => {
    const md = summaryMarkdown(summary);
    expect(md).toContain('### Gates');
    expect(md).toMatch(/^\| ✅ \| schema_valid_rate >= 0\.9 \| gpt-4o-mini\/t0 \| .+ \|$/m);
    expect(md).toMatch(/^\| ❌ \| schema_valid_rate >= 0\.9 \| gpt-4o-mini\/t1 \| .*below the minimum 0\.9 \|$/m);
  });

  it('lists each failed gate check, and the passing ones as one line per gate', () => {
    const result = (i: number, passed: boolean): GateResult => ({ gate: 'g', metric: 'error_rate', cell: `c${i}`, value: 0, judged: 0, bound: 'point', min: null, max: 0.1, passed, message: 'a | b' });
    const results = Array.from({ length: 40 }, (_, i) => result(i, i !== 7));
    const md = summaryMarkdown({ ...summary, gates: { status: 'judged', passed: 39, failed: 1, results } });
    expect(md.split('\n')[0]).toContain('❌ 1 of 40 gate checks failed');
    expect(md.match(/^\| [✅❌] \| g \|/gm)).toEqual(['| ❌ | g |', '| ✅ | g |']);
    expect(md).toContain('| ❌ | g | c7 | a \\| b |');
    expect(md).toContain('| ✅ | g | 39 cells | passed in every one of these |');
  });

  it('without gates or comparison: no verdict, no legend, no gates section; all-passing gates say so', () => {
    const { gates: _g, comparison: _c, ...rest } = summary;
    const plain = summaryMarkdown(rest);
    expect(plain.split('\n')[0]).toBe('## evalrun: tickets \\| v2');
    expect(plain).not.toContain('### Gates');
    expect(plain).not.toContain('▲ ▼');
    expect(plain).not.toContain('*(baseline)*');
    const passing = summary.gates!.results.map((r) => ({ ...r, passed: true }));
    expect(summaryMarkdown({ ...summary, gates: { status: 'judged', passed: 2, failed: 0, results: passing } }).split('\n')[0]).toContain('— ✅ all 2 gate checks passed');
  });

  it('adds failed requests, cached answers and cost to the run line when there are any', () => {
    const s: Summary = {
      ...summary,
      status: 'interrupted',
      recorded: { ...summary.recorded, failed_requests: 2 },
      totals: { ...summary.totals, cached: 5 },
      cost: { ...(summary.cost ?? {}), cost_usd: 0.0123, simulated: true } as NonNullable<Summary['cost']>,
    };
    const line = summaryMarkdown(s).split('\n')[2]!;
    expect(line).toContain('status **interrupted** · 2 failed requests · 5 answered from the cache · cost ');
    expect(line).toMatch(/ \(simulator: not billed\)$/);
  });
});
