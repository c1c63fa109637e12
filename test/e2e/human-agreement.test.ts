/**
 * Issue 25, "measured against people": a check with `human: { column }` is compared with people's labels through
 * the CLI. A script check stands in for a judge (its verdict is a dataset column, so the tables are known); κ per
 * cell and over all cells pooled is computed by hand below; a gate on `<check>_kappa` passes and fails (exit codes);
 * an undefined κ fails its gate saying why; a bad label is refused at its row before anything is sent (exit 4);
 * unlabelled rows and choices the check left unscored are kept out of κ (and the latter counted).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, runMain, STACK_LINE } from '../helpers/cli.js';
import { readCsvFile } from '../helpers/csv.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';
import type { Summary } from '../../src/contracts/summary.js';

const tempDir = useTempDirs();
const env = cleanEnv();

// bot0 / bot1: the check's verdict in the cell at temperature 0 / 1 (empty: it gives none, the choice is unscored).
// human: the people's label (empty: nobody labelled the row).
const ROWS = `id,text,human,bot0,bot1
r1,a,pass,pass,pass
r2,b,PASS,pass,pass
r3,c,yes,pass,pass
r4,d,1,pass,fail
r5,e,true,fail,fail
r6,f,fail,fail,fail
r7,g,no,fail,fail
r8,h,0,fail,fail
r9,i,False,pass,
r10,j,,pass,fail
`;
// Cell t0 (rows: label fail, pass; columns: verdict fail, pass): [[3, 1], [1, 4]], n = 9 (r10 unlabelled).
//   p_o = 7/9; both marginals 4/9, 5/9, p_e = 41/81; κ = (63 - 41) / (81 - 41) = 22/40 = 0.55.
// Cell t1: r9 labelled but unscored (counted apart); [[3, 0], [2, 3]], n = 8.
//   p_o = 6/8; label marginals 3/8, 5/8, verdict 5/8, 3/8, p_e = 30/64; κ = (48 - 30) / (64 - 30) = 9/17 = 0.5294.
// Pooled: [[6, 1], [3, 7]], n = 17: p_o = 13/17; marginals 7/17, 10/17 and 9/17, 8/17, p_e = 143/289;
//   κ = (221 - 143) / (289 - 143) = 39/73 = 0.5342.
const KAPPA = { t0: 0.55, t1: 9 / 17, all: 39 / 73 };

const JUDGE_MJS = `
export default function judge({ row, cell }) {
  const v = cell.params.temperature === 0 ? row.bot0 : row.bot1;
  return v === '' ? { pass: null, reason: 'no verdict' } : v === 'pass';
}
`;

function config(extra = '', human = 'human'): string {
  return `name: agreement
dataset: rows.csv
id_column: id
messages:
  - { role: user, content: "grade {{text}}" }
params: { model: gpt-4o-mini, max_tokens: 20 }
grid:
  temperature: [0, 1]
provider: simulator
checks:
  - { name: judge, type: script, module: judge.mjs, human: { column: ${human} } }
${extra}`;
}

async function run(files: Record<string, string>) {
  const dir = await tempDir('evalrun-agreement-');
  await writeTree(dir, { 'rows.csv': ROWS, 'judge.mjs': JUDGE_MJS, ...files });
  const out = join(dir, 'run');
  const cli = await runMain(['run', join(dir, 'evalrun.yaml'), '--out', out], env);
  expect(cli.stderr).not.toMatch(STACK_LINE);
  return { dir, out, cli };
}

describe('agreement with human labels', () => {
  it('κ per cell and pooled, in stats.csv, summary.json, choices.csv, records and the reports; unlabelled rows skipped', async () => {
    const { out, cli } = await run({ 'evalrun.yaml': config() });
    expect(cli.code, cli.stderr).toBe(0);

    const stats = await readCsvFile(join(out, 'stats.csv'));
    const [t0, t1] = stats;
    expect(Number(t0!['judge_kappa'])).toBeCloseTo(KAPPA.t0, 4);
    expect(Number(t1!['judge_kappa'])).toBeCloseTo(KAPPA.t1, 4);
    expect(t0).toMatchObject({ judge_kappa_n: '9', judge_kappa_unscored: '0', judge_agreement: String(Math.round((7 / 9) * 1e4) / 1e4), judge_kappa_note: '' });
    expect(t1).toMatchObject({ judge_kappa_n: '8', judge_kappa_unscored: '1' });
    for (const c of stats) {
      expect(Number(c['judge_kappa_low'])).toBeLessThan(Number(c['judge_kappa']));
      expect(Number(c['judge_kappa_high'])).toBeGreaterThan(Number(c['judge_kappa']));
    }

    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as Summary;
    expect(summary.cells[0]!['judge_kappa']).toBeCloseTo(KAPPA.t0, 4);
    expect(summary.agreement!['judge']).toMatchObject({ scale: 'pass_fail', weights: 'none', kappa_n: 17, kappa_unscored: 1, kappa_note: null });
    expect(summary.agreement!['judge']!.kappa).toBeCloseTo(KAPPA.all, 4);
    expect(summary.agreement!['judge']!.kappa_low).toBeLessThan(KAPPA.all);

    // The label travels with every answered choice: choices.csv and records.jsonl, so reports need no dataset.
    const choices = await readCsvFile(join(out, 'choices.csv'));
    expect(choices.filter((c) => c['cell']!.includes('0')).map((c) => c['judge_human'])).toEqual(['1', '1', '1', '1', '1', '0', '0', '0', '0', '']);
    const records = (await readFile(join(out, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { row_id: string; choices: Array<{ check_human?: Record<string, number | null> }> });
    expect(records.find((r) => r.row_id === 'r10')!.choices[0]!.check_human).toEqual({ judge: null });
    expect(records.find((r) => r.row_id === 'r4')!.choices[0]!.check_human).toEqual({ judge: 1 });

    const md = await readFile(join(out, 'summary.md'), 'utf8');
    expect(md).toContain('judge_kappa');
    expect(md).toContain('0.534');
    // report.html renders its data (an "Agreement with people" section) from the same rows the other reports print.
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain("section('agreement', 'Agreement with people'");
    expect(html).toContain('"text":"0.534 [0.146, 0.923]"');
    expect(cli.stdout + cli.stderr).toMatch(/judge.*κ.*0\.534/);

    // `evalrun report DIR` rebuilds the same figures from the run directory alone (run.json keeps `human`).
    const again = await runMain(['report', out], env);
    expect(again.code, again.stderr).toBe(0);
    const rebuilt = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as Summary;
    expect(rebuilt.agreement).toEqual(summary.agreement);
    expect(rebuilt.cells.map((c) => c['judge_kappa'])).toEqual(summary.cells.map((c) => c['judge_kappa']));
  });

  it('a gate on <check>_kappa: met → exit 0; missed in one cell → exit 1 naming it; pick: accepts it', async () => {
    const met = await run({ 'evalrun.yaml': config('gates:\n  - { metric: judge_kappa, min: 0.5 }\npick: { metric: judge_kappa }\n') });
    expect(met.cli.code, met.cli.stderr).toBe(0);
    const picked = JSON.parse(await readFile(join(met.out, 'summary.json'), 'utf8')) as Summary;
    // t1 agrees with people less (κ 0.529) at no lower cost per row: the frontier keeps t0 alone.
    expect(picked.pick).toMatchObject({ metric: 'judge_kappa', direction: 'higher', frontier: [expect.stringContaining('t0')] });
    expect(met.cli.stdout).toMatch(/κ 0\.550\s+gpt-4o-mini\/t0/);
    const missed = await run({ 'evalrun.yaml': config('gates:\n  - { metric: judge_kappa, min: 0.54 }\n') });
    expect(missed.cli.code).toBe(1);
    const summary = JSON.parse(await readFile(join(missed.out, 'summary.json'), 'utf8')) as Summary;
    expect(summary.gates!.results.map((r) => [r.cell.includes('1') ? 't1' : 't0', r.passed])).toEqual([['t0', true], ['t1', false]]);
    expect(summary.gates!.results[1]!.message).toBe('judge_kappa 0.5294 is below the minimum 0.54');
  });

  it('every label the same: κ undefined (null, with why) and a gate requiring it fails saying so', async () => {
    const rows = ROWS.replace(/^(r\d+,\w,)[^,]*,/gm, '$1pass,');
    const r = await run({ 'rows.csv': rows, 'evalrun.yaml': config('gates:\n  - { metric: judge_kappa, min: 0.2 }\n') });
    expect(r.cli.code).toBe(1);
    const summary = JSON.parse(await readFile(join(r.out, 'summary.json'), 'utf8')) as Summary;
    expect(summary.cells[0]!['judge_kappa']).toBeNull();
    expect(summary.agreement!['judge']!.kappa).toBeNull();
    expect(summary.agreement!['judge']!.kappa_note).toMatch(/every human label is in one category/);
    expect(summary.gates!.results[0]!.message).toMatch(/^judge_kappa is undefined for this cell: every human label is in one category/);
    const stats = await readFile(join(r.out, 'stats.csv'), 'utf8');
    expect(stats).not.toContain('NaN');
  });

  it('a bad label is refused at its row and column before anything is sent (exit 4)', async () => {
    const rows = ROWS.replace('r7,g,no,', 'r7,g,maybe,');
    const r = await run({ 'rows.csv': rows, 'evalrun.yaml': config() });
    expect(r.cli.code).toBe(4);
    expect(r.cli.stderr.split(`${r.dir}/`).join('')).toContain(
      `rows.csv:8 row r7, column 'human': check 'judge': human label "maybe" is not pass, fail, true, false, 1, 0, yes or no (any case); leave the cell empty for a row nobody labelled`,
    );
    expect(existsSync(join(r.out, 'records.jsonl'))).toBe(false);
  });

  it('a missing label column is refused like a missing expected column', async () => {
    const r = await run({ 'evalrun.yaml': config('', 'humn') });
    expect(r.cli.code).toBe(4);
    expect(r.cli.stderr).toMatch(/row r1: check 'judge' reads human labels from column 'humn' \(an empty cell is an unlabelled row\) but this row has no 'humn' \(did you mean 'human'\?\)/);
  });

  it("a misspelt key under human, or labels on the run's schema check, is a config error at its line", async () => {
    const dir = await tempDir('evalrun-agreement-');
    await writeTree(dir, { 'rows.csv': ROWS, 'judge.mjs': JUDGE_MJS, 'evalrun.yaml': config().replace('human: { column: human }', 'human: { colum: human }') });
    const typo = await runMain(['plan', join(dir, 'evalrun.yaml')], env);
    expect(typo.code).toBe(3);
    expect(typo.stderr).toMatch(/evalrun\.yaml:\d+(:\d+)? checks\.0\.human/);
    await writeTree(dir, { 'evalrun.yaml': `${config()}  - { type: json_schema, schema: { type: object }, human: { column: human } }\n` });
    const schema = await runMain(['plan', join(dir, 'evalrun.yaml')], env);
    expect(schema.code).toBe(3);
    expect(schema.stderr).toMatch(/checks\.1\.human: the run's schema check takes no human labels/);
  });

  it('`<check>_kappa` is a metric only for checks with human labels', async () => {
    const dir = await tempDir('evalrun-agreement-');
    await writeTree(dir, { 'rows.csv': ROWS, 'judge.mjs': JUDGE_MJS, 'evalrun.yaml': config('gates:\n  - { metric: judge_kappa, min: 0.5 }\n').replace(', human: { column: human }', '') });
    const r = await runMain(['plan', join(dir, 'evalrun.yaml')], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/unknown metric 'judge_kappa'/);
  });
});
