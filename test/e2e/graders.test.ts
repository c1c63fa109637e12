/**
 * Graders beyond shape, through the CLI against a loopback server that answers what the test scripts: the tolerant
 * checks (number, set_equals, similarity) and script checks on passing, failing and unscored choices; script checks
 * that throw, return garbage or loop forever; score means, intervals and the paired comparison computed by hand; a
 * gate and `pick:` on a score; and `regrade`, which changes the outputs sending nothing and refuses other requests.
 */
import { existsSync } from 'node:fs';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runMain, STACK_LINE, type CliResult } from '../helpers/cli.js';
import { readCsvFile } from '../helpers/csv.js';
import { choice, completion, startShapeServer, type ShapeServer } from '../helpers/shape-server.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const env = cleanEnv({ OPENAI_API_KEY: 'sk-test-graders' });
const J = (o: unknown) => JSON.stringify(o);

// Each choice's script score `q`, by temperature (the cell), row and choice index. null: a filtered answer (no content).
const Q: Record<string, Record<string, Array<number | null>>> = {
  '0': { r1: [0.5, 1.0], r2: [0.2, 0.4], r3: [1.0, 1.0], r4: [0.0, 0.6] },
  '1': { r1: [1.0, 1.0], r2: [0.8, 0.6], r3: [1.0, 0.8], r4: [0.4, null] },
};
// What each row's answers hold besides q (the same in every choice).
const BODY: Record<string, { total: number; items: unknown[]; summary: string }> = {
  r1: { total: 12.505, items: [{ sku: 'B', qty: 1 }, { sku: 'A' }], summary: 'refund the duplicate charge' },
  r2: { total: 7.5, items: [{ sku: 'A' }], summary: 'sitting' },
  r3: { total: 3, items: [], summary: 'anything' },
  r4: { total: 100, items: [], summary: 'fine' },
};
const DATASET = `id,text,total,items,ref
r1,first,12.50,"[{""sku"":""A""},{""sku"":""B""}]",refund the duplicate charge
r2,second,7,"[{""sku"":""A""},{""sku"":""B""}]",kitten
r3,third,abc,not a list,anything
r4,fourth,100,[],fine
`;

const CHECKS_MJS = `
export default function quality({ json }) {
  if (!json || typeof json.q !== 'number') return { pass: null, reason: 'no q in the answer' };
  return json.q;
}
export function throws() { throw new Error('boom'); }
export function garbage() { return 'yes please'; }
export function loops() { for (;;) {} }
export function undecided() { return { pass: null, reason: 'cannot tell' }; }
export async function later({ json }) { await new Promise((r) => setTimeout(r, 5)); return { pass: true, score: 0.25, reason: 'slow but sure' }; }
`;

function answer(temperature: number, rowId: string, n: number) {
  const choices = [];
  for (let i = 0; i < n; i++) {
    const q = Q[String(temperature)]![rowId]![i];
    if (q === null) choices.push({ index: i, message: { role: 'assistant', content: null, refusal: null }, finish_reason: 'content_filter', logprobs: null });
    else choices.push(choice(i, J({ q: q ?? 1, ...BODY[rowId] })));
  }
  return completion(choices);
}

function config(server: ShapeServer, extra: { checks?: string; grid?: string; more?: string } = {}): string {
  return `name: graders
dataset: rows.csv
id_column: id
messages:
  - { role: user, content: "row {{id}}: {{text}}" }
params: { model: shape-model, max_tokens: 50 }
grid:
  temperature: ${extra.grid ?? '[0, 1]'}
  n: [2]
provider: { base_url: ${server.url} }
retry: { max_attempts: 1 }
checks:
${
  extra.checks ??
  `  - { name: quality, type: script, module: checks.mjs }
  - { name: total_ok, type: number, pointer: /total, expected: { column: total }, tolerance: 0.01 }
  - { name: items_match, type: set_equals, pointer: /items, expected: { column: items }, key: sku }
  - { name: summary_close, type: similarity, pointer: /summary, expected: { column: ref }, min: 0.8 }`
}
${extra.more ?? ''}`;
}

const rowIdOf = (prompt: string) => /^row (r\d)/.exec(prompt)![1]!;

let server: ShapeServer;
let base = '';
let run: CliResult;
let choices: Array<Record<string, string>>;
let stats: Array<Record<string, string>>;
let summary: Record<string, any>;

