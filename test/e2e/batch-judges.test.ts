/**
 * Batch mode with judge checks, through the CLI against the simulator's Files and Batch APIs: the answers go out as
 * batches, then their judge calls as batches of their own (run.json `judge_batch`). The verdicts equal a synchronous
 * run's; every answer and every judge call is computed by the server exactly once (counted on the server side, by
 * custom_id); kill -9 between the answer batches and the judge batches, or Ctrl-C while the judge batches run, then
 * --resume sends only the judge calls (or nothing, polling the live judge batches); judge calls are priced at the
 * batch price.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/simulator/index.js';
import type { BatchSimulatorOptions } from '../../src/simulator/types.js';
import { cleanEnv, runMain } from '../helpers/cli.js';
import { choices, config as batchConfig, manifest, records, spawnRun, waitFor } from '../helpers/batch.js';
import { countLines } from '../helpers/run-process.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const ROWS = 6;
const CELLS = 4;
const ANSWERS = ROWS * CELLS;

const LABELS = ['yes', 'no', 'yes'];
const dataset = () => `${Array.from({ length: ROWS }, (_, i) => JSON.stringify({ id: `r${i}`, text: `ticket ${i}`, label: LABELS[i % LABELS.length] })).join('\n')}\n`;

/**
 * Judge checks: a closed_qa against the row's label, a 1-5 rubric with 3 votes (ids over votes too) and a pairwise
 * one (both orders, against the baseline cell's answer, which a resumed session reads back from records.jsonl).
 */
const CHECKS = `  - { name: qa, type: judge, model: gpt-4.1, preset: closed_qa, pointer: /answer, expected: { column: label } }
  - { name: tone, type: judge, model: gpt-4.1, rubric: "Is the reply polite?", scale: 1-5, votes: 3 }
  - { name: pw, type: judge, model: gpt-4.1, preset: pairwise, pointer: /answer }`;
/** The batch tests' fixture config with judge checks. */
const config = (extra: string, checks = CHECKS) => batchConfig(`checks:\n${checks}\n${extra}`);

const BATCH = 'batch: { poll_s: 0.02, max_requests: 40 }\n';

const sims: RunningSimulator[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
});

/** The simulator's batch clock runs `ahead` ms ahead of the wall clock: a test moves it on to end long batches. */
let ahead = 0;
const simClock = () => Date.now() + ahead;

async function setup(batch: BatchSimulatorOptions = {}, checks = CHECKS): Promise<{ base: string; env: NodeJS.ProcessEnv; sim: RunningSimulator }> {
  const base = await tempDir('evalrun-batch-judges-');
  await writeTree(base, { 'rows.jsonl': dataset(), 'batch.yaml': config(BATCH, checks), 'sync.yaml': config('', checks) });
  const sim = await startSimulator({ seed: 5, batch: { duration_ms: 60, ...batch } }, { now: simClock });
  sims.push(sim);
  return { base, env: cleanEnv({ OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-test' }), sim };
}

/** Runs the simulator's batch clock 50 times faster while `work` runs: slow batches it creates end within ms. */
async function fastForward<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => (ahead += 1000), 20);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** The answers go out in the first two batches (24 requests of two models, ≤ 40 a file); the judge calls after. */
const ANSWER_BATCHES = 2;
const HOUR_MS = 3_600_000;

interface JudgeLine {
  seq: number;
  batch_id?: string;
  error: { code?: string | null; message: string } | null;
  judge: { seq: number; check: string; choice: number; vote: number; order: number };
}
const judgments = async (dir: string): Promise<JudgeLine[]> =>
  (await readFile(join(dir, 'judgments.jsonl'), 'utf8')).split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l) as JudgeLine);

