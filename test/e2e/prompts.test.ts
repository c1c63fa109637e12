/**
 * Prompt variants as a grid axis, and "which to pick", through the CLI (`main()` in-process) on the simulator: two
 * and three variants × a parameter grid, paired comparisons between variants, a variant's missing variable as a
 * located config error, `plan` per variant, and the frontier in stats.csv, summary.json and on the console.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runMain, STACK_LINE, type CliResult } from '../helpers/cli.js';
import { readCsvFile, type CsvRow } from '../helpers/csv.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();

const ROWS = 'id,text,topic\nr1,How do I reset my password?,account\nr2,Why was I charged twice?,billing\nr3,The app crashes on start,bug\n';
const COT = `- role: system
  content: Think step by step, then answer in one line.
- role: user
  content: "Topic {{topic}}: {{text}}"
`;

const TWO = `name: two-prompts
dataset: rows.csv
id_column: id
prompts:
  terse:
    - { role: user, content: "{{text}}" }
  cot: prompts/cot.yaml
params: { model: gpt-4o-mini, n: 2, max_tokens: 40 }
grid:
  prompt: [terse, cot]
  temperature: [0, 1]
provider: simulator
compare:
  baseline: prompt=terse/gpt-4o-mini/t0/n2
  metrics: [stop_rate, latency_mean_ms]
pick:
  metric: stop_rate
  cost: cost_per_1k_rows
  margin: 0.1
`;

interface Summary {
  axes: Array<{ param: string; column: string }>;
  cells: Array<Record<string, unknown>>;
  pick: { metric: string; cost: string; frontier: string[]; best_at_each_price: Array<{ cell: string; metric: number; cost: number }> };
  comparison: { baseline: string; rows: Array<{ cell: string; metric: string; pairs: number }> };
}

describe('two prompt variants × a temperature grid', () => {
  let base = '';
  let dir = '';
  let run: CliResult;
  let choices: CsvRow[] = [];
  let stats: CsvRow[] = [];
  let summary: Summary;
  const ids = ['prompt=terse/gpt-4o-mini/t0/n2', 'prompt=terse/gpt-4o-mini/t1/n2', 'prompt=cot/gpt-4o-mini/t0/n2', 'prompt=cot/gpt-4o-mini/t1/n2'];

  beforeAll(async () => {
    base = await tempDir('evalrun-prompts-');
    await writeTree(base, { 'rows.csv': ROWS, 'prompts/cot.yaml': COT, 'evalrun.yaml': TWO });
    dir = join(base, 'run');
    run = await runMain(['run', join(base, 'evalrun.yaml'), '--out', dir], cleanEnv());
    choices = await readCsvFile(join(dir, 'choices.csv'));
    stats = await readCsvFile(join(dir, 'stats.csv'));
    summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
  }, 60_000);

  it('runs every variant over every parameter cell, with the variant in the cell id and its own column', async () => {
    expect(run.code, run.stderr).toBe(0);
    expect(stats.map((s) => s.cell)).toEqual(ids);
    expect(stats.map((s) => s.prompt)).toEqual(['terse', 'terse', 'cot', 'cot']);
    expect(summary.axes.map((a) => a.column)).toEqual(['prompt', 'temperature']);
    expect(summary.cells.map((c) => c['prompt'])).toEqual(['terse', 'terse', 'cot', 'cot']);
    // 3 rows × 4 cells × n=2, each choice row naming its variant, consistent with its cell.
    expect(choices).toHaveLength(24);
    for (const c of choices) expect(c.cell!.startsWith(`prompt=${c.prompt}/`)).toBe(true);
    const manifest = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8'));
    expect(manifest.plan.cells.map((c: { prompt: string }) => c.prompt)).toEqual(['terse', 'terse', 'cot', 'cot']);
    expect(manifest.plan.cells[0].params).not.toHaveProperty('prompt');
    expect(manifest.prompts.cot[1].content).toBe('Topic {{topic}}: {{text}}');
  });

  it('sends each variant its own rendered messages (plan --show)', async () => {
    const plan = JSON.parse((await runMain(['plan', join(base, 'evalrun.yaml'), '--show', '4', '--json'], cleanEnv())).stdout);
    const shown = plan.requests_shown as Array<{ cell: string; row_id: string; body: { messages: Array<{ role: string; content: string }>; prompt?: unknown } }>;
    expect(shown.map((r) => r.cell)).toEqual(ids);
    expect(shown.every((r) => r.row_id === 'r1')).toBe(true);
    expect(shown[0]!.body.messages).toEqual([{ role: 'user', content: 'How do I reset my password?' }]);
    expect(shown[2]!.body.messages).toEqual([
      { role: 'system', content: 'Think step by step, then answer in one line.' },
      { role: 'user', content: 'Topic account: How do I reset my password?' },
    ]);
    // The variant is evalrun's, never a request parameter.
    expect(shown.some((r) => 'prompt' in r.body)).toBe(false);
    expect(plan.cost.by_prompt.map((p: { prompt: string; cells: number }) => [p.prompt, p.cells])).toEqual([['terse', 2], ['cot', 2]]);
    // cot's prompt is longer: more prompt tokens than terse.
    expect(plan.cost.by_prompt[1].prompt_tokens).toBeGreaterThan(plan.cost.by_prompt[0].prompt_tokens);
  });

  it('compares the variants paired over the same rows', async () => {
    expect(summary.comparison.baseline).toBe('prompt=terse/gpt-4o-mini/t0/n2');
    const cot = summary.comparison.rows.filter((r) => r.cell === 'prompt=cot/gpt-4o-mini/t0/n2');
    expect(cot.map((r) => r.metric).sort()).toEqual(['latency_mean_ms', 'stop_rate']);
    for (const r of cot) expect(r.pairs).toBe(3);
    const csv = await readCsvFile(join(dir, 'comparison.csv'));
    expect(csv.filter((r) => r.cell === 'prompt=cot/gpt-4o-mini/t0/n2' && r.metric === 'stop_rate')[0]?.pairs).toBe('3');
  });

  it('marks the frontier in stats.csv and summary.json, in cost order, and says "best at each price"', () => {
    expect(summary.pick.metric).toBe('stop_rate');
    expect(summary.pick.cost).toBe('cost_per_1k_rows');
    const marked = stats.filter((s) => s.frontier === 'true').map((s) => s.cell);
    expect(marked.length).toBeGreaterThan(0);
    expect([...summary.pick.frontier].sort()).toEqual([...marked].sort());
    expect(stats.every((s) => s.frontier === 'true' || s.frontier === 'false')).toBe(true);
    // No marked cell is beaten on both counts by another cell; every unmarked one is.
    const point = (s: CsvRow) => ({ q: Number(s.stop_rate), c: Number(s.cost_per_1k_rows) });
    for (const s of stats) {
      const me = point(s);
      const beaten = stats.some((o) => o !== s && point(o).q >= me.q && point(o).c <= me.c && (point(o).q > me.q || point(o).c < me.c));
      expect(beaten, s.cell).toBe(s.frontier === 'false');
    }
    const costs = summary.pick.best_at_each_price.map((b) => b.cost);
    expect(costs).toEqual([...costs].sort((a, b) => a - b));
    expect(run.stdout).toMatch(/Best at each price: stop_rate against cost per 1k rows/);
    for (const id of summary.pick.frontier) expect(run.stdout).toContain(id);
  });

  it('recommends a cell, with the test it rests on, in summary.json, the console, summary.md and report.html', async () => {
    const rec = (summary.pick as unknown as { recommended: { cell: string; cost: number; best: { cell: string; cost: number }; alpha: number; margin: number; compared: number; test?: { diff_low: number } } }).recommended;
    expect(ids).toContain(rec.cell);
    // Tested against the best: every cell cheaper than it (only those could be picked instead).
    const cheaper = stats.filter((s) => Number(s.cost_per_1k_rows) < rec.best.cost).length;
    // pick.margin, from the config by way of run.json.
    expect(rec).toMatchObject({ alpha: 0.05, margin: 0.1, compared: cheaper });
    expect(JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')).evaluation.pick).toEqual({ metric: 'stop_rate', cost: 'cost_per_1k_rows', margin: 0.1 });
    expect(rec.cost).toBeLessThanOrEqual(rec.best.cost);
    // A cheaper cell only when the rows show it at most the margin worse (stop_rate: higher is better).
    if (rec.cell !== rec.best.cell) expect(rec.test!.diff_low).toBeGreaterThanOrEqual(-0.1);
    expect(run.stdout).toContain(`Recommended: ${rec.cell}`);
    expect(await readFile(join(dir, 'summary.md'), 'utf8')).toContain(`**Recommended:** ${rec.cell}`);
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html).toContain(`"recommendation":"Recommended: ${rec.cell}`);
    expect(html).toContain('pick-recommended');
  });

  it('rebuilds the same prompt and frontier columns from run.json and records.jsonl (evalrun report)', async () => {
    const again = await runMain(['report', dir], cleanEnv());
    expect(again.code, again.stderr).toBe(0);
    const rebuilt = await readCsvFile(join(dir, 'stats.csv'));
    expect(rebuilt.map((s) => [s.cell, s.prompt, s.frontier])).toEqual(stats.map((s) => [s.cell, s.prompt, s.frontier]));
    const md = await readFile(join(dir, 'summary.md'), 'utf8');
    expect(md).toContain('### Best at each price');
  });

  it('refuses to resume when a variant changed (the run hash covers the prompts)', async () => {
    // Same config file and dataset; only the variant's own file changed (the last test here: it may edit it).
    await writeTree(base, { 'prompts/cot.yaml': COT.replace('step by step', 'carefully') });
    const r = await runMain(['run', join(base, 'evalrun.yaml'), '--out', dir, '--resume'], cleanEnv());
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/config or the dataset changed/);
  });
});

describe('three prompt variants (inline, .json, .txt) × a two-axis grid', () => {
  it('runs all variants by default, and plan shows tokens and cost per variant', async () => {
    const base = await tempDir('evalrun-prompts3-');
    await writeTree(base, {
      'rows.csv': ROWS,
      'prompts/cot.json': JSON.stringify([{ role: 'system', content: 'Think first.' }, { role: 'user', content: '{{topic}}: {{text}}' }]),
      'prompts/plain.txt': 'Question ({{topic}}):\n{{text}}\n',
      'evalrun.yaml': `dataset: rows.csv
id_column: id
prompts:
  terse: [{ role: user, content: "{{text}}" }]
  cot: prompts/cot.json
  plain: prompts/plain.txt
params: { model: gpt-4o-mini, max_tokens: 30 }
grid:
  temperature: [0, 0.7]
  top_p: [1, 0.5]
provider: simulator
`,
    });
    const plan = await runMain(['plan', join(base, 'evalrun.yaml')], cleanEnv());
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/3 rows × 12 cells/);
    expect(plan.stdout).toMatch(/per prompt variant:\n {2}terse: 4 cells, [\d,]+ prompt tokens, \$\S+ prompt, at most \$\S+ in all\n {2}cot: 4 cells/);
    expect(plan.stdout).toMatch(/\n {2}plain: 4 cells/);
    const dir = join(base, 'run');
    const run = await runMain(['run', join(base, 'evalrun.yaml'), '--out', dir, '--quiet'], cleanEnv());
    expect(run.code, run.stderr).toBe(0);
    const stats = await readCsvFile(join(dir, 'stats.csv'));
    expect(stats).toHaveLength(12);
    expect([...new Set(stats.map((s) => s.prompt))]).toEqual(['terse', 'cot', 'plain']);
    expect(stats[8]!.cell).toBe('prompt=plain/gpt-4o-mini/t0/p1');
    const choices = await readCsvFile(join(dir, 'choices.csv'));
    expect(choices).toHaveLength(36);
    const shown = JSON.parse((await runMain(['plan', join(base, 'evalrun.yaml'), '--show', '12', '--json'], cleanEnv())).stdout).requests_shown;
    expect(shown[8].body.messages).toEqual([{ role: 'user', content: 'Question (account):\nHow do I reset my password?' }]);
  }, 60_000);

  it('grid.prompt narrows the variants and sets their order', async () => {
    const base = await tempDir('evalrun-prompts-narrow-');
    await writeTree(base, {
      'rows.csv': ROWS,
      'evalrun.yaml': `dataset: rows.csv
prompts:
  a: [{ role: user, content: "A {{text}}" }]
  b: [{ role: user, content: "B {{text}}" }]
  c: [{ role: user, content: "C {{text}}" }]
params: { model: gpt-4o-mini }
grid: { prompt: [c, a], temperature: [0, 1] }
provider: simulator
`,
    });
    const plan = JSON.parse((await runMain(['plan', join(base, 'evalrun.yaml'), '--json'], cleanEnv())).stdout);
    expect(plan.cells.map((c: { id: string }) => c.id)).toEqual(['prompt=c/gpt-4o-mini/t0', 'prompt=c/gpt-4o-mini/t1', 'prompt=a/gpt-4o-mini/t0', 'prompt=a/gpt-4o-mini/t1']);
    expect(plan.cells.map((c: { prompt: string }) => c.prompt)).toEqual(['c', 'c', 'a', 'a']);
  });
});

describe('bad prompt configs are located config errors (exit 3), before anything is sent', () => {
  const setup = async (files: Record<string, string>) => {
    const base = await tempDir('evalrun-prompts-bad-');
    await writeTree(base, { 'rows.csv': ROWS, ...files });
    const dir = join(base, 'run');
    const r = await runMain(['run', join(base, 'evalrun.yaml'), '--out', dir], cleanEnv());
    return { r, dir };
  };
  const config = (prompts: string, extra = '') => `dataset: rows.csv
id_column: id
prompts:
${prompts}
params: { model: gpt-4o-mini }
provider: simulator
${extra}`;

  it("a variable missing from the rows, in one variant's file, is reported at that file's line", async () => {
    const { r, dir } = await setup({
      'prompts/cot.yaml': `- role: system
  content: Think.
- role: user
  content: |-
    Topic {{topic}}
    Customer: {{customer_name}}
    {{text}}
`,
      'evalrun.yaml': config('  terse: [{ role: user, content: "{{text}}" }]\n  cot: prompts/cot.yaml'),
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/prompts\/cot\.yaml:6 prompts\.cot: prompt 'cot' uses \{\{customer_name\}\}, but row r1 \(\S*rows\.csv:2\) has no 'customer_name' \(it has: id, text, topic\); nor do 2 other rows/);
    expect(r.stderr).not.toMatch(/terse/);
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(existsSync(join(dir, 'records.jsonl'))).toBe(false);
  });

  it('an inline variant with a missing variable is reported at its line in the config', async () => {
    const { r } = await setup({ 'evalrun.yaml': config('  terse: [{ role: user, content: "{{text}}" }]\n  other:\n    - role: user\n      content: "{{nope}}"') });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/evalrun\.yaml:7 prompts\.other: prompt 'other' uses \{\{nope\}\}/);
  });

  it('grid.prompt naming no variant, a prompt file that is missing or malformed, messages and prompts together, an unknown pick metric', async () => {
    const { r } = await setup({
      'prompts/bad.yaml': '- role: robot\n  content: hi\n',
      'evalrun.yaml': `dataset: rows.csv
messages: [{ role: user, content: "{{text}}" }]
prompts:
  a: [{ role: user, content: "{{text}}" }]
  gone: prompts/gone.yaml
  bad: prompts/bad.yaml
params: { model: gpt-4o-mini }
grid: { prompt: [a, b] }
pick: { metric: category_pass_rate, cost: dollars }
provider: simulator
`,
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/evalrun\.yaml:8:\d+ grid\.prompt\.1: no prompt variant 'b' \(did you mean 'a'\?\); variants: a, gone, bad/);
    expect(r.stderr).toMatch(/evalrun\.yaml:5:\d+ prompts\.gone: prompt file not found: \S*gone\.yaml/);
    expect(r.stderr).toMatch(/bad\.yaml:1:\d+ 0\.role: prompt 'bad': role must be one of system, developer, user, assistant/);
    expect(r.stderr).toMatch(/evalrun\.yaml:2:\d+ messages: give either 'messages' \(one template\) or 'prompts'/);
    expect(r.stderr).toMatch(/evalrun\.yaml:9:\d+ pick\.metric: unknown metric 'category_pass_rate'/);
    expect(r.stderr).toMatch(/pick\.cost: unknown cost 'dollars'.*cost_per_1k_rows/);
  });

  it('a pick.margin below 0 is a located config error', async () => {
    const { r } = await setup({ 'evalrun.yaml': `dataset: rows.csv\nmessages: [{ role: user, content: "{{text}}" }]\nparams: { model: gpt-4o-mini }\npick: { margin: -0.1 }\nprovider: simulator\n` });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/evalrun\.yaml:4:\d+ pick\.margin: must be >= 0/);
  });

  it('a variant that is neither a list of messages nor a file says what it must be', async () => {
    const { r } = await setup({
      'prompts/nojson.txt': 'Classify {{text}}',
      'evalrun.yaml': config('  num: 5\n  ok: [{ role: user, content: "Answer in JSON: {{text}}" }]\n  nojson: prompts/nojson.txt', 'grid: { response_format: [{ type: json_object }] }\n'),
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/evalrun\.yaml:4:\d+ prompts\.num: must be a list of messages \(\{ role, content \}\) or a prompt file \(\.yaml, \.json, \.txt, \.md\)/);
  });

  it("a json_object variant that never says 'json' is refused (the API would answer 400 to each request)", async () => {
    const { r } = await setup({
      'prompts/nojson.txt': 'Classify {{text}}',
      'evalrun.yaml': config('  ok: [{ role: user, content: "Answer in JSON: {{text}}" }]\n  nojson: prompts/nojson.txt', 'grid: { response_format: [{ type: json_object }] }\n'),
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/evalrun\.yaml:5:\d+ prompts\.nojson: prompt 'nojson' \(\S*nojson\.txt\): response_format json_object needs the word 'json'/);
    expect(r.stderr).not.toMatch(/prompts\.ok/);
  });

  it('grid.prompt without prompts: says to define them', async () => {
    const { r } = await setup({ 'evalrun.yaml': 'dataset: rows.csv\nmessages: [{ role: user, content: "{{text}}" }]\nparams: { model: gpt-4o-mini }\ngrid: { prompt: [a] }\nprovider: simulator\n' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/evalrun\.yaml:4:\d+ grid\.prompt: 'grid\.prompt' lists prompt variants, but the config has no 'prompts:'/);
  });
});