beforeAll(async () => {
  server = await startShapeServer((req) => ({ body: answer(Number(req.body['temperature']), rowIdOf(req.prompt), Number(req.body.n ?? 1)) }));
  base = await tempDir('evalrun-graders-');
  await writeTree(base, {
    'rows.csv': DATASET,
    'checks.mjs': CHECKS_MJS,
    'evalrun.yaml': config(server, {
      more: `gates:
  - { metric: quality_score_mean, min: 0.7 }
pick: { metric: quality_score_mean, cost: tokens_per_1k_rows }`,
    }),
  });
  run = await runMain(['run', join(base, 'evalrun.yaml'), '--out', join(base, 'run'), '--quiet'], env);
  choices = await readCsvFile(join(base, 'run', 'choices.csv'));
  stats = await readCsvFile(join(base, 'run', 'stats.csv'));
  summary = JSON.parse(await readFile(join(base, 'run', 'summary.json'), 'utf8'));
}, 60_000);
afterAll(() => server.close());

// Each cell's scores (Q, the unscored choice left out), their mean and 95% t-interval (t quantiles 0.975 for 7 and 6
// degrees of freedom), kept within [0, 1].
const interval = (xs: number[], t: number) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return { mean, low: Math.max(0, mean - (t * sd) / Math.sqrt(xs.length)), high: Math.min(1, mean + (t * sd) / Math.sqrt(xs.length)) };
};
const BY_HAND = {
  t0: interval([0.5, 1.0, 0.2, 0.4, 1.0, 1.0, 0.0, 0.6], 2.364624252),
  t1: interval([1.0, 1.0, 0.8, 0.6, 1.0, 0.8, 0.4], 2.446911851),
};

const row = (cell: string, rowId: string, i: number) => choices.find((c) => c['cell']!.includes(`/t${cell}/`) && c['row_id'] === rowId && c['choice_index'] === String(i))!;

describe('tolerant checks', () => {
  it('number: within the tolerance passes, outside fails with a reason, an expected value that is not a number is unscored', () => {
    expect(row('0', 'r1', 0)).toMatchObject({ check_total_ok: 'true', total_ok_score: '1', total_ok_reason: '' });
    expect(row('0', 'r2', 0)).toMatchObject({ check_total_ok: 'false', total_ok_score: '0', total_ok_reason: 'got 7.5, expected 7 (±0.01)' });
    expect(row('0', 'r3', 1)).toMatchObject({ check_total_ok: '', total_ok_score: '', total_ok_reason: 'expected value "abc" is not a number' });
    expect(row('1', 'r4', 1)).toMatchObject({ check_total_ok: '', total_ok_score: '', total_ok_reason: 'no content to grade' });
  });

  it('set_equals: objects compared by key as sets, the Jaccard score and what is missing; a non-list expected value is unscored', () => {
    expect(row('0', 'r1', 0)).toMatchObject({ check_items_match: 'true', items_match_score: '1' });
    expect(row('0', 'r2', 0)).toMatchObject({ check_items_match: 'false', items_match_score: '0.5', items_match_reason: 'missing "B"' });
    expect(row('0', 'r3', 0)).toMatchObject({ check_items_match: '', items_match_reason: 'expected value "not a list" is not a list' });
    expect(row('0', 'r4', 0)).toMatchObject({ check_items_match: 'true', items_match_score: '1' });
  });

  it('similarity: normalised edit distance, passing at min; a choice with no content is unscored', () => {
    expect(row('1', 'r1', 0)).toMatchObject({ check_summary_close: 'true', summary_close_score: '1' });
    // kitten → sitting: 3 edits over 7 characters.
    expect(Number(row('0', 'r2', 1)['summary_close_score'])).toBeCloseTo(1 - 3 / 7, 6);
    expect(row('0', 'r2', 1)).toMatchObject({ check_summary_close: 'false', summary_close_reason: 'similarity 0.571 < 0.8' });
    expect(row('1', 'r4', 1)).toMatchObject({ check_summary_close: '', summary_close_score: '', summary_close_reason: 'no content to grade' });
  });
});

