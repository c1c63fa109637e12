/**
 * The spend limit through the CLI, checked from the server's side: the simulator counts the usage it answered 200
 * (`stats.served`, batch lines apart) and the test prices it with the price table. Whatever the run does
 * (synchronous, batch, a server that 500s and 429s), what the server served never costs more than the budget; the
 * stop says so with exit code 8; a resume with a higher budget sends the rest, each request once.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { billedCostUsd, priceFor } from '../../src/contracts/prices.js';
import { cleanEnv, runMain, STACK_LINE } from '../helpers/cli.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';
import { choice, completion, startShapeServer } from '../helpers/shape-server.js';
import { manifest } from '../helpers/batch.js';

const tempDir = useTempDirs();
const ROWS = 20;
const CELLS = 4;
const REQUESTS = ROWS * CELLS;

const config = (extra = '') => `name: budgeted
dataset: rows.jsonl
id_column: id
messages:
  - { role: system, content: "Reply with a json object with a label." }
  - { role: user, content: "{{text}}" }
params: { max_tokens: 300, response_format: { type: json_object } }
grid: { model: [gpt-4o-mini, gpt-4.1-mini], temperature: [0, 1] }
retry: { max_attempts: 6, max_wait_s: 0.05 }
concurrency: 4
gates:
  - { metric: error_rate, max: 0.5 }
${extra}`;

/** A judge check on every answer, its verdict bounded (a judge's worst case needs a max_tokens). */
const JUDGE = `checks:
  - { name: right, type: judge, model: gpt-4.1, rubric: "Is the label sensible?", params: { max_tokens: 100 } }`;

const rows = (n: number) => `${Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, text: `item ${i} ${'words '.repeat(i % 7)}` })).join('\n')}\n`;

let sims: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
});

async function setup(simOptions: SimulatorOptions = {}, extra = '') {
  const base = await tempDir('evalrun-budget-');
  await writeTree(base, { 'evalrun.yaml': config(extra), 'rows.jsonl': rows(ROWS) });
  const sim = await startSimulator({ seed: 3, ...simOptions });
  sims.push(sim);
  return { cfg: join(base, 'evalrun.yaml'), out: join(base, 'run'), env: cleanEnv({ OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-test' }), sim };
}

/** What the server served, priced with the price table (batch lines at the Batch API's half price). */
function servedUsd(sim: RunningSimulator): number {
  let total = 0;
  for (const [model, billed] of Object.entries(sim.stats.served)) total += billedCostUsd(priceFor(model), billed)!;
  return total;
}

/** The plan's worst case for the whole run, from `plan --json` (the budget's own rule). */
async function worstCase(cfg: string, env: NodeJS.ProcessEnv, flags: string[] = []): Promise<{ worst_case_usd: number; requests_fit: number; fits: boolean }> {
  const r = await runMain(['plan', cfg, '--json', '--max-cost', '1000', ...flags], env);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { budget: { worst_case_usd: number; requests_fit: number; fits: boolean } }).budget;
}

async function recordSeqs(out: string): Promise<number[]> {
  const text = await readFile(join(out, 'records.jsonl'), 'utf8');
  return text.split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { seq: number }).seq);
}

const summary = async (out: string) => JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { complete: boolean; gates?: { status: string }; recorded: { requests: number } };