/** The synchronous run of the same config: its choices (verdicts included) and how many judge calls it made. */
let syncRun: Promise<{ choices: string[][]; calls: number; judgeCost: number }> | undefined;
function synchronous(): Promise<{ choices: string[][]; calls: number; judgeCost: number }> {
  syncRun ??= (async () => {
    const { base, env, sim } = await setup();
    const out = join(base, 'sync');
    const r = await runMain(['run', join(base, 'sync.yaml'), '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(sim.stats.completions).toBe(ANSWERS + countLines(join(out, 'judgments.jsonl')));
    return { choices: await choices(out), calls: countLines(join(out, 'judgments.jsonl')), judgeCost: await judgeCost(out) };
  })();
  return syncRun;
}

const judgeCost = async (dir: string) => (JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as { cost: { judges: { cost_usd: number } } }).cost.judges.cost_usd;

/** Every answer (seq-0 … seq-23) and every judge call (its own custom_id, after the answers') computed once. */
function expectComputedOnce(sim: RunningSimulator, calls: number): void {
  const counts = sim.stats.batchComputed;
  expect(Object.entries(counts).filter(([, n]) => n !== 1)).toEqual([]);
  const ids = Object.keys(counts).map((k) => Number(k.slice('seq-'.length)));
  expect(ids.filter((id) => id < ANSWERS)).toHaveLength(ANSWERS);
  expect(ids.filter((id) => id >= ANSWERS)).toHaveLength(calls);
}

describe('batch mode with judges', () => {
  it('answers, then judge batches: the same verdicts as a synchronous run, each call computed once, at the batch price', async () => {
    const sync = await synchronous();
    // Three tone votes an answer, a qa call for each choice with something under /answer, two pairwise orders for
    // each answer of the three cells that are not the baseline.
    expect(sync.calls).toBeGreaterThan(ANSWERS * 3 + ROWS * 3);
    const { base, env, sim } = await setup();
    const out = join(base, 'batch');
    const r = await runMain(['run', join(base, 'batch.yaml'), '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    expect(await choices(out)).toEqual(sync.choices);
    // The verdicts are real ones, not all unscored: some pass and some fail.
    const qa = sync.choices[0]!.indexOf('check_qa');
    expect(sync.choices[0]).toContain('check_qa');
    expect(new Set(sync.choices.slice(1).map((row) => row[qa]))).toEqual(new Set(['true', 'false']));
    expectComputedOnce(sim, sync.calls);
    const m = await manifest(out);
    expect(m.batch!.parts.every((p) => p.state === 'done')).toBe(true);
    expect(m.judge_batch!.parts.length).toBeGreaterThan(0);
    expect(m.judge_batch!.parts.every((p) => p.state === 'done' && p.model === 'gpt-4.1' && p.file.startsWith('batches/'))).toBe(true);
    expect(m.judge_batch!.parts.reduce((n, p) => n + p.requests, 0)).toBe(sync.calls);
    expect(m.judge_batch!.run_id).not.toBe(m.batch!.run_id);
    // Each judge call recorded once, under the answer's seq, with the batch that answered it.
    const lines = await judgments(out);
    expect(lines).toHaveLength(sync.calls);
    expect(lines.every((l) => l.seq === l.judge.seq && l.seq < ANSWERS && l.batch_id?.startsWith('batch_'))).toBe(true);
    expect(new Set(lines.map((l) => JSON.stringify(l.judge))).size).toBe(sync.calls);
    // Judge calls at half the list price (the simulator's usage is deterministic, so the tokens are the same).
    expect(await judgeCost(out)).toBeCloseTo(sync.judgeCost / 2, 5);
    expect(r.stdout).toContain(`Judges: ${sync.calls} calls`);
  }, 60_000);

  it('kill -9 between the answer batches and the judge batches: --resume sends only the judge calls', async () => {
    const sync = await synchronous();
    const { base, env, sim } = await setup();
    const out = join(base, 'killed');
    const run = spawnRun(['run', join(base, 'batch.yaml'), '--out', out], { ...env, EVALRUN_TEST_PAUSE_AT: 'before-judges' });
    await run.until(/evalrun test pause: before-judges/);
    run.child.kill('SIGKILL');
    expect((await run.closed).signal).toBe('SIGKILL');
    // Every answer is recorded, pending its verdicts; no judge call was submitted.
    const before = await records(out);
    expect(before).toHaveLength(ANSWERS);
    expect(before.every((x) => (x as { judging?: string }).judging === 'pending')).toBe(true);
    expect((await manifest(out)).judge_batch).toBeUndefined();
    expect(Object.keys(sim.stats.batchComputed)).toHaveLength(ANSWERS);
    const r = await runMain(['run', join(base, 'batch.yaml'), '--out', out, '--resume', '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(await choices(out)).toEqual(sync.choices);
    expectComputedOnce(sim, sync.calls);
    expect(await judgments(out)).toHaveLength(sync.calls);
  }, 60_000);

  it('Ctrl-C while the judge batches run, then --resume polls them: nothing is submitted again', async () => {
    const sync = await synchronous();
    // The first judge batch runs until the test moves the simulator's clock on, however slow the machine; the
    // answers before it and the judge batches after it finish at once.
    const { base, env, sim } = await setup({ slow: { skip: ANSWER_BATCHES, times: 1, duration_ms: HOUR_MS } });
    const out = join(base, 'interrupted');
    const run = spawnRun(['run', join(base, 'batch.yaml'), '--out', out], env);
    await waitFor(async () => Boolean((await manifest(out).catch(() => undefined))?.judge_batch?.parts.some((p) => p.batch_id)));
    run.child.kill('SIGINT');
    expect((await run.closed).code).toBe(130);
    const m = await manifest(out);
    expect(m.judge_batch!.parts.some((p) => p.state === 'submitted')).toBe(true);
    ahead += HOUR_MS;
    const r = await runMain(['run', join(base, 'batch.yaml'), '--out', out, '--resume', '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(await choices(out)).toEqual(sync.choices);
    expectComputedOnce(sim, sync.calls);
  }, 60_000);

  it('evalrun cancel while the judge batches run cancels them too; the resume sends only the calls they did not run', async () => {
    const sync = await synchronous();
    // The judge batches stay live for the few hundred ms until the cancel lands (cancelling takes a tenth of that);
    // the resume's batches are made to end at once by running the clock fast.
    const { base, env, sim } = await setup({ slow: { skip: ANSWER_BATCHES, duration_ms: 3000 } });
    const out = join(base, 'cancelled');
    const run = spawnRun(['run', join(base, 'batch.yaml'), '--out', out], env);
    await waitFor(async () => Boolean((await manifest(out).catch(() => undefined))?.judge_batch?.parts.some((p) => p.batch_id)));
    run.child.kill('SIGINT');
    expect((await run.closed).code).toBe(130);
    const c = await runMain(['cancel', out], env);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/Cancelling [1-9]\d* live batch/);
    const m = await manifest(out);
    expect(m.judge_batch!.parts.filter((p) => p.batch_id).every((p) => p.state === 'done' && p.status === 'cancelled')).toBe(true);
    const r = await fastForward(runMain(['run', join(base, 'batch.yaml'), '--out', out, '--resume', '--quiet'], env));
    expect(r.code, r.stderr).toBe(0);
    expect(await choices(out)).toEqual(sync.choices);
    expectComputedOnce(sim, sync.calls);
  }, 60_000);

  it('a judge result the provider ran but that cannot be read: recorded as batch_result_lost, the verdict unscored, never resubmitted', async () => {
    // The first three batches lose a line of their output: the two answer parts' and the first judge part's.
    const qaOnly = CHECKS.split('\n')[0]!;
    const { base, env, sim } = await setup({ drop_lines: { times: 3, count: 1 } }, qaOnly);
    const out = join(base, 'lost');
    const r = await runMain(['run', join(base, 'batch.yaml'), '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(1);
    expect(Object.entries(sim.stats.batchSubmitted).filter(([, n]) => n !== 1)).toEqual([]);
    const lost = (await judgments(out)).filter((l) => l.error?.code === 'batch_result_lost');
    expect(lost).toHaveLength(1);
    expect(lost[0]!.error!.message).toMatch(/^batch batch_\w+ \(completed\) ran this request \(it may be billed\) but its answer could not be read/);
    const key = lost[0]!.judge;
    const answer = (await records(out)).filter((x) => x.seq === key.seq).at(-1) as unknown as {
      judging?: string;
      choices: Array<{ index: number; checks: Record<string, boolean | null>; check_reasons?: Record<string, string> }>;
    };
    expect(answer.judging).toBeUndefined();
    const choice = answer.choices.find((c) => c.index === key.choice)!;
    expect(choice.checks['qa']).toBeNull();
    expect(choice.check_reasons?.['qa']).toBeTruthy();
    // A resume has nothing to send: the lost call is recorded (paid for), resent only by --retry-errors.
    const before = Object.keys(sim.stats.batchSubmitted).length;
    const again = await runMain(['run', join(base, 'batch.yaml'), '--out', out, '--resume', '--quiet'], env);
    expect(again.code).toBe(1);
    expect(Object.keys(sim.stats.batchSubmitted).length).toBe(before);
  }, 60_000);
});