describe('script checks and score statistics', () => {
  it('a number the function returns is the score, passing at 0.5; a choice with nothing to judge is unscored with the reason', () => {
    expect(row('0', 'r1', 0)).toMatchObject({ check_quality: 'true', quality_score: '0.5' });
    expect(row('0', 'r2', 0)).toMatchObject({ check_quality: 'false', quality_score: '0.2' });
    expect(row('1', 'r4', 1)).toMatchObject({ check_quality: '', quality_score: '', quality_reason: 'no content to grade' });
  });

  it('score means with a 95% t-interval, and the unscored rate, per cell (by hand)', () => {
    const cells = [
      { s: stats.find((c) => c['cell']!.includes('/t0/'))!, want: BY_HAND.t0, unscored: 0 },
      { s: stats.find((c) => c['cell']!.includes('/t1/'))!, want: BY_HAND.t1, unscored: 1 },
    ];
    for (const { s, want, unscored } of cells) {
      expect(Number(s['quality_score_mean'])).toBeCloseTo(want.mean, 4);
      expect(Number(s['quality_score_mean_low'])).toBeCloseTo(want.low, 4);
      expect(Number(s['quality_score_mean_high'])).toBeCloseTo(want.high, 4);
      expect(s['quality_answered']).toBe('8');
      expect(s['quality_unscored']).toBe(String(unscored));
      expect(Number(s['quality_unscored_rate'])).toBeCloseTo(unscored / 8, 6);
    }
    expect(summary['scored_checks']).toEqual(['quality', 'total_ok', 'items_match', 'summary_close']);
  });

  it('scores compare between cells paired over rows: sign-flip test on the per-row means, as computed by hand', async () => {
    const comparison = await readCsvFile(join(base, 'run', 'comparison.csv'));
    const r = comparison.find((c) => c['metric'] === 'quality_score_mean')!;
    expect(r).toBeDefined();
    // Per-row means (t0 → t1): r1 0.75 → 1, r2 0.3 → 0.7, r3 1 → 0.9, r4 0.3 → 0.4 (its unscored choice left out).
    const diffs = [0.25, 0.4, -0.1, 0.1];
    const observed = Math.abs(diffs.reduce((a, b) => a + b, 0));
    let extreme = 0;
    for (let signs = 0; signs < 16; signs++) {
      const s = diffs.reduce((a, d, i) => a + (signs & (1 << i) ? -d : d), 0);
      if (Math.abs(s) >= observed - 1e-9) extreme++;
    }
    const mean = diffs.reduce((a, b) => a + b, 0) / 4;
    expect(r['pairs']).toBe('4');
    expect(Number(r['diff'])).toBeCloseTo(mean, 4);
    expect(Number(r['p_value'])).toBeCloseTo(extreme / 16, 4);
    // The interval inverts the same test at α = 0.05 (one comparison, so Holm leaves α alone): with 4 pairs the
    // smallest p any shift can get is 2/16 = 0.125 > 0.05, so no shift is rejected and the interval is the whole
    // range a difference of scores in [0, 1] can take.
    expect(2 / 16).toBeGreaterThan(0.05);
    expect(Number(r['diff_low'])).toBe(-1);
    expect(Number(r['diff_high'])).toBe(1);
    expect(r['change']).toBe('same');
    expect(r['method']).toMatch(/^sign-flip-/);
  });

  it('a gate on a score metric fails the cell below it (exit 1), and pick: weighs cells by their mean score', () => {
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/FAIL {2}quality_score_mean >= 0\.7 {2}shape-model\/t0\/n2: quality_score_mean 0\.5875 is below the minimum 0\.7/);
    expect(run.stdout).not.toMatch(/FAIL .*t1\/n2/);
    expect(summary['pick']).toMatchObject({ metric: 'quality_score_mean', direction: 'higher', frontier: ['shape-model/t1/n2'] });
  });
});

