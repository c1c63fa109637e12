/**
 * Gates and the reports for CI, through the CLI (`main()` in-process) on the simulator: a failing gate exits 1 with
 * a failing testcase in a junit.xml an XML parser accepts; a passing run exits 0; checks grade every choice;
 * `evalrun report` rebuilds every file; summary.md goes to $GITHUB_STEP_SUMMARY; plan estimates tokens and cost.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, ROOT, runMain, STACK_LINE, type CliResult } from '../helpers/cli.js';
import { readCsvFile, parseCsv } from '../helpers/csv.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const DEMO = join(ROOT, 'datasets/demo');

const config = (gates: string) => `name: triage-gates
dataset: ${join(DEMO, 'tickets.csv')}
id_column: ticket_id
messages:
  - role: system
    content: Triage the ticket. Answer with a JSON object with category, priority, summary and needs_human.
  - role: user
    content: "{{subject}}: {{body}}"
params:
  max_tokens: 200
  response_format: { type: json_object }
grid:
  model: [gpt-4o-mini, gpt-4.1-mini]
  temperature: [0, 1.9]
  n: [2]
schema: ${join(DEMO, 'triage.schema.json')}
provider: simulator
checks:
  - { name: category_matches, type: equals, pointer: /category, expected: { column: label } }
  - { name: summary_sentence, type: regex, pointer: /summary, pattern: "^\\\\S.{2,79}$" }
${gates}`;

const FAILING = `gates:
  - { metric: schema_valid_rate, min: 0.9 }
  - { metric: length_rate, max: 0.02, cell: "gpt-4o-mini/*" }
`;
const PASSING = `gates:
  - { metric: schema_valid_rate, min: 0.9, cell: "*/t0/*" }
  - { metric: error_rate, max: 0.05, bound: low }
`;

let base = '';
let files: Record<string, string> = {};
const runs: Record<'failing' | 'passing', { cli: CliResult; dir: string }> = {} as never;
let stepSummary = '';

beforeAll(async () => {
  base = await tempDir('evalrun-gates-');
  files = await writeTree(base, { 'failing.yaml': config(FAILING), 'passing.yaml': config(PASSING), 'step-summary.md': '# earlier step\n' });
  stepSummary = files['step-summary.md']!;
  await Promise.all(
    (['failing', 'passing'] as const).map(async (name) => {
      const dir = join(base, name);
      const env = name === 'passing' ? cleanEnv({ GITHUB_STEP_SUMMARY: stepSummary }) : cleanEnv();
      runs[name] = { cli: await runMain(['run', files[`${name}.yaml`]!, '--out', dir, '--quiet'], env), dir };
    }),
  );
}, 60_000);

function parseJunit(xml: string) {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => n === 'testsuite' || n === 'testcase' }).parse(xml);
  return doc.testsuites as { tests: string; failures: string; testsuite: Array<{ name: string; tests: string; failures: string; testcase: Array<{ name: string; failure?: { message: string } }> }> };
}

describe('gates', () => {
  it('a failing gate gives exit 1, prints each failing gate × cell, and each gate that held as one line', () => {
    const { cli } = runs.failing;
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stdout).toMatch(/Gates: \d+ of 6 gate × cell checks failed \(exit code 1\)/);
    expect(cli.stdout).toMatch(/FAIL {2}schema_valid_rate >= 0\.9 {2}gpt-4o-mini\/t1\.9\/n2: schema_valid_rate 0\.\d{4} is below the minimum 0\.9/);
    expect(cli.stdout).not.toMatch(/FAIL .*gpt-4o-mini\/t0\/n2/);
    expect(cli.stdout).toMatch(/^ {2}pass {2}length_rate <= 0\.02 \[gpt-4o-mini\/\*\] {2}\(2 cells\)$/m);
    expect(cli.stderr).toContain('gate checks failed (see junit.xml); exit code 1');
    expect(cli.stderr).not.toMatch(STACK_LINE);
  });

  it('writes a junit.xml an XML parser accepts, with the failing gate × cell as a failing testcase', async () => {
    const xml = await readFile(join(runs.failing.dir, 'junit.xml'), 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    const junit = parseJunit(xml);
    const schemaSuite = junit.testsuite.find((s) => s.name === 'gate: schema_valid_rate >= 0.9')!;
    expect(schemaSuite.tests).toBe('4');
    const failing = schemaSuite.testcase.filter((t) => t.failure).map((t) => t.name);
    expect(failing).toContain('schema_valid_rate >= 0.9 :: gpt-4o-mini/t1.9/n2');
    expect(failing).not.toContain('schema_valid_rate >= 0.9 :: gpt-4o-mini/t0/n2');
    expect(schemaSuite.testcase.find((t) => t.failure)!.failure!.message).toMatch(/is below the minimum 0\.9/);
    expect(junit.testsuite.find((s) => s.name === 'gate: length_rate <= 0.02 [gpt-4o-mini/*]')!.tests).toBe('2');
    const summary = JSON.parse(await readFile(join(runs.failing.dir, 'summary.json'), 'utf8'));
    expect(Number(junit.failures)).toBe(summary.gates.failed);
    expect(JSON.parse(await readFile(join(runs.failing.dir, 'run.json'), 'utf8')).exit_code).toBe(1);
  });

  it('a run whose gates all pass exits 0, with no failure in junit.xml', async () => {
    const { cli, dir } = runs.passing;
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('Gates: all 6 gate × cell checks passed');
    const junit = parseJunit(await readFile(join(dir, 'junit.xml'), 'utf8'));
    expect(junit.failures).toBe('0');
    expect(junit.tests).toBe('8'); // 6 gate × cell cases + the run's own 2
  });

  it('an unknown gate metric is a config error (exit 3) at its line with a did-you-mean, and nothing is run', async () => {
    const file = join(base, 'typo.yaml');
    await writeFile(file, config('gates:\n  - { metric: schema_valid, min: 0.9 }\n'));
    const r = await runMain(['run', file, '--out', join(base, 'typo')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${file}:22:15 `);
    expect(r.stderr).toContain("gates.0.metric: unknown metric 'schema_valid' (did you mean 'schema_valid_rate'?)");
    expect(existsSync(join(base, 'typo'))).toBe(false);
  });
});

describe('checks', () => {
  it('grade every choice into choices.csv (check_<name>) and a pass rate with interval per cell', async () => {
    const choices = await readCsvFile(join(runs.passing.dir, 'choices.csv'));
    const stats = await readCsvFile(join(runs.passing.dir, 'stats.csv'));
    const labels = new Map(parseCsv(await readFile(join(DEMO, 'tickets.csv'), 'utf8')).map((r) => [r['ticket_id']!, r['label']!]));
    let graded = 0;
    for (const c of choices) {
      const v = c['check_category_matches'];
      if (c['finish_reason'] === 'content_filter' || c['finish_reason'] === 'error') {
        expect(v).toBe('');
        continue;
      }
      graded++;
      let parsed: { category?: unknown } | undefined;
      try {
        parsed = JSON.parse(c['content']!);
      } catch {
        parsed = undefined;
      }
      expect(v, `${c['cell']} ${c['row_id']} #${c['choice_index']}`).toBe(String(parsed?.category === labels.get(c['row_id']!)));
    }
    expect(graded).toBeGreaterThan(250); // every choice of n, not only the first
    expect(choices.some((c) => c['choice_index'] === '1' && c['check_category_matches'] === 'true')).toBe(true);
    for (const s of stats) {
      const mine = choices.filter((c) => c['cell'] === s['cell'] && c['check_category_matches'] !== '');
      const pass = mine.filter((c) => c['check_category_matches'] === 'true').length;
      expect(s['category_matches_checked']).toBe(String(mine.length));
      expect(s['category_matches_pass']).toBe(String(pass));
      expect(Number(s['category_matches_pass_rate'])).toBeCloseTo(pass / mine.length, 10);
      // Wilson 95%, computed independently.
      const n = mine.length;
      const p = pass / n;
      const z = 1.959963984540054;
      const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
      const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
      expect(Number(s['category_matches_pass_rate_low'])).toBeCloseTo(Math.max(0, centre - half), 4);
      expect(Number(s['category_matches_pass_rate_high'])).toBeCloseTo(Math.min(1, centre + half), 4);
      expect(Number(s['schema_valid_rate_low'])).toBeLessThanOrEqual(Number(s['schema_valid_rate']));
      expect(s['summary_sentence_pass_rate']).not.toBe('');
    }
  });
});

describe('reports', () => {
  it('summary.md is a compact table with the gates, and is appended to $GITHUB_STEP_SUMMARY', async () => {
    const md = await readFile(join(runs.passing.dir, 'summary.md'), 'utf8');
    expect(md).toMatch(/^## evalrun: triage-gates — ✅ all 6 gate checks passed/);
    expect(md).toContain('| cell | choices | schema ok | json ok | category_matches | summary_sentence | length | error | p50 ms | cost |');
    expect(md.split('\n').filter((l) => /^\| gpt-/.test(l))).toHaveLength(4);
    // Passing gates collapse to one line per gate, not one per gate × cell.
    expect(md.split('\n').filter((l) => l.startsWith('| ✅ | '))).toEqual([
      '| ✅ | schema_valid_rate >= 0.9 [*/t0/*] | all 2 cells | passed in every one |',
      '| ✅ | error_rate &lt;= 0.05 (on the 95% low bound) | all 4 cells | passed in every one |',
    ]);
    const failing = await readFile(join(runs.failing.dir, 'summary.md'), 'utf8');
    const summary = JSON.parse(await readFile(join(runs.failing.dir, 'summary.json'), 'utf8'));
    const failed = summary.gates.results.filter((r: { passed: boolean }) => !r.passed);
    expect(failed.length).toBeGreaterThan(0);
    expect(failing).toContain(`❌ ${failed.length} of ${summary.gates.results.length} gate checks failed`);
    // Every failure keeps its own line; the cells where a gate passed share one.
    expect(failing.split('\n').filter((l) => l.startsWith('| ❌ | '))).toHaveLength(failed.length);
    const gatesWithPasses = new Set(summary.gates.results.filter((r: { passed: boolean }) => r.passed).map((r: { gate: string }) => r.gate));
    expect(failing.split('\n').filter((l) => l.startsWith('| ✅ | '))).toHaveLength(gatesWithPasses.size);
    const appended = await readFile(stepSummary, 'utf8');
    expect(appended.startsWith('# earlier step\n')).toBe(true);
    expect(appended).toContain(md);
    expect(runs.passing.cli.stdout).toContain('Appended summary.md to $GITHUB_STEP_SUMMARY');
  });

  it('summary.json and the terminal show the actual tokens and cost from usage', async () => {
    const summary = JSON.parse(await readFile(join(runs.passing.dir, 'summary.json'), 'utf8'));
    expect(summary.cost.billed_prompt_tokens).toBe(summary.totals.prompt_tokens);
    expect(summary.cost.billed_completion_tokens).toBe(summary.totals.completion_tokens);
    const mini = summary.cost.by_model.find((m: { model: string }) => m.model === 'gpt-4o-mini');
    expect(mini.cost_usd).toBeCloseTo((mini.prompt_tokens * 0.15 + mini.completion_tokens * 0.6) / 1e6, 6);
    expect(summary.cost.cost_usd).toBeGreaterThan(0);
    expect(summary.cost.simulated).toBe(true);
    expect(runs.passing.cli.stdout).toMatch(/Tokens: [\d,]+ prompt \+ [\d,]+ completion · cost \$0\.\d+ at prices as of \d{4}-\d{2}-\d{2}; simulator: nothing was billed/);
  });

  it('evalrun report rebuilds every report from run.json and records.jsonl, with the same verdict', async () => {
    const dir = runs.failing.dir;
    const names = ['choices.csv', 'stats.csv', 'summary.json', 'comparison.csv', 'junit.xml', 'summary.md'];
    const before = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n), 'utf8')])));
    await Promise.all([...names, 'report.html'].map((n) => rm(join(dir, n))));
    const r = await runMain(['report', dir]);
    expect(r.code, r.stderr).toBe(1);
    for (const n of names) expect(await readFile(join(dir, n), 'utf8'), n).toBe(before[n]);
    expect(await readFile(join(dir, 'report.html'), 'utf8')).toContain('id="evalrun-data"');
    expect(r.stdout).toContain('comparison.csv, junit.xml, summary.md, report.html');
  });
});

describe('evalrun plan', () => {
  it('estimates prompt tokens with the tokenizer, completion tokens bounded by max_tokens × n, and cost', async () => {
    const r = await runMain(['plan', files['passing.yaml']!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/gpt-4o-mini\/t0\/n2 +2 +36 +72 +[\d,]+ +14,400 +\$0\.\d+/);
    expect(r.stdout).toMatch(/cost: \$[\d.]+ prompt, at most \$[\d.]+ in all \(list prices as of \d{4}-\d{2}-\d{2}/);
    const json = JSON.parse((await runMain(['plan', files['passing.yaml']!, '--json'])).stdout);
    expect(json.cost.cells).toHaveLength(4);
    expect(json.cost.cells[0].max_completion_tokens).toBe(200 * 2 * 36);
    expect(json.cost.prompt_tokens).toBeGreaterThan(36 * 4 * 20);
    const summary = JSON.parse(await readFile(join(runs.passing.dir, 'summary.json'), 'utf8'));
    // The simulator counts ~4 characters a token; a real BPE lands in the same range.
    expect(json.cost.prompt_tokens / summary.totals.prompt_tokens).toBeGreaterThan(0.5);
    expect(json.cost.prompt_tokens / summary.totals.prompt_tokens).toBeLessThan(2);
  });

  it('shows an unknown model as unknown cost, not $0', async () => {
    const file = join(base, 'local.yaml');
    await writeFile(file, config('').replace('model: [gpt-4o-mini, gpt-4.1-mini]', 'model: [my-local-llama]'));
    const r = await runMain(['plan', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('unknown');
    expect(r.stdout).toContain("no price for my-local-llama: its cost is unknown; add it under 'pricing:'");
    expect(r.stdout).not.toMatch(/\$0(\s|$)/m);
  });
});