describe('budget_usd / --max-cost', () => {
  it('synchronous: the server never serves more than the budget; the stop exits 8 with what was spent; a resume with a higher budget sends the rest once', async () => {
    const { cfg, out, env, sim } = await setup();
    const { worst_case_usd: worst } = await worstCase(cfg, env);
    // Answers are far shorter than max_tokens: a budget of three requests' worst case holds about half the run.
    const budget = Number((worst * 0.035).toPrecision(3));
    const r = await runMain(['run', cfg, '--out', out, '--max-cost', String(budget)], env);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.stderr).toMatch(new RegExp(`Stopped by the budget of \\$${String(budget).replace('.', '\\.')}[^:]*: \\$[0-9.]+ spent`));
    expect(r.stderr).toMatch(/could cost up to \$[0-9.]+, more than the \$[0-9.]+ left/);
    expect(r.stderr).toMatch(/--resume --max-cost/);
    // The progress line shows spent / budget.
    expect(r.stderr).toMatch(new RegExp(`spent \\$[0-9.e-]+ / \\$${String(budget).replace('.', '\\.')}`));
    const spent = servedUsd(sim);
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(budget);
    // Stopped, not complete: fewer records than the plan, the gates not judged.
    const m = await manifest(out);
    expect(m.status).toBe('stopped');
    expect(m.exit_code).toBe(8);
    expect(m.budget).toMatchObject({ limit_usd: budget, stopped: true });
    expect(m.budget!.reason).toMatch(/^Stopped by the budget/);
    // What the run recorded as spent is what the server served.
    expect(m.budget!.spent_usd).toBeCloseTo(spent, 6);
    const s = await summary(out);
    expect(s.complete).toBe(false);
    expect(s.gates?.status).toBe('not_judged');
    const first = await recordSeqs(out);
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThan(REQUESTS);
    expect(sim.stats.completions).toBe(first.length);

    // The same budget again: what records.jsonl spent counts, so (almost) nothing more fits.
    const again = await runMain(['run', cfg, '--out', out, '--resume', '--max-cost', String(budget), '--quiet'], env);
    expect(again.code, again.stderr).toBe(8);
    expect(servedUsd(sim)).toBeLessThanOrEqual(budget);

    const more = worst * 2;
    const done = await runMain(['run', cfg, '--out', out, '--resume', '--max-cost', String(more), '--quiet'], env);
    expect(done.code, done.stderr).toBe(0);
    const seqs = await recordSeqs(out);
    expect(new Set(seqs).size).toBe(REQUESTS);
    expect(seqs.length).toBe(REQUESTS);
    // Every request served exactly once, counted by the server.
    expect(sim.stats.completions).toBe(REQUESTS);
    expect(servedUsd(sim)).toBeLessThanOrEqual(more);
    expect((await manifest(out)).status).toBe('complete');
  }, 60_000);

  it('with retries (a server that answers 500 and 429 to some attempts): still never past the budget', async () => {
    const { cfg, out, env, sim } = await setup({ faults: { server_error: 0.25, rate_limit: 0.15 } });
    const { worst_case_usd: worst } = await worstCase(cfg, env);
    const budget = Number((worst * 0.035).toPrecision(3));
    const r = await runMain(['run', cfg, '--out', out, '--max-cost', String(budget), '--quiet'], env);
    expect(r.code, r.stderr).toBe(8);
    expect((sim.stats.faults['server_error'] ?? 0) + (sim.stats.faults['rate_limit'] ?? 0)).toBeGreaterThan(0);
    expect(servedUsd(sim)).toBeLessThanOrEqual(budget);
    const done = await runMain(['run', cfg, '--out', out, '--resume', '--max-cost', String(worst * 2), '--quiet'], env);
    expect([0, 1], done.stderr).toContain(done.code);
    // Only answers are billed, and each request was answered once.
    expect(sim.stats.completions).toBe(new Set(await recordSeqs(out)).size);
    expect(servedUsd(sim)).toBeLessThanOrEqual(worst * 2);
  }, 60_000);

  it('batch with retries (lines answered 500 and 429 are submitted again under the reservation they hold): never past the budget', async () => {
    const { cfg, out, env, sim } = await setup({ batch: { duration_ms: 20, faults: { server_error: 0.25, rate_limit: 0.15 } } }, 'batch: { poll_s: 0.02, max_requests: 10 }\n');
    const { worst_case_usd: worst } = await worstCase(cfg, env);
    const budget = Number((worst * 0.45).toPrecision(3));
    const r = await runMain(['run', cfg, '--out', out, '--max-cost', String(budget), '--quiet'], env);
    expect(r.code, r.stderr).toBe(8);
    // Some lines failed and were computed again.
    expect(Object.values(sim.stats.batchComputed).some((c) => c > 1)).toBe(true);
    expect(servedUsd(sim)).toBeLessThanOrEqual(budget);
    const done = await runMain(['run', cfg, '--out', out, '--resume', '--max-cost', String(worst * 2), '--quiet'], env);
    expect([0, 1], done.stderr).toContain(done.code);
    expect(servedUsd(sim)).toBeLessThanOrEqual(worst * 2);
  }, 60_000);

  it('batch: lines are reserved as a part is built; the server serves no more than the budget at batch prices; resume completes, each line computed once', async () => {
    const { cfg, out, env, sim } = await setup({ batch: { duration_ms: 50 } }, 'batch: { poll_s: 0.02, max_requests: 10 }\n');
    const plan = await worstCase(cfg, env);
    const budget = Number((plan.worst_case_usd * 0.45).toPrecision(3));
    const fit = await runMain(['plan', cfg, '--max-cost', String(budget)], env);
    expect(fit.stdout).toMatch(/budget: \$[0-9.]+; the worst case, \$[0-9.]+ for 80 requests, does not fit: the first \d+ requests fit/);
    const r = await runMain(['run', cfg, '--out', out, '--max-cost', String(budget), '--quiet'], env);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toMatch(/Stopped by the budget/);
    expect(Object.values(sim.stats.served).some((b) => b.batch.prompt > 0)).toBe(true);
    expect(servedUsd(sim)).toBeLessThanOrEqual(budget);
    const first = await recordSeqs(out);
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThan(REQUESTS);
    const done = await runMain(['run', cfg, '--out', out, '--resume', '--max-cost', String(plan.worst_case_usd * 2), '--quiet'], env);
    expect(done.code, done.stderr).toBe(0);
    expect(new Set(await recordSeqs(out)).size).toBe(REQUESTS);
    const computed = Object.values(sim.stats.batchComputed);
    expect(computed.length).toBe(REQUESTS);
    expect(computed.every((c) => c === 1)).toBe(true);
  }, 60_000);

  it('an answer without usage (the server does not say what it billed) is counted at its worst case', async () => {
    const server = await startShapeServer(() => ({ body: Object.assign(completion([choice(0, 'ok')]), { usage: undefined }) }));
    try {
      const base = await tempDir('evalrun-budget-nousage-');
      await writeTree(base, {
        'evalrun.yaml': ['name: nousage', 'dataset: rows.jsonl', 'id_column: id', 'messages:', '  - { role: user, content: "{{text}}" }', 'params: { model: gpt-4o-mini, max_tokens: 1000 }', 'concurrency: 1', `provider:\n  base_url: ${server.url}`].join('\n'),
        'rows.jsonl': rows(10),
      });
      const cfg = join(base, 'evalrun.yaml');
      const env = cleanEnv({ OPENAI_API_KEY: 'sk-test' });
      const { worst_case_usd: worst } = await worstCase(cfg, env);
      // Room for three and a half requests at their worst case: were a usage-less answer counted as free, all ten would go.
      const r = await runMain(['run', cfg, '--out', join(base, 'run'), '--quiet', '--max-cost', String((worst / 10) * 3.5)], env);
      expect(r.code, r.stderr).toBe(8);
      expect(server.requests.length).toBe(3);
    } finally {
      await server.close();
    }
  }, 30_000);

  it('shards: each shard gets the budget given to its own process, and merge keeps none', async () => {
    const { cfg, out, env, sim } = await setup();
    const { worst_case_usd: worst } = await worstCase(cfg, env);
    const budget = Number((worst * 0.035).toPrecision(3));
    const first = await runMain(['run', cfg, '--shard', '1/2', '--out', `${out}-1`, '--max-cost', String(budget), '--quiet'], env);
    expect(first.code, first.stderr).toBe(8);
    const afterFirst = servedUsd(sim);
    expect(afterFirst).toBeLessThanOrEqual(budget);
    // The second shard's directory has spent nothing: it gets the whole budget again, not what the first left.
    const second = await runMain(['run', cfg, '--shard', '2/2', '--out', `${out}-2`, '--max-cost', String(budget), '--quiet'], env);
    expect(second.code, second.stderr).toBe(8);
    expect(servedUsd(sim) - afterFirst).toBeLessThanOrEqual(budget);
    // What the first shard left is less than one request's worst case (else it would have sent more): with a shared
    // budget the second could send nothing.
    expect((await recordSeqs(`${out}-2`)).length).toBeGreaterThan(0);
    for (const [i, dir] of [`${out}-1`, `${out}-2`].entries()) {
      const r = await runMain(['run', cfg, '--shard', `${i + 1}/2`, '--out', dir, '--resume', '--max-cost', String(worst), '--quiet'], env);
      expect(r.code, r.stderr).toBe(0);
    }
    const merged = await runMain(['merge', `${out}-1`, `${out}-2`, '--out', `${out}-merged`], env);
    expect(merged.code, merged.stderr).toBe(0);
    expect((await manifest(`${out}-merged`)).budget).toBeUndefined();
    expect(sim.stats.completions).toBe(REQUESTS);
  }, 60_000);

  it('plan says whether the worst case fits', async () => {
    const { cfg, env } = await setup();
    const { worst_case_usd: worst, fits } = await worstCase(cfg, env);
    expect(fits).toBe(true);
    const yes = await runMain(['plan', cfg, '--max-cost', String(worst * 1.01)], env);
    expect(yes.stdout).toMatch(/budget: \$[0-9.]+; the worst case, \$[0-9.]+ for 80 requests, fits\n/);
    const no = await runMain(['plan', cfg, '--max-cost', String(worst / 4)], env);
    const m = /does not fit: the first (\d+) requests fit/.exec(no.stdout);
    expect(m, no.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![1])).toBeLessThan(REQUESTS / 4 + 2);
  }, 30_000);

  it('a model with no price under a budget is a config error before anything is sent; pricing: makes it one', async () => {
    const base = await tempDir('evalrun-budget-unpriced-');
    await writeTree(base, { 'evalrun.yaml': config('budget_usd: 1\n').replace('[gpt-4o-mini, gpt-4.1-mini]', '[gpt-4o-mini, my-llama]'), 'rows.jsonl': rows(3) });
    const sim = await startSimulator({ seed: 3, models: ['gpt-4o-mini', 'my-llama'] });
    sims.push(sim);
    const env = cleanEnv({ OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-test' });
    const out = join(base, 'run');
    const r = await runMain(['run', join(base, 'evalrun.yaml'), '--out', out], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/evalrun\.yaml:\d+:\d+ budget_usd: budget_usd needs every model's price, and model 'my-llama' has none: add it under 'pricing:'/);
    expect(sim.stats.requests).toBe(0);
    expect(existsSync(out)).toBe(false);
    // --max-cost alone (no budget_usd in the config) is refused the same way.
    await writeTree(base, { 'plain.yaml': config().replace('[gpt-4o-mini, gpt-4.1-mini]', '[my-llama]') });
    const flag = await runMain(['run', join(base, 'plain.yaml'), '--out', out, '--max-cost', '2'], env);
    expect(flag.code).toBe(3);
    expect(flag.stderr).toMatch(/--max-cost needs every model's price, and model 'my-llama' has none/);
    expect(sim.stats.requests).toBe(0);
    // Priced in the config: accepted, and run within it.
    await writeTree(base, { 'priced.yaml': `${config('budget_usd: 1\npricing: { my-llama: { input: 1, output: 2 } }\n').replace('[gpt-4o-mini, gpt-4.1-mini]', '[gpt-4o-mini, my-llama]')}` });
    const ok = await runMain(['run', join(base, 'priced.yaml'), '--out', out, '--quiet'], env);
    expect(ok.code, ok.stderr).toBe(0);
  }, 30_000);

  it('with a judge check: answers and judge calls together never cost more than the budget, and a resume sends each judge call once', async () => {
    const { cfg, out, env, sim } = await setup({}, JUDGE);
    const { worst_case_usd: worst } = await worstCase(cfg, env);
    // The judge (gpt-4.1) costs ~13 times an answer: room for a few of its calls at their worst case, and well short
    // of the answers' own worst case.
    const budget = 0.01;
    expect(budget).toBeLessThan(worst);
    const r = await runMain(['run', cfg, '--out', out, '--max-cost', String(budget), '--quiet'], env);
    expect(r.code, r.stderr).toBe(8);
    // The judge's model was served too, and everything served is within the budget.
    expect(sim.stats.served['gpt-4.1'], r.stderr + JSON.stringify(sim.stats.served)).toBeDefined();
    expect(servedUsd(sim)).toBeLessThanOrEqual(budget);
    const judgedFirst = (await readFile(join(out, 'judgments.jsonl'), 'utf8')).trim().split('\n').length;
    expect(judgedFirst).toBeGreaterThan(0);

    // Spent is read back from records.jsonl and judgments.jsonl (a judged answer's two lines counted once): the
    // same budget again sends (almost) nothing and stays within it.
    const again = await runMain(['run', cfg, '--out', out, '--resume', '--max-cost', String(budget), '--quiet'], env);
    expect(again.code, again.stderr).toBe(8);
    expect(servedUsd(sim)).toBeLessThanOrEqual(budget);

    const more = 1;
    const done = await runMain(['run', cfg, '--out', out, '--resume', '--max-cost', String(more), '--quiet'], env);
    expect(done.code, done.stderr).toBe(0);
    expect(servedUsd(sim)).toBeLessThanOrEqual(more);
    const judgments = (await readFile(join(out, 'judgments.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { judge: { hash: string; seq: number; choice: number } });
    // One judge call per answered choice, each sent once: the server's count of judge-model requests agrees.
    expect(new Set(judgments.map((j) => `${j.judge.seq}/${j.judge.choice}`)).size).toBe(judgments.length);
    expect(judgments.length).toBe(REQUESTS);
    expect(sim.stats.completions).toBe(REQUESTS * 2);
  }, 60_000);

  it('batch with a judge check: judge batch parts reserve from the same budget at batch prices; a resume sends each judge call once', async () => {
    const batch = 'batch: { poll_s: 0.02, max_requests: 10 }\n';
    const { cfg, out, env, sim } = await setup({ batch: { duration_ms: 50 } }, `${batch}${JUDGE}`);
    // plan's worst case is the answers' (judge calls are reserved as they are sent): room for every answer and
    // $0.02 of judge calls, about a quarter of them at their worst case (~$0.0008 each at batch prices).
    const { worst_case_usd: answersWorst } = await worstCase(cfg, env);
    const budget = Number((answersWorst + 0.02).toPrecision(3));
    const r = await runMain(['run', cfg, '--out', out, '--max-cost', String(budget), '--quiet'], env);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toMatch(/Stopped by the budget/);
    // Every answer went, and judge batch lines too, but not all: the judge parts stopped at the budget.
    expect(new Set(await recordSeqs(out)).size).toBe(REQUESTS);
    expect(sim.stats.served['gpt-4.1']!.batch.prompt).toBeGreaterThan(0);
    const judgedFirst = (await readFile(join(out, 'judgments.jsonl'), 'utf8')).trim().split('\n').length;
    expect(judgedFirst).toBeGreaterThan(0);
    expect(judgedFirst).toBeLessThan(REQUESTS);
    expect(servedUsd(sim)).toBeLessThanOrEqual(budget);

    const done = await runMain(['run', cfg, '--out', out, '--resume', '--max-cost', '1', '--quiet'], env);
    expect(done.code, done.stderr).toBe(0);
    const judgments = (await readFile(join(out, 'judgments.jsonl'), 'utf8')).trim().split('\n');
    expect(judgments).toHaveLength(REQUESTS);
    // Each answer and each judge call computed once (the judge calls' custom_ids come after the answers').
    const computed = Object.values(sim.stats.batchComputed);
    expect(computed).toHaveLength(REQUESTS * 2);
    expect(computed.every((c) => c === 1)).toBe(true);
  }, 60_000);

  it('regrade with a changed judge: its judge calls stay within the budget with what the run spent; the stop rewrites nothing, and a higher budget sends each call once', async () => {
    const { cfg, out, env, sim } = await setup({}, JUDGE);
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    const runSpent = servedUsd(sim);
    const before = await readFile(join(out, 'records.jsonl'), 'utf8');
    const reports = await readFile(join(out, 'summary.json'), 'utf8');
    // A new rubric: every verdict must be asked for again. Room beside what the run spent for a few calls only.
    await writeTree(join(out, '..'), { 'evalrun.yaml': config(JUDGE.replace('Is the label sensible?', 'Is the label right?')) });
    const budget = Number((runSpent + 0.004).toPrecision(4));
    const stopped = await runMain(['regrade', out, '--max-cost', String(budget)], env);
    expect(stopped.code, stopped.stderr).toBe(8);
    expect(stopped.stderr).toMatch(/Stopped by the budget of \$[\d.]+: \$[\d.]+ spent/);
    expect(stopped.stderr).toContain('nothing was rewritten');
    expect(stopped.stderr).toContain('--max-cost');
    expect(stopped.stderr).not.toMatch(STACK_LINE);
    // The run and the regrade together: never more than the budget, as the server counts it.
    expect(servedUsd(sim)).toBeLessThanOrEqual(budget);
    const sentFirst = sim.stats.completions - REQUESTS * 2;
    expect(sentFirst).toBeGreaterThan(0);
    expect(sentFirst).toBeLessThan(REQUESTS);
    expect(await readFile(join(out, 'records.jsonl'), 'utf8')).toBe(before);
    expect(await readFile(join(out, 'summary.json'), 'utf8')).toBe(reports);

    const done = await runMain(['regrade', out, '--max-cost', '1'], env);
    expect(done.code, done.stderr).toBe(0);
    // The calls the stopped regrade made were read back: each new verdict was asked for once in all.
    expect(sim.stats.completions - REQUESTS * 2).toBe(REQUESTS);
    expect(servedUsd(sim)).toBeLessThanOrEqual(1);
    expect((await manifest(out)).budget).toMatchObject({ limit_usd: 1, stopped: false });
    expect((await manifest(out)).budget!.spent_usd).toBeCloseTo(servedUsd(sim), 4);
  }, 60_000);

  it('--max-cost that is not an amount above 0 is a usage error (exit 2) for run, plan and regrade; nothing is sent', async () => {
    const { cfg, out, env, sim } = await setup();
    for (const [args, value] of [[['run', cfg, '--out', out], '0'], [['plan', cfg], '-1'], [['regrade', out], '0']] as const) {
      const r = await runMain([...args, '--max-cost', value], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`--max-cost must be an amount in USD above 0 (got ${value})`);
    }
    expect(sim.stats.requests).toBe(0);
    expect(existsSync(out)).toBe(false);
  });
});