describe('scores in the reports a user reads', () => {
  // The t-intervals computed by hand (BY_HAND) as the reports show them: summary.json's four decimals, shown to three.
  const shown = (v: number) => Number(v.toFixed(4)).toFixed(3);
  const three = (x: { mean: number; low: number; high: number }) => ({ mean: shown(x.mean), low: shown(x.low), high: shown(x.high) });
  const t0 = three(BY_HAND.t0);
  const t1 = three(BY_HAND.t1);

  it('summary.md: each scored check has its mean score with the 95% interval and its unscored rate, beside its pass rate', async () => {
    const md = await readFile(join(base, 'run', 'summary.md'), 'utf8');
    const rows = md.split('\n').filter((l) => l.startsWith('| '));
    const header = rows[0]!.split(' | ').map((h) => h.replace(/^\| |\s*\|$/g, ''));
    const at = header.indexOf('quality');
    expect(header.slice(at, at + 3)).toEqual(['quality', 'quality score', 'quality unscored']);
    for (const c of ['total_ok', 'items_match', 'summary_close']) expect(header).toEqual(expect.arrayContaining([`${c} score`, `${c} unscored`]));
    const cellsOf = (cell: string) => rows.find((l) => l.startsWith(`| shape-model/${cell}`))!.split(' | ');
    expect(cellsOf('t0/n2')[at + 1]).toBe(`${t0.mean} (${t0.low}–${t0.high})`);
    expect(cellsOf('t0/n2')[at + 2]).toBe('0.0%');
    expect(cellsOf('t1/n2')[at + 1]).toBe(`${t1.mean} (${t1.low}–${t1.high})`);
    expect(cellsOf('t1/n2')[at + 2]).toBe('12.5%');
  });

  it('the console table: each scored check has its mean score and unscored rate', () => {
    const lines = run.stdout.split('\n');
    const head = lines.find((l) => l.startsWith('cell '))!.split(/\s+/);
    const line = (cell: string) => lines.find((l) => l.startsWith(`shape-model/${cell} `))!.split(/\s+/);
    expect(head).toEqual(expect.arrayContaining(['quality_score', 'quality_unscored', 'summary_close_score', 'summary_close_unscored']));
    expect(line('t0/n2')[head.indexOf('quality_score')]).toBe(t0.mean);
    expect(line('t0/n2')[head.indexOf('quality_unscored')]).toBe('0.0%');
    expect(line('t1/n2')[head.indexOf('quality_score')]).toBe(t1.mean);
    expect(line('t1/n2')[head.indexOf('quality_unscored')]).toBe('12.5%');
  });

  it("report.html's data: a scored check's mean score (with its interval) and unscored rate among the cells table's metrics, after its pass rate", async () => {
    const html = await readFile(join(base, 'run', 'report.html'), 'utf8');
    const data = JSON.parse(/<script type="application\/json" id="evalrun-data">([\s\S]*?)<\/script>/.exec(html)![1]!);
    const names = data.metrics.map((m: { name: string }) => m.name);
    const at = names.indexOf('quality_pass_rate');
    expect(names.slice(at, at + 3)).toEqual(['quality_pass_rate', 'quality_score_mean', 'quality_unscored_rate']);
    expect(data.metrics[at + 1]).toMatchObject({ kind: 'score', direction: 'higher' });
    const cell = (id: string) => data.cells.find((c: { id: string }) => c.id === `shape-model/${id}`);
    expect(cell('t0/n2').rates['quality_score_mean']).toMatchObject({ n: 8, mean: 0.5875 });
    expect(cell('t0/n2').rates['quality_score_mean'].low).toBeCloseTo(BY_HAND.t0.low, 4);
    expect(cell('t0/n2').rates['quality_score_mean'].high).toBeCloseTo(BY_HAND.t0.high, 4);
    expect(cell('t1/n2').rates['quality_score_mean']).toMatchObject({ n: 7, mean: 0.8 });
    expect(cell('t1/n2').rates['quality_unscored_rate']).toMatchObject({ k: 1, n: 8 });
  });
});

describe('script checks that misbehave', () => {
  it('one that throws, one that returns garbage and one that loops forever: the run completes, those choices unscored with reasons, the event loop never blocked', async () => {
    const dir = await tempDir('evalrun-graders-bad-');
    const checks = `  - { name: boom, type: script, module: checks.mjs, export: throws }
  - { name: junk, type: script, module: checks.mjs, export: garbage }
  - { name: stuck, type: script, module: checks.mjs, export: loops, timeout_ms: 1500 }
  - { name: slow, type: script, module: checks.mjs, export: later }
  - { name: unsure, type: script, module: checks.mjs, export: undecided }`;
    // One row, one choice: the stuck call is ended once, at its own 1.5 s (its thread is replaced), and the four other
    // checks of its batch are still graded; a second choice would only add another 1.5 s.
    const oneChoice = config(server, { checks, grid: '[0]' }).replace('n: [2]', 'n: [1]');
    await writeTree(dir, { 'rows.csv': DATASET.split('\n').slice(0, 2).join('\n'), 'checks.mjs': CHECKS_MJS, 'evalrun.yaml': oneChoice });
    let last = performance.now();
    let longest = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 10);
    let cli: CliResult;
    try {
      cli = await runMain(['run', join(dir, 'evalrun.yaml'), '--out', join(dir, 'run'), '--quiet'], env);
    } finally {
      clearInterval(ticker);
    }
    expect(cli.code, cli.stderr).toBe(0);
    const rows = await readCsvFile(join(dir, 'run', 'choices.csv'));
    expect(rows).toHaveLength(1);
    const answered = rows.filter((r) => r['finish_reason'] === 'stop');
    expect(answered).toHaveLength(1);
    for (const r of answered) {
      expect(r).toMatchObject({ check_boom: '', boom_score: '', boom_reason: 'threw Error: boom' });
      expect(r).toMatchObject({ check_junk: '', junk_score: '' });
      expect(r['junk_reason']).toBe('returned "yes please": not a boolean, a number in [0, 1], or { pass, score, reason }');
      expect(r).toMatchObject({ check_stuck: '', stuck_score: '', stuck_reason: 'timed out after 1500 ms' });
      expect(r).toMatchObject({ check_slow: 'true', slow_score: '0.25', slow_reason: 'slow but sure' });
      expect(r).toMatchObject({ check_unsure: '', unsure_score: '', unsure_reason: 'cannot tell' });
    }
    // The stuck check ran 1.5 s at a time in a worker thread: this thread's timers kept firing all along (on the
    // main thread, even a check cut off at its limit would have stopped them for 1.5 s at a time).
    expect(longest).toBeLessThan(1000);
    const s = (await readCsvFile(join(dir, 'run', 'stats.csv')))[0]!;
    expect(s['stuck_unscored_rate']).toBe('1');
    expect(s['slow_score_mean']).toBe('0.25');
  }, 60_000);

  it('a missing module or export is a config error at its line (exit 3), before anything is sent', async () => {
    const dir = await tempDir('evalrun-graders-missing-');
    const sent = server.requests.length;
    const checks = `  - { name: a, type: script, module: checks.mjs, export: nosuch }
  - { name: b, type: script, module: gone.mjs }`;
    await writeTree(dir, { 'rows.csv': DATASET, 'checks.mjs': CHECKS_MJS, 'evalrun.yaml': config(server, { checks }) });
    const cli = await runMain(['run', join(dir, 'evalrun.yaml'), '--out', join(dir, 'run')], env);
    expect(cli.code).toBe(3);
    const lineOf = (text: string, what: string) => text.split('\n').findIndex((l) => l.includes(what)) + 1;
    const yaml = await readFile(join(dir, 'evalrun.yaml'), 'utf8');
    expect(cli.stderr).toMatch(new RegExp(`evalrun\\.yaml:${lineOf(yaml, 'gone.mjs')}:\\d+ checks\\.1\\.module: module not found: .*gone\\.mjs`));
    await writeFile(join(dir, 'evalrun.yaml'), config(server, { checks: checks.split('\n')[0]! }));
    const missingExport = await runMain(['run', join(dir, 'evalrun.yaml'), '--out', join(dir, 'run')], env);
    expect(missingExport.code).toBe(3);
    expect(missingExport.stderr).toMatch(new RegExp(`evalrun\\.yaml:${lineOf(yaml, 'nosuch')}:\\d+ checks\\.0\\.export: script`));
    expect(missingExport.stderr).toMatch(/checks\.0\.export: script check 'a': the module has no function export 'nosuch' \(it exports 'default', 'garbage', 'later', 'loops', 'throws', 'undecided'\)/);
    expect(missingExport.stderr).not.toMatch(STACK_LINE);
    const plan = await runMain(['plan', join(dir, 'evalrun.yaml')], env);
    expect(plan.code).toBe(3);
    expect(plan.stderr).toContain("the module has no function export 'nosuch'");
    expect(server.requests.length).toBe(sent);
    expect(existsSync(join(dir, 'run'))).toBe(false);
  });
});

describe('regrade', () => {
  it('after changing a check, rewrites the outputs from the recorded answers with zero requests to the server', async () => {
    const dir = join(base, 'regraded');
    await cp(join(base, 'run'), dir, { recursive: true });
    const before = await readCsvFile(join(dir, 'choices.csv'));
    expect(before.find((r) => r['row_id'] === 'r2' && r['cell']!.includes('/t0/'))!['check_summary_close']).toBe('false');
    const changed = join(base, 'changed.yaml');
    await writeFile(changed, (await readFile(join(base, 'evalrun.yaml'), 'utf8')).replace('expected: { column: ref }, min: 0.8', 'expected: { column: ref }, min: 0.5'));
    const sent = server.requests.length;
    const cli = await runMain(['regrade', dir, '--config', changed], env);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(1); // the score gate still fails the t0 cell
    expect(cli.stdout).toContain('Regraded 8 recorded requests');
    expect(server.requests.length).toBe(sent);
    const after = await readCsvFile(join(dir, 'choices.csv'));
    expect(after.find((r) => r['row_id'] === 'r2' && r['cell']!.includes('/t0/'))!['check_summary_close']).toBe('true');
    expect(after.map((r) => r['content'])).toEqual(before.map((r) => r['content']));
    const records = (await readFile(join(dir, 'records.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(records).toHaveLength(8);
    expect(records.find((r) => r.row_id === 'r2' && r.cell.includes('/t0/')).choices[1].checks.summary_close).toBe(true);
    const manifest = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8'));
    expect(manifest.config_file).toBe(changed);
    expect(manifest.regrades).toHaveLength(1);
    // The regraded run is whole again: `evalrun report` rebuilds the same files from it.
    const stats = await readFile(join(dir, 'stats.csv'), 'utf8');
    expect((await runMain(['report', dir], env)).code).toBe(1);
    expect(await readFile(join(dir, 'stats.csv'), 'utf8')).toBe(stats);
    expect((await readdir(dir)).filter((f) => f.startsWith('regrade.'))).toEqual([]);
  });

  it('a check removed from the config leaves nothing of it behind, and no API key is needed', async () => {
    const dir = join(base, 'removed');
    await cp(join(base, 'run'), dir, { recursive: true });
    const fewer = join(base, 'fewer.yaml');
    await writeFile(fewer, config(server, { checks: '  - { name: total_ok, type: number, pointer: /total, expected: { column: total }, tolerance: 0.01 }' }));
    const sent = server.requests.length;
    const cli = await runMain(['regrade', dir, '--config', fewer], cleanEnv({}));
    expect(cli.code, cli.stderr).toBe(0);
    expect(server.requests.length).toBe(sent);
    const header = (await readFile(join(dir, 'choices.csv'), 'utf8')).split('\n')[0]!.split(',');
    expect(header).toEqual(expect.arrayContaining(['check_total_ok', 'total_ok_score', 'total_ok_reason']));
    expect(header.filter((h) => /quality|items_match|summary_close/.test(h))).toEqual([]);
    const records = (await readFile(join(dir, 'records.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    for (const c of records.flatMap((r) => r.choices)) {
      expect(Object.keys(c.checks)).toEqual(['total_ok']);
      expect(Object.keys(c.check_scores)).toEqual(['total_ok']);
      expect(Object.keys(c.check_reasons ?? {}).filter((k) => k !== 'total_ok')).toEqual([]);
    }
    expect(JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'))).toMatchObject({ checks: ['total_ok'], scored_checks: ['total_ok'] });
  });

  it('refuses a config whose requests differ, naming the difference, and changes nothing', async () => {
    const dir = join(base, 'refused');
    await cp(join(base, 'run'), dir, { recursive: true });
    const other = join(base, 'other.yaml');
    await writeFile(other, (await readFile(join(base, 'evalrun.yaml'), 'utf8')).replace('temperature: [0, 1]', 'temperature: [0, 0.5]'));
    const files = ['records.jsonl', 'run.json', 'choices.csv', 'stats.csv', 'summary.json'];
    const before = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
    const sent = server.requests.length;
    const cli = await runMain(['regrade', dir, '--config', other], env);
    expect(cli.code).toBe(6);
    expect(cli.stderr).toContain('its requests differ from the run');
    expect(cli.stderr).toMatch(/cell 2 is shape-model\/t0\.5\/n2 in the config but shape-model\/t1\/n2 in the run/);
    expect(cli.stderr).not.toMatch(STACK_LINE);
    expect(server.requests.length).toBe(sent);
    expect(await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).toEqual(before);
  });

  it('leaves the original outputs intact when it fails before the new ones are complete', async () => {
    const dir = join(base, 'torn');
    await cp(join(base, 'run'), dir, { recursive: true });
    const lines = (await readFile(join(dir, 'records.jsonl'), 'utf8')).trimEnd().split('\n');
    // A record in the middle that is not JSON (its head intact, so the index accepts it): found only while grading.
    lines[5] = `${lines[5]!.slice(0, 40)}#corrupt`;
    await writeFile(join(dir, 'records.jsonl'), `${lines.join('\n')}\n`);
    const files = ['records.jsonl', 'run.json', 'choices.csv', 'stats.csv', 'summary.json', 'report.html'];
    const before = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
    const cli = await runMain(['regrade', dir], env);
    expect(cli.code).toBe(6);
    expect(cli.stderr).toMatch(/is not valid JSON/);
    expect(await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).toEqual(before);
    expect((await readdir(dir)).filter((f) => f.startsWith('regrade.'))).toEqual([]);
  });
});
